/* uring_fdtypes.c - what io_uring poll does with each fd type on the running kernel.
 *
 *   cc -O2 -o /tmp/uring_fdtypes tools/experiments/uring_fdtypes.c -luring && /tmp/uring_fdtypes
 *
 * (a) one-shot IORING_OP_POLL_ADD (POLLIN|POLLOUT) on socket, pipe, regular file, /dev/null,
 *     pty, eventfd, signalfd, inotify, timerfd, epoll fd: CQE result vs poll(2) vs epoll_ctl.
 * (b) multishot poll with 10 bytes pending, 1 byte read per completion: how many CQEs;
 *     then whether a poll update (IORING_POLL_UPDATE_EVENTS) re-checks the level.
 * (c) IORING_OP_EPOLL_WAIT: probed and used (opcode number from the kernel's uapi). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define OP_EPOLL_WAIT 59 /* include/uapi/linux/io_uring.h, 6.15 */

static struct io_uring ring;

/* Arm one POLL_ADD, give it 50 ms, report the CQE or that it stays armed. */
static void try_poll(const char *name, int fd)
{
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_poll_add(sqe, fd, POLLIN | POLLOUT);
  sqe->user_data = 1;
  struct __kernel_timespec ts = {0, 50 * 1000 * 1000};
  struct io_uring_cqe *cqe;
  io_uring_submit(&ring);
  int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
  struct pollfd p = {fd, POLLIN | POLLOUT, 0};
  poll(&p, 1, 0);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};
  int er = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? errno : 0;
  struct epoll_event out;
  int en = er ? -1 : epoll_wait(ep, &out, 1, 0);
  printf("%-10s uring: ", name);
  if (r == 0) {
    printf("res=%-#6x", cqe->res);
    if (cqe->res < 0)
      printf("(%s)", strerror(-cqe->res));
    io_uring_cqe_seen(&ring, cqe);
  } else {
    printf("armed (%s)", strerror(-r));
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_poll_remove(sqe, 1);
    sqe->user_data = 2;
    io_uring_submit(&ring);
    for (int i = 0; i < 2; i++) {
      io_uring_wait_cqe(&ring, &cqe);
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  printf("  poll(2): %#x  epoll_ctl: %s", p.revents, er ? strerror(er) : "ok");
  if (!er)
    printf(" events=%#x", en > 0 ? out.events : 0);
  printf("\n");
  close(ep);
}

/* Count CQEs of a multishot poll on a pipe holding 10 bytes, reading 1 byte per CQE. */
static void multishot_level(void)
{
  int p[2];
  char buf[16];
  if (pipe2(p, O_NONBLOCK))
    return;
  if (write(p[1], "0123456789", 10) != 10)
    return;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_poll_multishot(sqe, p[0], POLLIN);
  sqe->user_data = 7;
  io_uring_submit(&ring);
  int n = 0, updated_cqes = 0;
  for (int round = 0; round < 12; round++) {
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
      break;
    if (cqe->user_data == 7 && cqe->res > 0) {
      n++;
      if (read(p[0], buf, 1) != 1)
        break;
    }
    io_uring_cqe_seen(&ring, cqe);
  }
  printf("(b) multishot, 10 bytes, 1 read per CQE: %d CQEs (edge after the first if < 10)\n", n);
  /* Now 10 - n bytes remain: a poll update keeps the request and should re-check the level. */
  for (int round = 0; round < 12; round++) {
    struct io_uring_sqe *u = io_uring_get_sqe(&ring);
    io_uring_prep_poll_update(u, 7, 0, POLLIN, IORING_POLL_UPDATE_EVENTS | IORING_POLL_ADD_MULTI);
    u->user_data = 8;
    io_uring_submit(&ring);
    int got = 0;
    for (;;) {
      struct io_uring_cqe *cqe;
      struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
        break;
      if (cqe->user_data == 7 && cqe->res > 0)
        got = 1;
      io_uring_cqe_seen(&ring, cqe);
    }
    if (!got)
      break;
    updated_cqes++;
    if (read(p[0], buf, 1) != 1)
      break;
  }
  printf("(b) poll update after each CQE: %d more CQEs for the %d remaining bytes\n",
         updated_cqes, 10 - n);
  struct io_uring_sqe *sqe2 = io_uring_get_sqe(&ring);
  io_uring_prep_poll_remove(sqe2, 7);
  io_uring_submit(&ring);
  struct io_uring_cqe *cqe;
  struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
  while (!io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
    io_uring_cqe_seen(&ring, cqe);
  close(p[0]);
  close(p[1]);
}

static void epoll_wait_op(void)
{
  struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
  printf("(c) probe last_op=%d, EPOLL_CTL(29) %s, EPOLL_WAIT(%d) %s\n", pr ? pr->last_op : -1,
         pr && io_uring_opcode_supported(pr, IORING_OP_EPOLL_CTL) ? "yes" : "no", OP_EPOLL_WAIT,
         pr && io_uring_opcode_supported(pr, OP_EPOLL_WAIT) ? "yes" : "no");
  io_uring_free_probe(pr);
  int ep = epoll_create1(0), p[2];
  if (pipe2(p, O_NONBLOCK))
    return;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[4];
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_epoll_ctl(sqe, ep, p[0], EPOLL_CTL_ADD, &ev);
  sqe->user_data = 3;
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  sqe = io_uring_get_sqe(&ring);
  io_uring_prep_rw(OP_EPOLL_WAIT, sqe, ep, out, 4, 0);
  sqe->user_data = 4;
  io_uring_submit(&ring);
  struct io_uring_cqe *cqe;
  struct __kernel_timespec ts = {0, 50 * 1000 * 1000};
  int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
  printf("(c) EPOLL_WAIT on empty pipe: %s\n", r ? "pending (good)" : "completed?");
  if (!r) {
    printf("    ud=%llu res=%d\n", (unsigned long long)cqe->user_data, cqe->res);
    io_uring_cqe_seen(&ring, cqe);
  }
  if (write(p[1], "ab", 2) != 2)
    return;
  r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
  if (!r) {
    printf("(c) after write: ud=%llu res=%d data=%llu events=%#x\n",
           (unsigned long long)cqe->user_data, cqe->res, (unsigned long long)out[0].data.u64,
           out[0].events);
    io_uring_cqe_seen(&ring, cqe);
  }
  /* level: not read, a second EPOLL_WAIT completes again at once */
  sqe = io_uring_get_sqe(&ring);
  io_uring_prep_rw(OP_EPOLL_WAIT, sqe, ep, out, 4, 0);
  sqe->user_data = 5;
  io_uring_submit(&ring);
  r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
  printf("(c) second EPOLL_WAIT, data unread: %s res=%d\n", r ? "pending" : "completed",
         r ? 0 : cqe->res);
  if (!r)
    io_uring_cqe_seen(&ring, cqe);
  close(ep);
  close(p[0]);
  close(p[1]);
}

int main(void)
{
  struct io_uring_params par = {0};
  int r = io_uring_queue_init_params(64, &ring, &par);
  if (r) {
    printf("io_uring_queue_init: %s\n", strerror(-r));
    return 77;
  }
  printf("features %#x\n", par.features);
  int sv[2], p[2], m, s;
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  try_poll("socket", sv[0]);
  pipe(p);
  try_poll("pipe-r", p[0]);
  try_poll("pipe-w", p[1]);
  char tmpl[] = "/tmp/fdtypesXXXXXX";
  int f = mkstemp(tmpl);
  unlink(tmpl);
  try_poll("regular", f);
  try_poll("/dev/null", open("/dev/null", O_RDWR));
  openpty(&m, &s, NULL, NULL, NULL);
  try_poll("pty-master", m);
  try_poll("pty-slave", s);
  try_poll("eventfd", eventfd(0, EFD_NONBLOCK));
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGUSR1);
  sigprocmask(SIG_BLOCK, &ss, NULL);
  try_poll("signalfd", signalfd(-1, &ss, SFD_NONBLOCK));
  try_poll("inotify", inotify_init1(IN_NONBLOCK));
  try_poll("timerfd", timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  try_poll("epoll", epoll_create1(0));
  try_poll("ring-fd", ring.ring_fd);
  multishot_level();
  epoll_wait_op();
  return 0;
}
