/* iouring_probe.c - what the running kernel's io_uring offers, asked once per process.
 *
 * io_uring may be missing (ENOSYS), forbidden (kernel.io_uring_disabled, container seccomp
 * profiles: EPERM), or too old for what the backend relies on. Every answer here is a reason
 * to report the backend unavailable, so that the loop picks epoll; nothing is asserted. */
#include "iouring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ev__iouring_caps caps;
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

/* Can a small ring be set up with these flags? 0 or -errno. */
static int try_setup(unsigned int flags, struct io_uring_params *out)
{
  struct io_uring ring;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = flags | IORING_SETUP_CQSIZE;
  p.cq_entries = 8;
  int r = io_uring_queue_init_params(4, &ring, &p);
  if (r < 0)
    return r;
  if (out)
    *out = p;
  io_uring_queue_exit(&ring);
  return 0;
}

static void probe(void)
{
  struct io_uring_params p;
  int r = try_setup(0, &p);
  if (r < 0) {
    caps.setup_errno = -r;
    return;
  }
  caps.features = p.features;
  /* EXT_ARG (5.11): the timeout travels inside io_uring_enter. NODROP (5.5): completions
   * are kept in the kernel when the CQ is full instead of being lost. */
  if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
    caps.setup_errno = EOPNOTSUPP;
    return;
  }

  static const unsigned int optional[] = {
    IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
      IORING_SETUP_R_DISABLED,
  };
  for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
    if (try_setup(optional[i], NULL) == 0)
      caps.setup_ok |= optional[i];

  struct io_uring ring;
  if (io_uring_queue_init(4, &ring, 0) < 0) {
    caps.setup_errno = ENOMEM;
    return;
  }
  /* A ring is no use if entering it is forbidden (a seccomp filter may allow only setup). */
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  struct io_uring_cqe *cqe = NULL;
  io_uring_prep_nop(sqe);
  r = io_uring_submit_and_wait(&ring, 1);
  if (r < 0 || io_uring_peek_cqe(&ring, &cqe) < 0 || !cqe) {
    io_uring_queue_exit(&ring);
    caps.setup_errno = r < 0 ? -r : EIO;
    return;
  }
  io_uring_cqe_seen(&ring, cqe);
  /* IORING_ASYNC_CANCEL_ANY (5.19): with nothing to cancel the answer is 0 (measured on 6.1,
   * 6.12, 6.18; the number cancelled) or -ENOENT; a kernel that does not know the flag says
   * -EINVAL (5.10). */
  sqe = io_uring_get_sqe(&ring);
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0 && cqe) {
    caps.cancel_any = cqe->res >= 0 || cqe->res == -ENOENT;
    io_uring_cqe_seen(&ring, cqe);
  }
  struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
  io_uring_queue_exit(&ring);
  if (!pr) {
    caps.setup_errno = EOPNOTSUPP;
    return;
  }
  int poll_ops = io_uring_opcode_supported(pr, IORING_OP_POLL_ADD) &&
                 io_uring_opcode_supported(pr, IORING_OP_POLL_REMOVE) &&
                 io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL);
  caps.epoll_ops = io_uring_opcode_supported(pr, IORING_OP_EPOLL_CTL) &&
                   io_uring_opcode_supported(pr, EV__IORING_OP_EPOLL_WAIT);
  static const int io_opcodes[] = {IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_RECV,
                                   IORING_OP_SEND,   IORING_OP_SENDMSG, IORING_OP_READ,
                                   IORING_OP_WRITE,  IORING_OP_CLOSE};
  caps.io_ops = 1;
  for (size_t i = 0; i < sizeof io_opcodes / sizeof io_opcodes[0]; i++)
    caps.io_ops &= io_uring_opcode_supported(pr, io_opcodes[i]);
  caps.shutdown_op = io_uring_opcode_supported(pr, IORING_OP_SHUTDOWN);
  caps.v5_19 = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
  caps.v6_0 = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
  io_uring_free_probe(pr);
  if (!poll_ops) {
    caps.setup_errno = EOPNOTSUPP;
    return;
  }
  caps.usable = 1;
}

/* The probe's rings are set up and closed in a short-lived thread. Closing a ring makes the
 * kernel's ring-exit worker queue task work, with a signal-like notification, on every task
 * that used the ring: about 16 ms later (measured on 6.18) that interrupts whatever blocking
 * system call the task is in with EINTR, e.g. the program's own epoll_wait right after it
 * called ev_supported_backends(). A thread that has exited has nothing left to notify. */
static void *probe_thread(void *arg)
{
  (void)arg;
  probe();
  return NULL;
}

static void probe_once(void)
{
  pthread_t t;
  if (pthread_create(&t, NULL, probe_thread, NULL) == 0)
    pthread_join(t, NULL);
  else
    probe();
}

const struct ev__iouring_caps *ev__iouring_caps(void)
{
  pthread_once(&caps_once, probe_once);
  return &caps;
}

static const char *trusted_getenv(const char *name)
{
  /* Like LIBEV_FLAGS: a setuid or setgid program does not take orders from its caller. */
  if (getuid() != geteuid() || getgid() != getegid())
    return NULL;
  return getenv(name);
}

unsigned int ev__iouring_disabled(void)
{
  static const struct {
    const char *name;
    unsigned int bit;
  } names[] = {
    {"iouring", EV__IOU_OFF_ALL},           {"all", EV__IOU_OFF_ALL},
    {"epoll_wait", EV__IOU_OFF_EPOLL_WAIT}, {"defer_taskrun", EV__IOU_OFF_DEFER},
    {"single_issuer", EV__IOU_OFF_DEFER},   {"coop_taskrun", EV__IOU_OFF_COOP},
    {"submit_all", EV__IOU_OFF_SUBMIT_ALL}, {"cqe_skip", EV__IOU_OFF_CQE_SKIP},
    {"cancel_any", EV__IOU_OFF_CANCEL_ANY}, {"register", EV__IOU_OFF_REGISTER},
    {"ring_ops", EV__IOU_OFF_RING_OPS},     {"accept_multishot", EV__IOU_OFF_ACCEPT_MULTI},
    {"recv_multishot", EV__IOU_OFF_RECV_MULTI}, {"buf_ring", EV__IOU_OFF_BUF_RING},
    {"send_zc", EV__IOU_OFF_SEND_ZC},
  };
  const char *env = trusted_getenv("EVRING_IOURING_DISABLE");
  unsigned int off = 0;
  while (env && *env) {
    size_t len = strcspn(env, ", ");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (len == strlen(names[i].name) && !strncmp(env, names[i].name, len))
        off |= names[i].bit;
    env += len;
    env += strspn(env, ", ");
  }
  return off;
}

long ev__iouring_env_long(const char *name, long def)
{
  const char *env = trusted_getenv(name);
  if (!env || !*env)
    return def;
  char *end;
  long v = strtol(env, &end, 10);
  return *end ? def : v;
}
