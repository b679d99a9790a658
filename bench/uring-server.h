/* uring-server.h - what bench/uring-echo.c and bench/uring-http.c share: the listening
 * socket, the ring, the provided-buffer ring, and how a request is named in user_data.
 *
 * These two servers use liburing directly, in the style of liburing's own examples, with no
 * event loop library in between: the ceiling an evring.h server is measured against. One
 * thread, one ring; multishot accept, multishot recv into a ring of provided buffers, send. */
#ifndef URING_SERVER_H
#define URING_SERVER_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Provided receive buffers: the same number and size as evring's defaults. */
#define NBUFS 1024
#define BUF_SIZE 4096
#define BGID 0

/* user_data = kind << 32 | fd */
enum { OP_ACCEPT = 1, OP_RECV, OP_SEND };
#define UD(kind, fd) ((uint64_t)(kind) << 32 | (uint32_t)(fd))
#define UD_KIND(ud) ((int)((ud) >> 32))
#define UD_FD(ud) ((int)(uint32_t)(ud))

static void die(const char *what, int err)
{
  fprintf(stderr, "%s: %s\n", what, strerror(err));
  exit(1);
}

/* The highest fd number plus one this process can have: the size of a per-fd table. */
static int max_fds(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    die("getrlimit", errno);
  if (rl.rlim_cur < rl.rlim_max) { /* lift the soft limit to the hard one */
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
}

/* A listening TCP socket on 127.0.0.1:port. */
static int listen_on(int port)
{
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0)
    die("listen", errno);
  return fd;
}

/* The ring, with the cheapest completion mode the kernel has: deferred task work (6.1) for a
 * single issuer, else cooperative task work (5.19), else the plain ring. */
static void ring_init(struct io_uring *ring, unsigned int entries)
{
  static const unsigned int tries[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
    0,
  };
  int r = -EINVAL;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0] && r == -EINVAL; i++) {
    struct io_uring_params p = {.flags = tries[i]};
    r = io_uring_queue_init_params(entries, ring, &p);
  }
  if (r < 0)
    die("io_uring_queue_init", -r);
}

/* An SQE, submitting the queued ones first when the submission queue is full. */
static struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
  struct io_uring_sqe *sqe;
  while ((sqe = io_uring_get_sqe(ring)) == NULL)
    io_uring_submit(ring);
  return sqe;
}

/* The provided-buffer ring: NBUFS buffers of BUF_SIZE bytes in group BGID. */
struct bufs {
  struct io_uring_buf_ring *br;
  char *mem;
};

static void bufs_give(struct bufs *b, unsigned int bid) /* hand buffer bid (back) to the kernel */
{
  io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                        io_uring_buf_ring_mask(NBUFS), 0);
  io_uring_buf_ring_advance(b->br, 1);
}

static void bufs_init(struct io_uring *ring, struct bufs *b)
{
  void *br;
  int r = posix_memalign(&br, 4096, NBUFS * sizeof(struct io_uring_buf));
  if (r != 0)
    die("posix_memalign", r);
  b->br = br;
  b->mem = malloc((size_t)NBUFS * BUF_SIZE);
  if (!b->mem)
    die("malloc", ENOMEM);
  io_uring_buf_ring_init(b->br);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUFS,
                                 .bgid = BGID};
  r = io_uring_register_buf_ring(ring, &reg, 0);
  if (r < 0)
    die("io_uring_register_buf_ring", -r);
  for (unsigned int i = 0; i < NBUFS; i++)
    bufs_give(b, i);
}

static void arm_accept(struct io_uring *ring, int lfd)
{
  struct io_uring_sqe *sqe = sqe_get(ring);
  io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));
}

static void arm_recv(struct io_uring *ring, int fd)
{
  struct io_uring_sqe *sqe = sqe_get(ring);
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
}

static void arm_send(struct io_uring *ring, int fd, const void *p, size_t len)
{
  struct io_uring_sqe *sqe = sqe_get(ring);
  io_uring_prep_send(sqe, fd, p, len, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
}

static void set_nodelay(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
  (void)sig;
  stopping = 1;
}

/* SIGINT and SIGTERM end the server's loop (io_uring_submit_and_wait returns -EINTR). */
static void catch_stop_signals(void)
{
  struct sigaction sa = {.sa_handler = on_stop};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

#endif
