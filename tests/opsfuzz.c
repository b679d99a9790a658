/* opsfuzz.c - random programs of evring.h operations, checked against a model of what each
 * operation must do, on every backend and under every io_uring mask of tests/evring_test.h.
 *
 * A program is a seed: a few stream channels (AF_UNIX socket pairs, and TCP pairs made with
 * evring_connect and a multishot evring_accept), a pipe and a file, then a few hundred random
 * steps — sends and sendmsgs of 1 byte to 70 KiB (some zero-copy, some at another priority),
 * receives started, stopped (also in their own callbacks), cancelled or given an idle
 * deadline, received buffers kept and
 * released later, pipe and file reads and writes, more connections made while the accept is
 * stopped, cancelled and started again — each followed by a loop iteration or not;
 * then every channel is drained, shut down and closed through operations. The model says:
 * every byte sent arrives once and in order; every send completes once, with all its bytes;
 * a stopped operation calls back no more; a
 * cancelled or timed-out one ends with exactly one final callback; a kept buffer keeps its
 * bytes until it is released; file reads see the last completed write; every connection is
 * accepted once; at the end every
 * operation has ended, every fd the program closed is closed, and nothing hangs.
 *
 * Environment: EVRING_OPSFUZZ_SEEDS=A-B or N (default 1-16), EVRING_OPSFUZZ_STEPS (250),
 * EVRING_OPSFUZZ_TRACE=1 prints every step. A failure names seed, step and mask; the same
 * three (EVRING_TEST_MASK, EVRING_TEST_BACKEND) replay the same program. */
#include "evring_test.h"

#include <sys/mman.h>

#define NCHAN 5      /* stream channels: 0-2 AF_UNIX, 3-4 TCP */
#define NTCP 2
#define NSEND 6      /* sends in flight per channel */
#define NKEEP 12     /* received buffers kept per channel */
#define NREGION 6    /* file regions */
#define REGION 6000  /* bytes per file region */
#define PIPE_SEED 97 /* pattern stream of the pipe */

/* ---------------------------------------------------------------------------------------- */
/* The program's randomness: one generator for the steps (the same program for a seed), and
 * decisions inside callbacks hashed from what they are about, so that the timing of results
 * does not change the steps. */

static uint64_t rng_state;

static uint64_t mix(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static unsigned int rnd(unsigned int n)
{
  rng_state += 0x9e3779b97f4a7c15ull;
  return (unsigned int)(mix(rng_state) % n);
}

static unsigned int seed_now;

static int decide(unsigned int n, uint64_t a, uint64_t b)
{
  return mix(mix(seed_now * 1000003ull + a) ^ b) % n == 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Failures name the program. */

static int step_now;
static int trace;

#define CHECK(cond, ...)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      char m_[600];                                                                           \
      int k_ = snprintf(m_, sizeof m_, "seed %u, step %d, backend %s, mask \"%s\": ",          \
                        seed_now, step_now, test_backend_name(), current_mask);               \
      if (k_ > 0 && (size_t)k_ < sizeof m_)                                                   \
        snprintf(m_ + k_, sizeof m_ - (size_t)k_, __VA_ARGS__);                               \
      fail_msg("%s (%s)", m_, #cond);                                                         \
    }                                                                                         \
  } while (0)

#define TRACE(...)                                                                            \
  do {                                                                                        \
    if (trace) {                                                                              \
      printf("# [%d] ", step_now);                                                            \
      printf(__VA_ARGS__);                                                                    \
      printf("\n");                                                                           \
    }                                                                                         \
  } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Stream channels: fd[0] sends, fd[1] receives; byte i of channel c is pattern(i, c). */

struct chan;

struct send {
  evring_op op;
  struct chan *ch;
  int busy;
  uint64_t seq;         /* start order on the channel */
  size_t len;
  unsigned char *buf;
  struct iovec iov[3];
  struct msghdr msg;
};

struct kept {
  char *buf;
  size_t len;
  uint64_t off;         /* stream offset of its first byte */
};

struct chan {
  int idx;
  int fd[2];
  uint64_t queued;      /* bytes of the sends started */
  uint64_t got;         /* bytes received */
  uint64_t started, done; /* sends started, completed (the callbacks of one iteration run
                           * in the loop's pending order, not in start order: the data's
                           * order is checked where it arrives) */
  evring_op recv;
  int recv_on;          /* started, not stopped, no final callback yet */
  int recv_cancelled;   /* evring_cancel asked: one final callback must come */
  int recv_deadline;    /* started with a deadline: -ETIMEDOUT may end it */
  int eof_expected;     /* fd[0] was shut down for writing and everything has arrived */
  int eof_seen;
  struct send sends[NSEND];
  struct kept kept[NKEEP];
  int nkept;
};

static struct chan chans[NCHAN];

static void on_send(struct ev_loop *loop, evring_op *op, int revents)
{
  struct send *s = op->data;
  struct chan *ch = s->ch;
  CHECK(revents & EVRING_DONE, "send callback with revents %#x", revents);
  CHECK(s->busy, "channel %d: a send called back twice", ch->idx);
  CHECK(!ev_is_active(op), "channel %d: send still active in its callback", ch->idx);
  CHECK(op->res == (ssize_t)s->len, "channel %d: send %llu of %zu bytes gave %zd", ch->idx,
        (unsigned long long)s->seq, s->len, op->res);
  ch->done++;
  s->busy = 0;
  free(s->buf);
  s->buf = NULL;
  TRACE("chan %d send %llu done (%zu)", ch->idx, (unsigned long long)s->seq, s->len);
}

/* For a failure's message: the stream offset that bytes received out of place were sent at,
 * or -1. */
static long long where_from(const char *buf, size_t n, const struct chan *ch)
{
  for (uint64_t at = 0; at + n <= ch->queued; at++)
    if (is_pattern(buf, n, at, (unsigned int)ch->idx))
      return (long long)at;
  return -1;
}

static void on_recv(struct ev_loop *loop, evring_op *op, int revents)
{
  struct chan *ch = op->data;
  CHECK(revents & EVRING_DONE, "recv callback with revents %#x", revents);
  CHECK(ch->recv_on, "channel %d: recv called back after it was stopped or had ended (res %zd)",
        ch->idx, op->res);
  if (op->res > 0) {
    size_t n = (size_t)op->res;
    CHECK(ch->got + n <= ch->queued, "channel %d: %zu bytes received at %llu, only %llu sent",
          ch->idx, n, (unsigned long long)ch->got, (unsigned long long)ch->queued);
    CHECK(is_pattern(op->buf, n, ch->got, (unsigned int)ch->idx),
          "channel %d: the %zu bytes received at offset %llu are not the ones sent there "
          "(they are those of offset %lld)", ch->idx, n, (unsigned long long)ch->got,
          where_from(op->buf, n, ch));
    if (ch->nkept < NKEEP && decide(3, (uint64_t)ch->idx, ch->got)) {
      char *b = evring_buf_keep(loop, op);
      CHECK(b == op->buf, "channel %d: evring_buf_keep gave another buffer", ch->idx);
      ch->kept[ch->nkept++] = (struct kept){b, n, ch->got};
    }
    ch->got += n;
    CHECK(op->flags & EVRING_MORE, "channel %d: data ended the multishot recv", ch->idx);
    TRACE("chan %d recv %zu -> %llu", ch->idx, n, (unsigned long long)ch->got);
    if (step_now > 0 && !ch->recv_cancelled && decide(8, (uint64_t)ch->idx + 100, ch->got)) {
      /* Stopped in its own callback, with more results perhaps waiting behind this one. */
      TRACE("chan %d recv stop in callback", ch->idx);
      evring_stop(loop, op);
      ch->recv_on = 0;
    }
    return;
  }
  CHECK(!(op->flags & EVRING_MORE), "channel %d: result %zd with EVRING_MORE", ch->idx, op->res);
  if (op->res == 0) {
    CHECK(ch->eof_expected, "channel %d: end of stream at %llu of %llu", ch->idx,
          (unsigned long long)ch->got, (unsigned long long)ch->queued);
    ch->eof_seen = 1;
  } else
    CHECK((op->res == -ECANCELED && ch->recv_cancelled) ||
              (op->res == -ETIMEDOUT && ch->recv_deadline),
          "channel %d: recv ended with %zd (cancelled %d, deadline %d)", ch->idx, op->res,
          ch->recv_cancelled, ch->recv_deadline);
  TRACE("chan %d recv ended %zd", ch->idx, op->res);
  ch->recv_on = ch->recv_cancelled = 0;
}

static void recv_start(struct ev_loop *loop, struct chan *ch, int may_time_out)
{
  double deadline = may_time_out && rnd(6) == 0 ? 0.002 + rnd(20) * 0.001 : 0.;
  evring_op_set_deadline(&ch->recv, deadline);
  ch->recv_deadline = deadline > 0.;
  ch->recv_on = 1;
  ch->recv_cancelled = 0;
  evring_recv(loop, &ch->recv, ch->fd[1]);
  CHECK(ev_is_active(&ch->recv), "channel %d: recv not active after its start", ch->idx);
  TRACE("chan %d recv start (deadline %g)", ch->idx, deadline);
}

static void send_start(struct ev_loop *loop, struct chan *ch)
{
  struct send *s = NULL;
  for (int i = 0; i < NSEND && !s; i++)
    if (!ch->sends[i].busy)
      s = &ch->sends[i];
  if (!s)
    return;
  static const size_t sizes[] = {1, 100, 4096, 20000, 70000};
  size_t len = 1 + rnd((unsigned int)sizes[rnd(5)]);
  s->buf = malloc(len);
  assert_non_null(s->buf);
  fill_pattern(s->buf, len, ch->queued, (unsigned int)ch->idx);
  s->len = len;
  s->seq = ++ch->started;
  s->busy = 1;
  s->ch = ch;
  ch->queued += len;
  ev_set_priority(&s->op, rnd(4) == 0 ? (int)rnd(5) - 2 : 0);
  int flags = rnd(5) == 0 ? EVRING_ZEROCOPY : 0;
  if (rnd(3) == 0) {
    size_t a = rnd((unsigned int)len + 1), b = a + rnd((unsigned int)(len - a) + 1);
    s->iov[0] = (struct iovec){s->buf, a};
    s->iov[1] = (struct iovec){s->buf + a, b - a};
    s->iov[2] = (struct iovec){s->buf + b, len - b};
    s->msg = (struct msghdr){.msg_iov = s->iov, .msg_iovlen = 3};
    evring_sendmsg(loop, &s->op, ch->fd[0], &s->msg, flags);
  } else
    evring_send(loop, &s->op, ch->fd[0], s->buf, len, flags);
  TRACE("chan %d send %llu start %zu flags %#x", ch->idx, (unsigned long long)s->seq, len, flags);
}

static void kept_release(struct ev_loop *loop, struct chan *ch, int i)
{
  struct kept *k = &ch->kept[i];
  CHECK(is_pattern(k->buf, k->len, k->off, (unsigned int)ch->idx),
        "channel %d: a kept buffer (%zu bytes from %llu) changed before its release", ch->idx,
        k->len, (unsigned long long)k->off);
  evring_buf_release(loop, k->buf);
  ch->kept[i] = ch->kept[--ch->nkept];
}

/* ---------------------------------------------------------------------------------------- */
/* The pipe: one write and one read in flight at most, a stream like the channels'. */

static struct {
  int fd[2];
  evring_op w, r;
  int w_busy, r_busy;
  uint64_t written, read;
  size_t w_len;
  unsigned char wbuf[9000], rbuf[9000];
} pipe_;

static void on_pipe_write(struct ev_loop *loop, evring_op *op, int revents)
{
  CHECK(pipe_.w_busy, "pipe write called back twice");
  CHECK(op->res > 0 && (size_t)op->res <= pipe_.w_len, "pipe write of %zu gave %zd", pipe_.w_len,
        op->res);
  pipe_.written += (uint64_t)op->res;
  pipe_.w_busy = 0;
}

static void on_pipe_read(struct ev_loop *loop, evring_op *op, int revents)
{
  CHECK(pipe_.r_busy, "pipe read called back twice");
  CHECK(op->res > 0, "pipe read gave %zd", op->res);
  CHECK(pipe_.read + (uint64_t)op->res <= pipe_.written + (pipe_.w_busy ? pipe_.w_len : 0),
        "pipe read more than was written");
  CHECK(is_pattern(pipe_.rbuf, (size_t)op->res, pipe_.read, PIPE_SEED),
        "pipe: the %zd bytes read at %llu are not the ones written there", op->res,
        (unsigned long long)pipe_.read);
  pipe_.read += (uint64_t)op->res;
  pipe_.r_busy = 0;
}

static void pipe_step(struct ev_loop *loop)
{
  if (rnd(2) && !pipe_.w_busy) {
    pipe_.w_len = 1 + rnd(sizeof pipe_.wbuf);
    fill_pattern(pipe_.wbuf, pipe_.w_len, pipe_.written, PIPE_SEED);
    pipe_.w_busy = 1;
    evring_write(loop, &pipe_.w, pipe_.fd[1], pipe_.wbuf, pipe_.w_len, -1);
  } else if (!pipe_.r_busy && pipe_.read < pipe_.written + (pipe_.w_busy ? 1 : 0)) {
    pipe_.r_busy = 1;
    evring_read(loop, &pipe_.r, pipe_.fd[0], pipe_.rbuf, 1 + rnd(sizeof pipe_.rbuf), -1);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The file: regions written whole and read back when no write of theirs is in flight. */

static struct region {
  evring_op op;
  int busy;             /* 'w' or 'r' in flight */
  unsigned int version; /* of the last completed write; 0: never written */
  unsigned int writing;
  unsigned char buf[REGION];
} regions[NREGION];
static int file_fd;

static void on_region(struct ev_loop *loop, evring_op *op, int revents)
{
  struct region *r = op->data;
  int i = (int)(r - regions);
  CHECK(op->res == REGION, "file region %d: %s of %d bytes gave %zd", i,
        r->busy == 'w' ? "write" : "read", REGION, op->res);
  if (r->busy == 'w')
    r->version = r->writing;
  else
    CHECK(is_pattern(r->buf, REGION, (uint64_t)r->version << 20, (unsigned int)i),
          "file region %d: read does not show write %u", i, r->version);
  r->busy = 0;
}

static void file_step(struct ev_loop *loop)
{
  int i = (int)rnd(NREGION);
  struct region *r = &regions[i];
  if (r->busy)
    return;
  if (!r->version || rnd(2)) {
    r->writing = r->version + 1;
    fill_pattern(r->buf, REGION, (uint64_t)r->writing << 20, (unsigned int)i);
    r->busy = 'w';
    evring_write(loop, &r->op, file_fd, r->buf, REGION, (int64_t)i * REGION);
  } else {
    memset(r->buf, 0, REGION);
    r->busy = 'r';
    evring_read(loop, &r->op, file_fd, r->buf, REGION, (int64_t)i * REGION);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Connections through operations; closing through operations. */

#define NEXTRA 24    /* more connections made during the steps */

static int accepted[NTCP + NEXTRA], naccepted;
static int accept_on;        /* started, not stopped, no final callback yet */
static int accept_cancelled; /* evring_cancel asked: one final callback must come */
static evring_op accept_op;
static int listen_fd;
static struct sockaddr_in listen_addr;

static void on_accept(struct ev_loop *loop, evring_op *op, int revents)
{
  CHECK(accept_on, "accept called back after it was stopped or had ended (res %zd)", op->res);
  if (op->res >= 0) {
    CHECK(op->flags & EVRING_MORE, "multishot accept ended with a connection");
    CHECK(naccepted < NTCP + NEXTRA, "more connections accepted than made");
    CHECK(fcntl((int)op->res, F_GETFD) >= 0, "accepted fd %zd is not open", op->res);
    accepted[naccepted++] = (int)op->res;
    return;
  }
  CHECK(op->res == -ECANCELED && accept_cancelled && !(op->flags & EVRING_MORE),
        "accept gave %zd (flags %#x)", op->res, op->flags);
  accept_on = accept_cancelled = 0;
}

static void accept_start(struct ev_loop *loop)
{
  accept_on = 1;
  accept_cancelled = 0;
  evring_accept(loop, &accept_op, listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Connections made during the steps: each must be accepted once, whatever happens to the
 * accept meanwhile. */
static struct extra {
  evring_op op;
  int fd, done;
} extras[NEXTRA];
static int nextra;

static void on_extra_connect(struct ev_loop *loop, evring_op *op, int revents)
{
  struct extra *x = (struct extra *)op;
  CHECK(op->res == 0, "connect of an extra connection gave %zd", op->res);
  x->done = 1;
}

static void accept_step(struct ev_loop *loop)
{
  unsigned int what = rnd(4);
  if (what == 0 && nextra < NEXTRA) {
    struct extra *x = &extras[nextra++];
    x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(x->fd >= 0);
    evring_op_init(&x->op, on_extra_connect);
    evring_connect(loop, &x->op, x->fd, (const struct sockaddr *)&listen_addr,
                   sizeof listen_addr);
    TRACE("extra connection %d", nextra);
  } else if (!accept_on) {
    accept_start(loop);
    TRACE("accept start");
  } else if (what == 1 && !accept_cancelled) {
    evring_stop(loop, &accept_op);
    CHECK(!ev_is_active(&accept_op), "accept active after evring_stop");
    accept_on = 0;
    TRACE("accept stop");
  } else if (what == 2 && !accept_cancelled) {
    accept_cancelled = 1;
    evring_cancel(loop, &accept_op);
    TRACE("accept cancel");
  }
}

static int extras_connected(void)
{
  for (int i = 0; i < nextra; i++)
    if (!extras[i].done)
      return 0;
  return 1;
}

struct result {
  evring_op op;
  int done;
  ssize_t res;
};

static void on_result(struct ev_loop *loop, evring_op *op, int revents)
{
  struct result *r = (struct result *)op;
  CHECK(!r->done, "an operation called back twice");
  r->done = 1;
  r->res = op->res;
}

static void make_tcp_chan(struct ev_loop *loop, struct chan *ch, const struct sockaddr_in *addr)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct result c = {.done = 0};
  evring_op_init(&c.op, on_result);
  int before = naccepted;
  evring_connect(loop, &c.op, fd, (const struct sockaddr *)addr, sizeof *addr);
  CHECK(RUN_UNTIL(loop, c.done && naccepted > before, WAIT), "connect %d accept %d", c.done,
        naccepted - before);
  CHECK(c.res == 0, "connect gave %zd", c.res);
  ch->fd[0] = fd;
  ch->fd[1] = accepted[before];
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_by_op(struct ev_loop *loop, int fd)
{
  struct result r = {.done = 0};
  evring_op_init(&r.op, on_result);
  evring_close(loop, &r.op, fd);
  CHECK(RUN_UNTIL(loop, r.done, WAIT), "close of fd %d never called back", fd);
  CHECK(r.res == 0, "close of fd %d gave %zd", fd, r.res);
  CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "fd %d open after its close", fd);
}

/* ---------------------------------------------------------------------------------------- */

static int everything_sent(void)
{
  for (int c = 0; c < NCHAN; c++)
    if (chans[c].done != chans[c].started || chans[c].got != chans[c].queued)
      return 0;
  return !pipe_.w_busy && !pipe_.r_busy && pipe_.read == pipe_.written;
}

static int regions_idle(void)
{
  for (int i = 0; i < NREGION; i++)
    if (regions[i].busy)
      return 0;
  return 1;
}

static int all_eof(void)
{
  for (int c = 0; c < NCHAN; c++)
    if (!chans[c].eof_seen)
      return 0;
  return 1;
}

static void describe(void)
{
  for (int c = 0; c < NCHAN; c++)
    printf("# channel %d: sends %llu/%llu, bytes %llu/%llu, recv on %d active %d, kept %d\n", c,
           (unsigned long long)chans[c].done, (unsigned long long)chans[c].started,
           (unsigned long long)chans[c].got, (unsigned long long)chans[c].queued,
           chans[c].recv_on, ev_is_active(&chans[c].recv), chans[c].nkept);
  printf("# pipe: written %llu read %llu, write busy %d read busy %d\n",
         (unsigned long long)pipe_.written, (unsigned long long)pipe_.read, pipe_.w_busy,
         pipe_.r_busy);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void run_program(unsigned int seed, int steps)
{
  seed_now = seed;
  rng_state = mix(seed);
  step_now = 0;
  memset(chans, 0, sizeof chans);
  memset(&pipe_, 0, sizeof pipe_);
  memset(regions, 0, sizeof regions);
  naccepted = nextra = 0;
  accept_on = accept_cancelled = 0;
  memset(extras, 0, sizeof extras);

  struct ev_loop *loop = test_loop(0);
  static const unsigned int counts[] = {8, 32, 1024}, sizes[] = {512, 4096};
  assert_int_equal(evring_set_recv_buffers(loop, counts[rnd(3)], sizes[rnd(2)]), 0);
  /* A 1 ms tick bounds every blocking iteration. */
  ev_timer tick;
  ev_timer_init(&tick, tick_cb, 0.001, 0.001);
  ev_timer_start(loop, &tick);

  listen_fd = tcp_listener(&listen_addr);
  evring_op_init(&accept_op, on_accept);
  accept_start(loop);
  for (int c = 0; c < NCHAN; c++) {
    struct chan *ch = &chans[c];
    ch->idx = c;
    if (c < NCHAN - NTCP)
      assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ch->fd),
                       0);
    else
      make_tcp_chan(loop, ch, &listen_addr);
    evring_op_init(&ch->recv, on_recv);
    ch->recv.data = ch;
    for (int i = 0; i < NSEND; i++) {
      evring_op_init(&ch->sends[i].op, on_send);
      ch->sends[i].op.data = &ch->sends[i];
    }
  }

  assert_int_equal(pipe2(pipe_.fd, O_NONBLOCK | O_CLOEXEC), 0);
  evring_op_init(&pipe_.w, on_pipe_write);
  evring_op_init(&pipe_.r, on_pipe_read);
  file_fd = memfd_create("opsfuzz", MFD_CLOEXEC);
  assert_true(file_fd >= 0);
  for (int i = 0; i < NREGION; i++) {
    evring_op_init(&regions[i].op, on_region);
    regions[i].op.data = &regions[i];
  }

  for (step_now = 1; step_now <= steps; step_now++) {
    struct chan *ch = &chans[rnd(NCHAN)];
    unsigned int what = rnd(20);
    if (what < 7)
      send_start(loop, ch);
    else if (what < 10) {
      if (!ch->recv_on)
        recv_start(loop, ch, 1);
    } else if (what == 10 && ch->recv_on && !ch->recv_cancelled) {
      TRACE("chan %d recv stop", ch->idx);
      evring_stop(loop, &ch->recv);
      CHECK(!ev_is_active(&ch->recv), "channel %d: recv active after evring_stop", ch->idx);
      ch->recv_on = 0;
    } else if (what == 11 && ch->recv_on && !ch->recv_cancelled) {
      TRACE("chan %d recv cancel", ch->idx);
      ch->recv_cancelled = 1;
      evring_cancel(loop, &ch->recv);
    } else if (what < 14 && ch->nkept)
      kept_release(loop, ch, (int)rnd((unsigned int)ch->nkept));
    else if (what < 16)
      pipe_step(loop);
    else if (what < 18)
      file_step(loop);
    else
      accept_step(loop);
    unsigned int run = rnd(4);
    if (run == 1)
      ev_run(loop, EVRUN_NOWAIT);
    else if (run >= 2)
      ev_run(loop, EVRUN_ONCE);
  }

  /* Drain: every receive on, every buffer back, every byte through. */
  step_now = -1;
  for (int c = 0; c < NCHAN; c++) {
    struct chan *ch = &chans[c];
    while (ch->nkept)
      kept_release(loop, ch, 0);
  }
  double end = mono() + 20.;
  while (!everything_sent() && mono() < end) {
    for (int c = 0; c < NCHAN; c++)
      if (!chans[c].recv_on)
        recv_start(loop, &chans[c], 0);
    for (int c = 0; c < NCHAN; c++)
      while (chans[c].nkept)
        kept_release(loop, &chans[c], 0);
    if (!pipe_.r_busy && pipe_.read < pipe_.written) {
      pipe_.r_busy = 1;
      evring_read(loop, &pipe_.r, pipe_.fd[0], pipe_.rbuf, sizeof pipe_.rbuf, -1);
    }
    ev_run(loop, EVRUN_ONCE);
  }
  if (!everything_sent())
    describe();
  CHECK(everything_sent(), "not everything arrived within 20 s");
  CHECK(RUN_UNTIL(loop, regions_idle(), WAIT), "file operations never called back");
  CHECK(RUN_UNTIL(loop, !accept_cancelled, WAIT), "cancelled accept never called back");
  if (!accept_on)
    accept_start(loop);
  CHECK(RUN_UNTIL(loop, extras_connected() && naccepted == NTCP + nextra, WAIT),
        "%d of %d extra connections accepted", naccepted - NTCP, nextra);
  evring_stop(loop, &accept_op);
  accept_on = 0;
  for (int i = 0; i < nextra; i++) {
    close(extras[i].fd);
    close(accepted[NTCP + i]);
  }
  assert_int_equal(close(listen_fd), 0);

  /* The end: shut down every sender (the receiver sees the end of its stream), close all. */
  step_now = -2;
  struct result shut[NCHAN];
  for (int c = 0; c < NCHAN; c++) {
    if (chans[c].recv_deadline && chans[c].recv_on) {
      evring_stop(loop, &chans[c].recv);
      chans[c].recv_on = 0;
    }
    if (!chans[c].recv_on)
      recv_start(loop, &chans[c], 0);
    chans[c].eof_expected = 1;
    shut[c] = (struct result){.done = 0};
    evring_op_init(&shut[c].op, on_result);
    evring_shutdown(loop, &shut[c].op, chans[c].fd[0], SHUT_WR);
  }
  CHECK(RUN_UNTIL(loop, all_eof(), WAIT), "the end of stream did not arrive everywhere");
  for (int c = 0; c < NCHAN; c++) {
    CHECK(shut[c].done && shut[c].res == 0, "channel %d: shutdown gave %zd", c, shut[c].res);
    while (chans[c].nkept)
      kept_release(loop, &chans[c], 0);
    CHECK(!ev_is_active(&chans[c].recv), "channel %d: recv active after its end", c);
    close_by_op(loop, chans[c].fd[0]);
    close_by_op(loop, chans[c].fd[1]);
  }
  close_by_op(loop, pipe_.fd[0]);
  close_by_op(loop, pipe_.fd[1]);
  close_by_op(loop, file_fd);
  ev_timer_stop(loop, &tick);
  /* Nothing is left to keep the loop running. */
  CHECK(ev_run(loop, 0) == 0, "ev_run found active operations at the end");
  ev_loop_destroy(loop);
}

static void seed_range(unsigned int *from, unsigned int *to)
{
  const char *s = getenv("EVRING_OPSFUZZ_SEEDS");
  *from = 1;
  *to = 16;
  if (s && sscanf(s, "%u-%u", from, to) == 1)
    *to = *from;
}

static void random_programs_body(void)
{
  unsigned int from, to;
  seed_range(&from, &to);
  const char *st = getenv("EVRING_OPSFUZZ_STEPS");
  int steps = st ? atoi(st) : 250;
  for (unsigned int seed = from; seed <= to; seed++)
    run_program(seed, steps);
}

static void random_operation_programs_lose_no_byte_and_end_every_operation(void **state)
{
  each_mask(random_programs_body);
}

int main(void)
{
  masks_init();
  signal(SIGPIPE, SIG_DFL);
  trace = getenv("EVRING_OPSFUZZ_TRACE") != NULL;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(random_operation_programs_lose_no_byte_and_end_every_operation),
  };
  return TEST_MAIN("opsfuzz", tests);
}
