/* probe.c - which io_uring features the running kernel offers, named as EVRING_IOURING_DISABLE
 * names them, so that tests/kernels/run-suite runs each io_uring mode this kernel has and no
 * mask that would only hide something the kernel lacks anyway.
 *
 * Prints "features:" followed by the names present, e.g.
 *   features: iouring submit_all coop_taskrun defer_taskrun cqe_skip cancel_any register
 * "iouring" alone means a ring can be set up; the rest are asked one by one the way the
 * library relies on them (setup flags accepted, opcode supported, feature bit set). A second
 * line, "cancel_any_answer: N", is the kernel's answer to a cancel-any with nothing to
 * cancel. */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

#define OP_EPOLL_WAIT 59 /* IORING_OP_EPOLL_WAIT, Linux 6.15 */

static int setup_ok(unsigned int flags)
{
  struct io_uring ring;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = flags;
  if (io_uring_queue_init_params(4, &ring, &p) < 0)
    return 0;
  io_uring_queue_exit(&ring);
  return 1;
}

int main(void)
{
  struct io_uring ring;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int r = io_uring_queue_init_params(4, &ring, &p);
  if (r < 0) {
    printf("features: (io_uring_setup: %s)\n", strerror(-r));
    return 0;
  }
  printf("features: iouring");

  struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
  if (pr && io_uring_opcode_supported(pr, IORING_OP_EPOLL_CTL) &&
      io_uring_opcode_supported(pr, OP_EPOLL_WAIT))
    printf(" epoll_wait");
  if (pr)
    io_uring_free_probe(pr);

  if (setup_ok(IORING_SETUP_SUBMIT_ALL))
    printf(" submit_all");
  if (setup_ok(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG))
    printf(" coop_taskrun");
  if (setup_ok(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN))
    printf(" defer_taskrun");
  if (p.features & IORING_FEAT_CQE_SKIP)
    printf(" cqe_skip");

  /* IORING_ASYNC_CANCEL_ANY (5.19): with nothing to cancel the kernel answers with the number
   * cancelled, 0 (seen on 6.1 and 6.18), not -ENOENT; a kernel that does not know the flag
   * says -EINVAL (Debian's 5.10). */
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  struct io_uring_cqe *cqe = NULL;
  int cancel_answer = 1;
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0 && cqe) {
    cancel_answer = cqe->res;
    if (cqe->res >= 0 || cqe->res == -ENOENT)
      printf(" cancel_any");
    io_uring_cqe_seen(&ring, cqe);
  }

  if (io_uring_register_ring_fd(&ring) == 1)
    printf(" register");
  io_uring_queue_exit(&ring);
  printf("\ncancel_any_answer: %d\n", cancel_answer);
  return 0;
}
