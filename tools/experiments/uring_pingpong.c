/* uring_pingpong.c - cost per readiness event of the level-triggered mechanisms available to
 * an io_uring backend, without any library in between.
 *
 *   cc -O2 -o /tmp/uring_pingpong tools/experiments/uring_pingpong.c -luring
 *   /tmp/uring_pingpong MODE [N pairs] [K tokens] [events] [churn 0/1] [defer 0/1]
 *   MODE: epoll | oneshot | multi (multishot + poll update after each event) | repoll
 *         (IORING_OP_EPOLL_CTL + IORING_OP_EPOLL_WAIT) | renew-epoll | renew-ring
 *         (re-register N armed fds: epoll_ctl each vs one batch of EPOLL_CTL MOD SQEs) |
 *         renew-ring-add (the batch as ADD, answered EEXIST like libev's epoll_ctl)
 *
 * N socketpairs, K tokens travel from pair to pair: an event on b[i] reads its byte and writes
 * one to a[(i+7)%N]. churn=1 also flips the watched mask of b[i] between IN and IN|OUT on every
 * event (what a libev callback toggling EV_WRITE does). Prints process CPU ns per event. */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OP_EPOLL_WAIT 59

static int N = 1000, K = 100, churn;
static long target = 1000000, done;
static int *a, *b;
static unsigned char *mask; /* 1 = IN, 3 = IN|OUT */

static double cpu_now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/* handle a readable b[i]; returns 1 when the mask changed */
static int on_event(int i, unsigned revents)
{
  char c;
  done++;
  if ((revents & POLLIN) && read(b[i], &c, 1) == 1) {
    if (write(a[(i + 7) % N], &c, 1) != 1)
      abort();
  }
  if (churn) {
    mask[i] ^= 2;
    return 1;
  }
  return 0;
}

static unsigned pmask(int i) { return (mask[i] & 1 ? POLLIN : 0) | (mask[i] & 2 ? POLLOUT : 0); }

static void run_epoll(void)
{
  int ep = epoll_create1(0);
  for (int i = 0; i < N; i++) {
    struct epoll_event ev = {.events = pmask(i), .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, b[i], &ev);
  }
  struct epoll_event *evs = malloc(sizeof *evs * N);
  while (done < target) {
    int n = epoll_wait(ep, evs, N, -1);
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      if (on_event(i, evs[k].events)) {
        struct epoll_event ev = {.events = pmask(i), .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_MOD, b[i], &ev);
      }
    }
  }
}

static struct io_uring ring;

static void ring_init(int defer)
{
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  if (defer)
    p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = 4 * N;
  int r = io_uring_queue_init_params(2 * N, &ring, &p);
  if (r) {
    fprintf(stderr, "init %s\n", strerror(-r));
    exit(1);
  }
  io_uring_register_ring_fd(&ring);
}

static struct io_uring_sqe *sqe_get(void)
{
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  if (!s) {
    io_uring_submit(&ring);
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

/* one-shot POLL_ADD re-armed after every event (multi=0), or multishot + poll update */
static void run_poll(int multi)
{
  for (int i = 0; i < N; i++) {
    struct io_uring_sqe *s = sqe_get();
    if (multi)
      io_uring_prep_poll_multishot(s, b[i], pmask(i));
    else
      io_uring_prep_poll_add(s, b[i], pmask(i));
    s->user_data = i;
  }
  while (done < target) {
    io_uring_submit_and_wait(&ring, 1);
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe)
    {
      seen++;
      if (cqe->user_data >= (unsigned)N)
        continue; /* update answers */
      int i = cqe->user_data;
      if (cqe->res < 0) {
        fprintf(stderr, "res %d\n", cqe->res);
        exit(1);
      }
      on_event(i, cqe->res);
      struct io_uring_sqe *s = sqe_get();
      if (!multi) {
        io_uring_prep_poll_add(s, b[i], pmask(i));
        s->user_data = i;
      } else if (cqe->flags & IORING_CQE_F_MORE) {
        io_uring_prep_poll_update(s, i, 0, pmask(i),
                                  IORING_POLL_UPDATE_EVENTS | IORING_POLL_ADD_MULTI);
        s->user_data = N + 1;
        s->flags |= IOSQE_CQE_SKIP_SUCCESS;
      } else {
        io_uring_prep_poll_multishot(s, b[i], pmask(i));
        s->user_data = i;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}

/* ring-driven epoll: EPOLL_CTL SQEs for changes, one EPOLL_WAIT SQE per wait */
static void run_repoll(void)
{
  int ep = epoll_create1(0);
  struct epoll_event *evs = malloc(sizeof *evs * N), *ctl = malloc(sizeof *ctl * N);
  for (int i = 0; i < N; i++) {
    struct epoll_event ev = {.events = pmask(i), .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, b[i], &ev);
  }
  int nctl = 0;
  while (done < target) {
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_rw(OP_EPOLL_WAIT, s, ep, evs, N, 0);
    s->user_data = 1ull << 40;
    io_uring_submit_and_wait(&ring, 1);
    nctl = 0;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int n = -1;
    io_uring_for_each_cqe(&ring, head, cqe)
    {
      seen++;
      if (cqe->user_data == 1ull << 40)
        n = cqe->res;
      else
        fprintf(stderr, "ctl error %d\n", cqe->res);
    }
    io_uring_cq_advance(&ring, seen);
    if (n < 0) {
      fprintf(stderr, "wait %d\n", n);
      exit(1);
    }
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      if (on_event(i, evs[k].events)) {
        ctl[nctl] = (struct epoll_event){.events = pmask(i), .data.u32 = i};
        s = sqe_get();
        io_uring_prep_epoll_ctl(s, ep, b[i], EPOLL_CTL_MOD, &ctl[nctl]);
        s->flags |= IOSQE_CQE_SKIP_SUCCESS;
        s->user_data = 2;
        nctl++;
      }
    }
  }
}

/* re-register N armed fds, 20 rounds: libev's epoll (ADD answered EEXIST) vs a ring batch */
static void run_renew(int use_ring)
{
  int ep = epoll_create1(0);
  struct epoll_event *ctl = malloc(sizeof *ctl * N);
  for (int i = 0; i < N; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, b[i], &ev);
  }
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < N; i++) {
      ctl[i] = (struct epoll_event){.events = EPOLLIN, .data.u32 = i};
      if (!use_ring) {
        epoll_ctl(ep, EPOLL_CTL_ADD, b[i], &ctl[i]);
      } else {
        struct io_uring_sqe *s = sqe_get();
        io_uring_prep_epoll_ctl(s, ep, b[i], use_ring == 2 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
                                &ctl[i]);
        s->flags |= IOSQE_CQE_SKIP_SUCCESS;
      }
      done++;
    }
    if (use_ring) {
      io_uring_submit(&ring);
      io_uring_cq_advance(&ring, io_uring_cq_ready(&ring)); /* EEXIST answers */
    }
  }
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "epoll";
  if (argc > 2) N = atoi(argv[2]);
  if (argc > 3) K = atoi(argv[3]);
  if (argc > 4) target = atol(argv[4]);
  if (argc > 5) churn = atoi(argv[5]);
  int defer = argc > 6 ? atoi(argv[6]) : 1;
  struct rlimit rl = {65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl);
  a = malloc(sizeof *a * N);
  b = malloc(sizeof *b * N);
  mask = malloc(N);
  for (int i = 0; i < N; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) {
      perror("socketpair");
      return 1;
    }
    a[i] = sv[0];
    b[i] = sv[1];
    mask[i] = 1;
  }
  for (int k = 0; k < K; k++)
    if (write(a[(k * (N / K)) % N], "x", 1) != 1)
      return 1;
  if (strcmp(mode, "epoll") && strcmp(mode, "renew-epoll"))
    ring_init(defer);
  double t0 = cpu_now();
  if (!strcmp(mode, "epoll"))
    run_epoll();
  else if (!strcmp(mode, "oneshot"))
    run_poll(0);
  else if (!strcmp(mode, "multi"))
    run_poll(1);
  else if (!strcmp(mode, "repoll"))
    run_repoll();
  else if (!strcmp(mode, "renew-epoll"))
    run_renew(0);
  else if (!strcmp(mode, "renew-ring"))
    run_renew(1);
  else if (!strcmp(mode, "renew-ring-add"))
    run_renew(2);
  double t1 = cpu_now();
  printf("%-12s N=%d K=%d churn=%d defer=%d: %.0f ns/event (%ld events)\n", mode, N, K, churn,
         defer, (t1 - t0) / done, done);
  return 0;
}
