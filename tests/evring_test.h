/* evring_test.h - what the tests of evring.h (tests/evring.c, tests/opsfuzz.c) share: the
 * io_uring feature masks every test repeats its body under, bounded runs of the loop, a byte
 * pattern that shows reordered, lost or repeated data, and loopback TCP pairs. */
#ifndef EVRING_EVRING_TEST_H
#define EVRING_EVRING_TEST_H

#include "test.h"

#include <evring.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/uio.h>

/* ---------------------------------------------------------------------------------------- */
/* Masks and loops */

/* Each mask stands for a kernel or a configuration: everything (6.18), single-shot accept
 * re-armed (< 5.19), single-shot recv (< 6.0), no provided-buffer ring (< 5.19), no SEND_ZC
 * (< 6.0), a ring that does no I/O (operations on readiness), per-fd polls (< 6.15), a 5.10
 * kernel's recv, and everything old at once. */
static const char *const masks[] = {
  "",
  "accept_multishot",
  "recv_multishot",
  "buf_ring",
  "send_zc",
  "ring_ops",
  "epoll_wait",
  "recv_multishot,buf_ring",
  "accept_multishot,recv_multishot,buf_ring,send_zc,epoll_wait",
};
#define NMASKS (sizeof masks / sizeof masks[0])

/* The mask tests/iouring-masks.sh runs the program under, and the one of the running body. */
static char outer_mask[256];
static char current_mask[512];

/* Generous limit of every wait for an expected event; reached only by a failing test. */
#define WAIT 5.0

static inline void use_mask(const char *mask)
{
  snprintf(current_mask, sizeof current_mask, "%s%s%s", outer_mask,
           outer_mask[0] && mask[0] ? "," : "", mask);
  setenv("EVRING_IOURING_DISABLE", current_mask, 1);
}

/* Run body once, or on io_uring once per mask (named in the output before it runs, so that a
 * failure's mask is the last one printed). */
static inline void each_mask(void (*body)(void))
{
  if (test_backend() != EVBACKEND_IOURING) {
    body();
    return;
  }
  /* Under a mask of tests/iouring-masks.sh (ring readiness paths): that mask alone. */
  const char *only = outer_mask[0] ? "" : getenv("EVRING_TEST_MASK");
  for (size_t m = 0; m < NMASKS; m++) {
    if (only && strcmp(only, masks[m]))
      continue;
    use_mask(masks[m]);
    printf("# mask \"%s\"\n", current_mask);
    fflush(stdout);
    body();
  }
  use_mask("");
}

/* A test whose body runs under every mask. */
#define EVTEST(name)                                                                          \
  static void name##_body(void);                                                              \
  static void name(void **state)                                                              \
  {                                                                                           \
    (void)state;                                                                              \
    each_mask(name##_body);                                                                   \
  }                                                                                           \
  static void name##_body(void)

/* Read the mask the program runs under (tests/iouring-masks.sh) before the first loop. */
static inline void masks_init(void)
{
  const char *outer = getenv("EVRING_IOURING_DISABLE");
  snprintf(outer_mask, sizeof outer_mask, "%s", outer ? outer : "");
  use_mask("");
}

static inline void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)loop, (void)w, (void)revents;
}

/* Run iterations until cond holds or limit seconds have passed; a 10 ms timer bounds each
 * wait. The value is cond's. */
#define RUN_UNTIL(loop, cond, limit)                                                          \
  ({                                                                                          \
    ev_timer guard_;                                                                          \
    ev_timer_init(&guard_, guard_cb, 0.01, 0.01);                                             \
    ev_timer_start((loop), &guard_);                                                          \
    double end_ = mono() + (limit);                                                           \
    while (!(cond) && mono() < end_)                                                          \
      ev_run((loop), EVRUN_ONCE);                                                             \
    ev_timer_stop((loop), &guard_);                                                           \
    (cond);                                                                                   \
  })

/* Byte i of stream `seed`: a reordered, lost or repeated piece shows as a mismatch. */
static inline unsigned char pattern(uint64_t i, unsigned int seed)
{
  uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) * 40503u;
  return (unsigned char)((x >> 24) ^ (x >> 11) ^ seed);
}

static inline void fill_pattern(void *buf, size_t n, uint64_t from, unsigned int seed)
{
  unsigned char *p = buf;
  for (size_t i = 0; i < n; i++)
    p[i] = pattern(from + i, seed);
}

/* 1 when buf holds bytes from..from+n of stream seed. */
static inline int is_pattern(const void *buf, size_t n, uint64_t from, unsigned int seed)
{
  const unsigned char *p = buf;
  for (size_t i = 0; i < n; i++)
    if (p[i] != pattern(from + i, seed))
      return 0;
  return 1;
}

/* A non-blocking TCP socket listening on 127.0.0.1, its address in *addr. */
static inline int tcp_listener(struct sockaddr_in *addr)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 128), 0);
  socklen_t len = sizeof *addr;
  assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
  return fd;
}

/* A TCP client connected to addr (the connection sits in the listener's backlog), made
 * non-blocking after the connect. */
static inline int tcp_client(const struct sockaddr_in *addr)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof *addr), 0);
  test_nonblock(fd);
  return fd;
}

/* Accept one connection within `ms` milliseconds, or -1. */
static inline int accept_within(int lfd, int ms)
{
  struct pollfd p = {lfd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0)
    return -1;
  return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* A connected pair of non-blocking TCP sockets on 127.0.0.1. */
static inline void tcp_pair(int sv[2])
{
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  sv[0] = tcp_client(&addr);
  sv[1] = accept_within(lfd, 2000);
  assert_true(sv[1] >= 0);
  close(lfd);
}

#endif
