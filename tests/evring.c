/* evring.c - the completion I/O API of include/evring.h, tested from its header comments.
 *
 * Run by make check once per backend like every test program: the same calls must give the
 * same results on select, poll, epoll (readiness plus non-blocking system calls) and
 * io_uring (the ring does the I/O). On io_uring every test repeats its body under each
 * EVRING_IOURING_DISABLE mask of tests/evring_test.h (the backend reads it when a loop is created), so that the
 * ring's paths for older kernels (single-shot accept and recv, no buffer ring, no SEND_ZC, per-fd
 * polls) and the readiness mode on an io_uring loop ("ring_ops") all run on this kernel. Under a
 * mask already in the environment (tests/iouring-masks.sh: the ring's readiness paths) the tests
 * run once, under that mask.
 *
 * Callbacks only record; the test bodies assert afterwards. Every wait has a generous limit
 * (WAIT seconds) that only a failing test reaches; the few tests about deadlines check lower
 * bounds of elapsed time, which load cannot break. Bodies that need another process (fork,
 * rlimits, SIGPIPE, possible aborts) report through exit codes and never use cmocka there. */
#include "evring_test.h"

static int expect_ring_mode(void)
{
  return test_backend() == EVBACKEND_IOURING && !strstr(current_mask, "ring_ops");
}

/* Let the loop run for a while (to see that nothing happens). */
static void run_for(struct ev_loop *loop, double seconds)
{
  RUN_UNTIL(loop, 0, seconds);
}

/* ---------------------------------------------------------------------------------------- */
/* Data, sockets */

static int is_filled(const unsigned char *p, size_t n, unsigned char c)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != c)
      return 0;
  return 1;
}

static void set_sndbuf(int fd, int bytes)
{
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0);
}

/* A port on 127.0.0.1 that refuses connections while *holder stays open (bound, not
 * listening: nobody else can take it meanwhile). */
static struct sockaddr_in refusing_address(int *holder)
{
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  *holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(*holder >= 0);
  assert_int_equal(bind(*holder, (struct sockaddr *)&addr, sizeof addr), 0);
  socklen_t len = sizeof addr;
  assert_int_equal(getsockname(*holder, (struct sockaddr *)&addr, &len), 0);
  return addr;
}

static int fd_is_open(int fd)
{
  return fcntl(fd, F_GETFD) != -1;
}

/* Bytes waiting to be read on fd, read now (non-blocking) into buf. */
static ssize_t read_now(int fd, void *buf, size_t n)
{
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 1000) <= 0)
    return -1;
  return read(fd, buf, n);
}

/* ---------------------------------------------------------------------------------------- */
/* Recorders */

/* An operation and what its callbacks reported. For receiving operations the data is checked
 * against stream `seed` as it arrives. */
struct rec {
  evring_op op;
  int calls;          /* callbacks */
  int finals;         /* callbacks without EVRING_MORE */
  int bad_revents;    /* callbacks whose revents was not EVRING_DONE */
  int bad_active;     /* callbacks where ev_is_active disagreed with EVRING_MORE */
  ssize_t res;        /* last result */
  ssize_t first_res;
  unsigned int flags; /* last flags */
  int errors;         /* callbacks with res < 0 */
  double when;        /* mono() of the last callback */
  int last_fd, last_kind;
  /* receiving */
  unsigned int seed;
  uint64_t bytes;     /* bytes received */
  int bad_data;       /* chunks that were not the expected bytes */
  ssize_t max_chunk;
  int null_buf;       /* chunks without op->buf */
  /* behaviour */
  int stop_at;        /* evring_stop from callback number stop_at */
  int keep;           /* keep every receive buffer */
  int nkept;          /* buffers kept so far; buffer k is in kept[k % 256] */
  char *kept[256];
  ssize_t kept_len[256];
  uint64_t kept_from[256];
};

static void rec_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct rec *r = (struct rec *)op;
  r->calls++;
  r->when = mono();
  if (revents != EVRING_DONE)
    r->bad_revents++;
  if (!!ev_is_active(op) != !!(op->flags & EVRING_MORE))
    r->bad_active++;
  if (!(op->flags & EVRING_MORE))
    r->finals++;
  if (r->calls == 1)
    r->first_res = op->res;
  r->res = op->res;
  r->flags = op->flags;
  r->last_fd = op->fd;
  r->last_kind = op->kind;
  if (op->res < 0)
    r->errors++;
  if (op->kind == EVRING_K_RECV && op->res > 0) {
    if (!op->buf)
      r->null_buf++;
    else if (r->keep) {
      int k = r->nkept++ % 256;
      r->kept_from[k] = r->bytes;
      r->kept_len[k] = op->res;
      r->kept[k] = evring_buf_keep(loop, op);
    } else if (!is_pattern(op->buf, (size_t)op->res, r->bytes, r->seed))
      r->bad_data++;
    if (op->res > r->max_chunk)
      r->max_chunk = op->res;
    r->bytes += (uint64_t)op->res;
  }
  if (r->stop_at && r->calls == r->stop_at)
    evring_stop(loop, op);
}

static void rec_init(struct rec *r, unsigned int seed)
{
  memset(r, 0, sizeof *r);
  r->seed = seed;
  evring_op_init(&r->op, rec_cb);
}

/* Writes stream `seed` to its fd whenever writable, one write of a varying size per callback,
 * and optionally closes the fd at the end. */
struct feeder {
  ev_io io;
  uint64_t total, sent;
  unsigned int seed;
  size_t piece;
  int close_at_end;
  int writes;
};

static void feeder_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct feeder *f = (struct feeder *)w;
  static unsigned char buf[65536];
  size_t n = f->piece / 2 + (size_t)(f->writes++ * 7919) % f->piece;
  if (n > sizeof buf)
    n = sizeof buf;
  if (n > f->total - f->sent)
    n = (size_t)(f->total - f->sent);
  fill_pattern(buf, n, f->sent, f->seed);
  ssize_t k = write(w->fd, buf, n);
  if (k > 0)
    f->sent += (uint64_t)k;
  if (f->sent == f->total) {
    ev_io_stop(loop, w);
    if (f->close_at_end)
      close(w->fd);
  }
}

static void feeder_start(struct ev_loop *loop, struct feeder *f, int fd, uint64_t total,
                         unsigned int seed, size_t piece)
{
  memset(f, 0, sizeof *f);
  f->total = total;
  f->seed = seed;
  f->piece = piece;
  ev_io_init(&f->io, feeder_cb, fd, EV_WRITE);
  ev_io_start(loop, &f->io);
}

/* Reads its fd whenever readable, at most `max` bytes per callback, and checks the bytes
 * against stream `seed`. */
struct drainer {
  ev_io io;
  uint64_t got;
  unsigned int seed;
  size_t max;
  int unchecked; /* count the bytes only */
  int bad, eof;
};

static void drainer_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct drainer *d = (struct drainer *)w;
  static unsigned char buf[65536];
  size_t n = d->max < sizeof buf ? d->max : sizeof buf;
  ssize_t k = read(w->fd, buf, n);
  if (k > 0) {
    if (!d->unchecked && !is_pattern(buf, (size_t)k, d->got, d->seed))
      d->bad++;
    d->got += (uint64_t)k;
  } else if (k == 0) {
    d->eof = 1;
    ev_io_stop(loop, w);
  }
}

static void drainer_start(struct ev_loop *loop, struct drainer *d, int fd, unsigned int seed,
                          size_t max)
{
  memset(d, 0, sizeof *d);
  d->seed = seed;
  d->max = max;
  ev_io_init(&d->io, drainer_cb, fd, EV_READ);
  ev_io_start(loop, &d->io);
}

/* ---------------------------------------------------------------------------------------- */
/* Basics */

/* evring_op_init: inactive, not pending, priority 0, no deadline, the callback set */
static void op_init_prepares_an_inactive_op_of_priority_zero(void **state)
{
  evring_op op;
  memset(&op, 0x5a, sizeof op);
  evring_op_init(&op, rec_cb);
  assert_false(ev_is_active(&op));
  assert_false(ev_is_pending(&op));
  assert_int_equal(ev_priority(&op), 0);
  assert_true(op.deadline == 0);
  assert_true(op.cb == rec_cb);
}

/* evring_mode: the ring on io_uring unless its operations are masked, readiness elsewhere */
EVTEST(mode_is_ring_on_iouring_and_readiness_elsewhere)
{
  struct ev_loop *loop = test_loop(0);
  int want = expect_ring_mode() ? EVRING_MODE_RING : EVRING_MODE_READINESS;
  if (evring_mode(loop) != want)
    fail_msg("evring_mode = %d, expected %d", evring_mode(loop), want);
  ev_loop_destroy(loop);
}

/* The start function records the request: op->fd and op->kind, in the callback too */
EVTEST(start_records_fd_and_kind)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  test_put(p[1], "x");
  char c;
  struct rec r;
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], &c, 1, -1);
  assert_int_equal(r.op.fd, p[0]);
  assert_int_equal(r.op.kind, EVRING_K_READ);
  assert_true(RUN_UNTIL(loop, r.calls == 1, WAIT));
  assert_int_equal(r.last_fd, p[0]);
  assert_int_equal(r.last_kind, EVRING_K_READ);
  assert_int_equal(r.res, 1);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Accept */

struct acceptor {
  struct rec r;
  int fds[64];
  int n;
  int bad_flags; /* new fds whose O_NONBLOCK / FD_CLOEXEC differ from what was asked */
  int want_nonblock, want_cloexec;
  int restore_nofile; /* on -EMFILE: raise RLIMIT_NOFILE again */
  int emfile_more;    /* -EMFILE callbacks that had EVRING_MORE */
  int emfile;
};

static void acceptor_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct acceptor *a = (struct acceptor *)op;
  rec_cb(loop, op, revents);
  if (op->res >= 0) {
    int fd = (int)op->res;
    int nb = !!(fcntl(fd, F_GETFL) & O_NONBLOCK);
    int ce = !!(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    if (nb != a->want_nonblock || ce != a->want_cloexec)
      a->bad_flags++;
    if (a->n < 64)
      a->fds[a->n++] = fd;
  } else if (op->res == -EMFILE) {
    a->emfile++;
    if (op->flags & EVRING_MORE)
      a->emfile_more++;
    if (a->restore_nofile) {
      struct rlimit rl;
      getrlimit(RLIMIT_NOFILE, &rl);
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
}

static void acceptor_init(struct acceptor *a, int flags)
{
  memset(a, 0, sizeof *a);
  evring_op_init(&a->r.op, acceptor_cb);
  a->want_nonblock = !!(flags & SOCK_NONBLOCK);
  a->want_cloexec = !!(flags & SOCK_CLOEXEC);
}

static int local_port_of(int fd)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  return ntohs(a.sin_port);
}

static int peer_port_of(int fd)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getpeername(fd, (struct sockaddr *)&a, &len))
    return -1;
  return ntohs(a.sin_port);
}

/* Multishot accept: N connections give N callbacks with EVRING_MORE and a new fd each, with
 * the flags asked for; evring_stop ends it, and the listening socket works after */
EVTEST(accept_reports_each_connection_until_stopped)
{
  enum { N = 10 };
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int clients[N];
  for (int i = 0; i < N / 2; i++) /* waiting in the backlog before the start */
    clients[i] = tcp_client(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK | SOCK_CLOEXEC);
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK | SOCK_CLOEXEC);
  assert_true(ev_is_active(&a.r.op));
  test_run_nowait(loop, 3);
  for (int i = N / 2; i < N; i++) /* arriving while it is active */
    clients[i] = tcp_client(&addr);
  if (!RUN_UNTIL(loop, a.n == N || a.r.finals, WAIT))
    fail_msg("%d connections accepted of %d: %d callbacks, %d final, last res %zd", a.n, N,
             a.r.calls, a.r.finals, a.r.res);
  assert_int_equal(a.r.calls, N);
  assert_int_equal(a.n, N);
  assert_int_equal(a.r.finals, 0);
  assert_int_equal(a.r.errors, 0);
  assert_int_equal(a.r.bad_revents, 0);
  assert_int_equal(a.r.bad_active, 0);
  assert_int_equal(a.bad_flags, 0);
  assert_true(ev_is_active(&a.r.op));
  /* every client's connection, once each */
  for (int i = 0; i < N; i++) {
    int port = local_port_of(clients[i]), found = 0;
    for (int j = 0; j < N; j++)
      found += peer_port_of(a.fds[j]) == port;
    assert_int_equal(found, 1);
  }

  evring_stop(loop, &a.r.op);
  assert_false(ev_is_active(&a.r.op));
  int late = tcp_client(&addr);
  run_for(loop, 0.05);
  assert_int_equal(a.r.calls, N);
  int fd = accept_within(lfd, 2000);
  assert_true(fd >= 0);
  assert_int_equal(peer_port_of(fd), local_port_of(late));

  ev_loop_destroy(loop);
  close(fd);
  close(late);
  for (int i = 0; i < N; i++) {
    close(clients[i]);
    close(a.fds[i]);
  }
  close(lfd);
}

/* accept with flags 0: the new fds are blocking and inherited across exec */
EVTEST(accept_without_flags_gives_blocking_inheritable_fds)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int c = tcp_client(&addr);
  struct acceptor a;
  acceptor_init(&a, 0);
  evring_accept(loop, &a.r.op, lfd, 0);
  assert_true(RUN_UNTIL(loop, a.r.calls >= 1, WAIT));
  assert_int_equal(a.n, 1);
  assert_int_equal(a.bad_flags, 0);
  evring_stop(loop, &a.r.op);
  ev_loop_destroy(loop);
  close(a.fds[0]);
  close(c);
  close(lfd);
}

/* Stopped from its first callback with more connections waiting: exactly one callback, and no
 * connection is lost in between: each is still in the backlog or was closed (never an fd
 * left open that nobody knows of) */
EVTEST(accept_stopped_in_its_callback_loses_no_connection)
{
  enum { N = 4 };
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int clients[N];
  for (int i = 0; i < N; i++)
    clients[i] = tcp_client(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK | SOCK_CLOEXEC);
  a.r.stop_at = 1;
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK | SOCK_CLOEXEC);
  assert_true(RUN_UNTIL(loop, a.r.calls >= 1, WAIT));
  run_for(loop, 0.05);
  assert_int_equal(a.r.calls, 1);
  assert_false(ev_is_active(&a.r.op));
  ev_loop_destroy(loop);
  /* the program accepts and closes what is left; every client then sees the end */
  int fd;
  while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
    close(fd);
  close(a.fds[0]);
  for (int i = 0; i < N; i++) {
    if (!test_peer_sees_eof(clients[i], 2000))
      fail_msg("client %d of %d does not see its connection end: an accepted fd leaked", i, N);
    close(clients[i]);
  }
  close(lfd);
}

/* Connections accepted but not yet reported (their results wait in the pending queue, which
 * the loop is kept from invoking) when the accept is stopped: the next accept on the socket
 * reports every one of them, as the kernel's backlog would have kept them for an ev_io
 * program. When the loop is destroyed instead, they are closed by the library, never left
 * open with nobody knowing the fd. */
static void invoke_nothing(struct ev_loop *loop)
{
  (void)loop;
}

static void unreported_connections(int destroy)
{
  enum { N = 3 };
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int clients[N];
  for (int i = 0; i < N; i++)
    clients[i] = tcp_client(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK);
  ev_set_invoke_pending_cb(loop, invoke_nothing);
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  assert_true(RUN_UNTIL(loop, ev_is_pending(&a.r.op), WAIT));
  test_run_nowait(loop, 3);
  if (destroy)
    ev_loop_destroy(loop);
  else {
    evring_stop(loop, &a.r.op);
    run_for(loop, 0.02);
    assert_int_equal(a.r.calls, 0);
    ev_set_invoke_pending_cb(loop, ev_invoke_pending);
    evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
    assert_true(RUN_UNTIL(loop, a.n >= N, WAIT));
    run_for(loop, 0.02);
    assert_int_equal(a.n, N);
    assert_int_equal(a.r.errors, 0);
    assert_int_equal(a.bad_flags, 0);
    evring_stop(loop, &a.r.op);
    for (int i = 0; i < a.n; i++)
      close(a.fds[i]);
  }
  assert_int_equal(a.r.calls, destroy ? 0 : N);
  int fd;
  while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
    close(fd);
  for (int i = 0; i < N; i++) {
    if (!test_peer_sees_eof(clients[i], 2000))
      fail_msg("client %d of %d does not see its connection end after %s: an accepted fd "
               "leaked", i, N, destroy ? "ev_loop_destroy" : "the connections were closed");
    close(clients[i]);
  }
  if (!destroy)
    ev_loop_destroy(loop);
  close(lfd);
}

EVTEST(accept_stopped_then_started_again_reports_the_connections_it_had_accepted)
{
  unreported_connections(0);
}

EVTEST(loop_destroy_closes_accepted_fds_not_yet_reported)
{
  unreported_connections(1);
}

/* An idle deadline on accept: -ETIMEDOUT, the end of the operation */
EVTEST(accept_deadline_ends_it_with_etimedout)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK);
  evring_op_set_deadline(&a.r.op, 0.05);
  ev_now_update(loop); /* a deadline counts from the loop's time, like a timer */
  double t0 = mono();
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  assert_true(RUN_UNTIL(loop, a.r.calls >= 1, WAIT));
  assert_true(a.r.when - t0 >= 0.045);
  assert_int_equal(a.r.calls, 1);
  assert_int_equal(a.r.res, -ETIMEDOUT);
  assert_false(a.r.flags & EVRING_MORE);
  assert_false(ev_is_active(&a.r.op));
  /* the listening socket still accepts */
  int c = tcp_client(&addr);
  int fd = accept_within(lfd, 2000);
  assert_true(fd >= 0);
  ev_loop_destroy(loop);
  close(fd);
  close(c);
  close(lfd);
}

/* Out of fds: -EMFILE with EVRING_MORE, then the waiting connections once fds are free again.
 * In a child (it lowers RLIMIT_NOFILE). */
static void accept_emfile_child(void *arg)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop && ev_backend(loop) == test_backend());
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  socklen_t len = sizeof addr;
  CHILD_CHECK(bind(lfd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(lfd, 16) == 0);
  CHILD_CHECK(getsockname(lfd, (struct sockaddr *)&addr, &len) == 0);
  int c[3];
  for (int i = 0; i < 3; i++) {
    c[i] = socket(AF_INET, SOCK_STREAM, 0);
    CHILD_CHECK(connect(c[i], (struct sockaddr *)&addr, sizeof addr) == 0);
  }
  for (int i = 0; i < 3; i++)
    ev_run(loop, EVRUN_NOWAIT);
  /* no fd number left: the lowest free one is the limit */
  int lowest = open("/dev/null", O_RDONLY);
  CHILD_CHECK(lowest >= 0);
  close(lowest);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = (rlim_t)lowest;
  CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);

  struct acceptor a;
  memset(&a, 0, sizeof a);
  evring_op_init(&a.r.op, acceptor_cb);
  a.want_nonblock = 1;
  a.restore_nofile = 1;
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  double end = mono() + WAIT;
  ev_timer guard;
  ev_timer_init(&guard, guard_cb, 0.01, 0.01);
  ev_timer_start(loop, &guard);
  while (a.n < 3 && !a.r.finals && mono() < end)
    ev_run(loop, EVRUN_ONCE);
  CHILD_CHECK(a.emfile >= 1);
  CHILD_CHECK(a.emfile_more == a.emfile);
  CHILD_CHECK(a.r.finals == 0);
  CHILD_CHECK(a.n == 3);
  CHILD_CHECK(a.bad_flags == 0);
  CHILD_CHECK(ev_is_active(&a.r.op));
}

EVTEST(accept_reports_emfile_and_goes_on_accepting)
{
  char how[64];
  int status = test_run_child(accept_emfile_child, NULL, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child: %s", how);
}

/* ---------------------------------------------------------------------------------------- */
/* Connect */

/* Connect to a listening socket: 0, the end of the operation; the address was copied at the
 * call (overwritten before the loop runs) */
EVTEST(connect_to_a_listening_socket_succeeds)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in copy = addr;
  struct rec r;
  rec_init(&r, 0);
  evring_connect(loop, &r.op, fd, (struct sockaddr *)&copy, sizeof copy);
  memset(&copy, 0xff, sizeof copy);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, 0);
  assert_int_equal(r.bad_revents, 0);
  assert_int_equal(r.bad_active, 0);
  assert_false(ev_is_active(&r.op));
  int s = accept_within(lfd, 2000);
  assert_true(s >= 0);
  assert_int_equal(peer_port_of(s), local_port_of(fd));
  ev_loop_destroy(loop);
  close(s);
  close(fd);
  close(lfd);
}

/* Connect to a port nobody listens on: -ECONNREFUSED */
EVTEST(connect_to_a_closed_port_is_refused)
{
  struct ev_loop *loop = test_loop(0);
  int holder;
  struct sockaddr_in addr = refusing_address(&holder);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct rec r;
  rec_init(&r, 0);
  evring_connect(loop, &r.op, fd, (struct sockaddr *)&addr, sizeof addr);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.calls, 1);
  if (r.res != -ECONNREFUSED)
    fail_msg("res = %zd, expected -ECONNREFUSED", r.res);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(fd);
  close(holder);
}

/* Connect to a listener whose backlog is full (the kernel drops the SYN, the connect waits
 * for a retransmission a second later) with a deadline: -ETIMEDOUT */
EVTEST(connect_deadline_ends_it_with_etimedout)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  assert_int_equal(listen(lfd, 0), 0); /* backlog 0: one connection fills it */
  int filler = tcp_client(&addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct rec r;
  rec_init(&r, 0);
  evring_op_set_deadline(&r.op, 0.1);
  ev_now_update(loop); /* a deadline counts from the loop's time, like a timer */
  double t0 = mono();
  evring_connect(loop, &r.op, fd, (struct sockaddr *)&addr, sizeof addr);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.calls, 1);
  if (r.res != -ETIMEDOUT)
    fail_msg("res = %zd after %.3f s, expected -ETIMEDOUT", r.res, r.when - t0);
  assert_true(r.when - t0 >= 0.09);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(fd);
  close(filler);
  close(lfd);
}

/* ---------------------------------------------------------------------------------------- */
/* Deadlines */

/* recv with nothing sent and a deadline: -ETIMEDOUT not before the deadline, the operation
 * ended, and data sent afterwards is still the program's to read */
EVTEST(recv_deadline_ends_it_with_etimedout)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_op_set_deadline(&r.op, 0.05);
  ev_now_update(loop); /* a deadline counts from the loop's time, like a timer */
  double t0 = mono();
  evring_recv(loop, &r.op, sv[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_true(r.when - t0 >= 0.045);
  assert_int_equal(r.calls, 1);
  if (r.res != -ETIMEDOUT)
    fail_msg("res = %zd, expected -ETIMEDOUT", r.res);
  assert_false(r.flags & EVRING_MORE);
  assert_false(ev_is_active(&r.op));
  test_put(sv[1], "after");
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  char buf[16] = {0};
  assert_int_equal(read_now(sv[0], buf, sizeof buf), 5);
  assert_string_equal(buf, "after");
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

struct delayed_put {
  ev_timer t;
  int fd;
  double at;
};

static void delayed_put_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  struct delayed_put *d = (struct delayed_put *)w;
  d->at = mono();
  test_put(d->fd, "x");
}

/* recv's deadline is an idle timeout: it counts from the last result, not from the start */
EVTEST(recv_deadline_counts_from_the_last_result)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  r.seed = 'x'; /* stream 'x' starts with an 'x', the one byte sent */
  struct delayed_put d = {.fd = sv[1]};
  ev_timer_init(&d.t, delayed_put_cb, 0.1, 0);
  evring_op_set_deadline(&r.op, 0.4);
  evring_recv(loop, &r.op, sv[0]);
  ev_timer_start(loop, &d.t);
  assert_true(RUN_UNTIL(loop, r.finals >= 1, WAIT));
  assert_int_equal(r.calls, 2);
  assert_int_equal(r.first_res, 1);
  if (r.res != -ETIMEDOUT)
    fail_msg("res = %zd, expected -ETIMEDOUT", r.res);
  /* a deadline counted from the start would have ended it about 0.3 s after the byte */
  if (r.when - d.at < 0.35)
    fail_msg("timed out %.3f s after the last result, deadline 0.4 s", r.when - d.at);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* read from an empty pipe with a deadline: -ETIMEDOUT; the buffer is not written afterwards
 * and the data stays in the pipe */
EVTEST(read_deadline_ends_it_with_etimedout)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  unsigned char buf[64];
  memset(buf, 0xa5, sizeof buf);
  struct rec r;
  rec_init(&r, 0);
  evring_op_set_deadline(&r.op, 0.05);
  ev_now_update(loop); /* a deadline counts from the loop's time, like a timer */
  double t0 = mono();
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_true(r.when - t0 >= 0.045);
  if (r.res != -ETIMEDOUT)
    fail_msg("res = %zd, expected -ETIMEDOUT", r.res);
  assert_false(ev_is_active(&r.op));
  test_put(p[1], "data");
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  assert_true(is_filled(buf, sizeof buf, 0xa5));
  char got[8] = {0};
  assert_int_equal(read_now(p[0], got, sizeof got), 4);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* An operation that completes in time: its result, and no -ETIMEDOUT after */
EVTEST(deadline_does_not_fire_after_completion)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  test_put(p[1], "abc");
  char buf[8];
  struct rec r;
  rec_init(&r, 0);
  evring_op_set_deadline(&r.op, 0.05);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.15);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, 3);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* A send that cannot finish (the peer never reads) with a deadline: -ETIMEDOUT */
EVTEST(send_deadline_ends_it_with_etimedout)
{
  enum { LEN = 4 << 20 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  char *buf = malloc(LEN);
  assert_non_null(buf);
  memset(buf, 'z', LEN);
  struct rec r;
  rec_init(&r, 0);
  evring_op_set_deadline(&r.op, 0.1);
  ev_now_update(loop); /* a deadline counts from the loop's time, like a timer */
  double t0 = mono();
  evring_send(loop, &r.op, sv[0], buf, LEN, 0);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_true(r.when - t0 >= 0.09);
  assert_int_equal(r.calls, 1);
  if (r.res != -ETIMEDOUT)
    fail_msg("res = %zd, expected -ETIMEDOUT", r.res);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  free(buf);
  close(sv[0]);
  close(sv[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Receive */

/* 1 MiB written in pieces: chunks with EVRING_MORE and every byte in order, then end of
 * stream: res 0, the operation ended */
EVTEST(recv_delivers_every_byte_in_order_then_end_of_stream)
{
  enum { LEN = 1 << 20 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 11);
  evring_recv(loop, &r.op, sv[0]);
  assert_int_equal(r.op.kind, EVRING_K_RECV);
  struct feeder f;
  feeder_start(loop, &f, sv[1], LEN, 11, 9000);
  f.close_at_end = 1;
  assert_true(RUN_UNTIL(loop, r.finals >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(f.sent, LEN);
  assert_int_equal(r.bytes, LEN);
  assert_int_equal(r.bad_data, 0);
  assert_int_equal(r.null_buf, 0);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.finals, 1);
  assert_int_equal(r.res, 0);
  assert_int_equal(r.bad_revents, 0);
  assert_int_equal(r.bad_active, 0);
  assert_int_equal(r.last_fd, sv[0]);
  assert_false(ev_is_active(&r.op));
  assert_true(r.calls > 1);
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* A recv stopped in its first callback while the data behind it had already arrived (an
 * io_uring loop receives ahead of the callbacks), then started again: every byte arrives,
 * once and in order, as with an ev_io watcher stopped and started again */
EVTEST(recv_stopped_and_started_again_loses_no_byte)
{
  enum { LEN = 96 << 10 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  assert_int_equal(evring_set_recv_buffers(loop, 64, 1024), 0);
  char *data = malloc(LEN);
  assert_non_null(data);
  fill_pattern(data, LEN, 0, 23);
  assert_int_equal(write(sv[1], data, LEN), LEN);
  struct rec r;
  rec_init(&r, 23);
  r.stop_at = 1;
  evring_recv(loop, &r.op, sv[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  assert_false(ev_is_active(&r.op));
  r.stop_at = 0;
  evring_recv(loop, &r.op, sv[0]);
  assert_true(RUN_UNTIL(loop, r.bytes >= LEN, WAIT));
  assert_int_equal(r.bytes, LEN);
  assert_int_equal(r.bad_data, 0);
  assert_int_equal(r.errors, 0);
  assert_true(r.max_chunk <= 1024);
  evring_stop(loop, &r.op);
  ev_loop_destroy(loop);
  free(data);
  close(sv[0]);
  close(sv[1]);
}

/* A stopped recv's unreported bytes belong to its socket: a recv on the same fd number after
 * the socket was closed and the number reused for another one gets only the new socket's */
EVTEST(recv_after_the_fd_was_reused_gets_only_the_new_sockets_bytes)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  char *data = malloc(8192);
  assert_non_null(data);
  fill_pattern(data, 8192, 0, 5);
  assert_int_equal(write(sv[1], data, 8192), 8192);
  struct rec r;
  rec_init(&r, 5);
  r.stop_at = 1;
  assert_int_equal(evring_set_recv_buffers(loop, 64, 512), 0);
  evring_recv(loop, &r.op, sv[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  int fd = sv[0];
  close(sv[0]);
  close(sv[1]);
  int nv[2];
  test_sockpair(nv);
  if (nv[0] != fd) { /* the new pair must take the old number */
    assert_int_equal(dup2(nv[0], fd), fd);
    close(nv[0]);
    nv[0] = fd;
  }
  fill_pattern(data, 100, 0, 6);
  assert_int_equal(write(nv[1], data, 100), 100);
  rec_init(&r, 6);
  evring_recv(loop, &r.op, nv[0]);
  assert_true(RUN_UNTIL(loop, r.bytes >= 100, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(r.bytes, 100);
  assert_int_equal(r.bad_data, 0);
  evring_stop(loop, &r.op);
  ev_loop_destroy(loop);
  free(data);
  close(nv[0]);
  close(nv[1]);
}

/* The peer closes at once: one callback, res 0, the operation ended */
EVTEST(recv_end_of_stream_ends_the_operation)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  test_run_nowait(loop, 2);
  close(sv[1]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, 0);
  assert_false(r.flags & EVRING_MORE);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* The peer resets the TCP connection (SO_LINGER 0): -ECONNRESET, the operation ended */
EVTEST(recv_connection_reset_reports_econnreset)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  tcp_pair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[1]);
  test_run_nowait(loop, 2);
  struct linger lg = {1, 0};
  assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  close(sv[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  if (r.res != -ECONNRESET)
    fail_msg("res = %zd, expected -ECONNRESET", r.res);
  assert_false(r.flags & EVRING_MORE);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(sv[1]);
}

/* recv on what is not a socket: what recv(2) says, -ENOTSOCK */
EVTEST(recv_on_a_pipe_reports_enotsock)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  test_put(p[1], "x");
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, p[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.calls, 1);
  if (r.res != -ENOTSOCK)
    fail_msg("res = %zd, expected -ENOTSOCK", r.res);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* With every buffer of a pool of 8 kept, receiving pauses (no callback, no error, no data
 * lost); released, it resumes and every byte arrives in order */
EVTEST(recv_pauses_while_every_buffer_is_kept)
{
  enum { COUNT = 8, SIZE = 4096, LEN = 64 * 1024 };
  struct ev_loop *loop = test_loop(0);
  assert_int_equal(evring_set_recv_buffers(loop, COUNT, SIZE), 0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 23);
  r.keep = 1;
  evring_recv(loop, &r.op, sv[0]);
  struct feeder f;
  feeder_start(loop, &f, sv[1], LEN, 23, 4096);
  assert_true(RUN_UNTIL(loop, r.nkept >= COUNT || r.finals, WAIT));
  run_for(loop, 0.1);
  /* paused: no more than the pool's buffers, the rest waits in the socket */
  if (r.nkept != COUNT)
    fail_msg("%d buffers kept, pool of %d", r.nkept, COUNT);
  assert_int_equal(r.calls, COUNT);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.finals, 0);
  assert_true(r.max_chunk <= SIZE);
  assert_true(r.bytes < LEN);
  assert_true(ev_is_active(&r.op));
  /* the kept buffers still hold their bytes; distinct buffers */
  for (int i = 0; i < r.nkept; i++) {
    assert_true(is_pattern(r.kept[i], (size_t)r.kept_len[i], r.kept_from[i], 23));
    for (int j = 0; j < i; j++)
      assert_true(r.kept[i] != r.kept[j]);
  }
  /* release: receiving resumes, buffers now lent only for the callbacks */
  r.keep = 0;
  for (int i = 0; i < r.nkept; i++)
    evring_buf_release(loop, r.kept[i]);
  r.nkept = 0;
  assert_true(RUN_UNTIL(loop, r.bytes >= LEN || r.finals, WAIT));
  assert_int_equal(r.bytes, LEN);
  assert_int_equal(r.bad_data, 0);
  assert_int_equal(r.errors, 0);
  assert_true(r.max_chunk <= SIZE);
  close(sv[1]);
  assert_true(RUN_UNTIL(loop, r.finals >= 1, WAIT));
  assert_int_equal(r.res, 0);
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* A kept buffer stays the program's after its operation ended: another recv, short of
 * buffers, does not get it before evring_buf_release */
EVTEST(kept_buffer_outlives_its_operation)
{
  enum { LEN = 20000 };
  struct ev_loop *loop = test_loop(0);
  assert_int_equal(evring_set_recv_buffers(loop, 2, 1024), 0);
  int a[2], b[2];
  test_sockpair(a);
  test_sockpair(b);
  struct rec ra, rb;
  rec_init(&ra, 0);
  ra.keep = 1;
  ra.seed = 'k'; /* stream 'k' starts with a 'k' */
  evring_recv(loop, &ra.op, a[0]);
  test_put(a[1], "k");
  assert_true(RUN_UNTIL(loop, ra.nkept >= 1, WAIT));
  evring_stop(loop, &ra.op);
  char *kept = ra.kept[0];
  assert_int_equal(ra.kept_len[0], 1);
  rec_init(&rb, 37);
  evring_recv(loop, &rb.op, b[0]);
  struct feeder f;
  feeder_start(loop, &f, b[1], LEN, 37, 3000);
  f.close_at_end = 1;
  assert_true(RUN_UNTIL(loop, rb.finals >= 1, WAIT));
  assert_int_equal(rb.bytes, LEN);
  assert_int_equal(rb.bad_data, 0);
  assert_true(rb.max_chunk <= 1024);
  assert_int_equal(kept[0], 'k');
  evring_buf_release(loop, kept);
  ev_loop_destroy(loop);
  close(a[0]);
  close(a[1]);
  close(b[0]);
}

/* Buffers kept in one callback and released in a later one, one at a time: nothing lost */
EVTEST(recv_buffers_released_later_are_reused)
{
  enum { LEN = 256 * 1024 };
  struct ev_loop *loop = test_loop(0);
  assert_int_equal(evring_set_recv_buffers(loop, 4, 2048), 0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 5);
  r.keep = 1;
  evring_recv(loop, &r.op, sv[0]);
  struct feeder f;
  feeder_start(loop, &f, sv[1], LEN, 5, 3000);
  uint64_t checked = 0;
  int bad = 0, released = 0;
  double end = mono() + WAIT;
  while (checked < LEN && mono() < end) {
    RUN_UNTIL(loop, r.nkept > released, 0.5);
    /* check and release the oldest kept buffer */
    if (r.nkept > released) {
      int i = released++ % 256;
      if (r.kept_from[i] != checked ||
          !is_pattern(r.kept[i], (size_t)r.kept_len[i], r.kept_from[i], 5))
        bad++;
      checked += (uint64_t)r.kept_len[i];
      evring_buf_release(loop, r.kept[i]);
    }
  }
  assert_int_equal(bad, 0);
  assert_int_equal(checked, LEN);
  assert_int_equal(r.errors, 0);
  assert_true(r.max_chunk <= 2048);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* evring_set_recv_buffers: chunks no larger than the buffer size */
EVTEST(recv_chunks_fit_the_buffer_size)
{
  enum { LEN = 100000 };
  struct ev_loop *loop = test_loop(0);
  assert_int_equal(evring_set_recv_buffers(loop, 16, 1024), 0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 3);
  evring_recv(loop, &r.op, sv[0]);
  struct feeder f;
  feeder_start(loop, &f, sv[1], LEN, 3, 20000);
  f.close_at_end = 1;
  assert_true(RUN_UNTIL(loop, r.finals >= 1, WAIT));
  assert_int_equal(r.bytes, LEN);
  assert_int_equal(r.bad_data, 0);
  assert_int_equal(r.res, 0);
  if (r.max_chunk > 1024)
    fail_msg("a chunk of %zd bytes in buffers of 1024", r.max_chunk);
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* EVRING_RECV_BUFFERS / EVRING_RECV_BUFFER_SIZE replace the defaults */
EVTEST(recv_buffer_size_comes_from_the_environment)
{
  enum { LEN = 20000 };
  setenv("EVRING_RECV_BUFFERS", "16", 1);
  setenv("EVRING_RECV_BUFFER_SIZE", "512", 1);
  struct ev_loop *loop = ev_loop_new(test_backend());
  assert_non_null(loop);
  assert_int_equal(ev_backend(loop), test_backend());
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 9);
  evring_recv(loop, &r.op, sv[0]);
  struct feeder f;
  feeder_start(loop, &f, sv[1], LEN, 9, 8000);
  f.close_at_end = 1;
  int done = RUN_UNTIL(loop, r.finals >= 1, WAIT);
  unsetenv("EVRING_RECV_BUFFERS");
  unsetenv("EVRING_RECV_BUFFER_SIZE");
  assert_true(done);
  assert_int_equal(r.bytes, LEN);
  assert_int_equal(r.bad_data, 0);
  if (r.max_chunk > 512)
    fail_msg("a chunk of %zd bytes with EVRING_RECV_BUFFER_SIZE=512", r.max_chunk);
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* A count that is not a power of two is refused */
EVTEST(set_recv_buffers_refuses_a_count_not_a_power_of_two)
{
  struct ev_loop *loop = test_loop(0);
  int rc = evring_set_recv_buffers(loop, 6, 4096);
  if (rc >= 0)
    fail_msg("evring_set_recv_buffers(6, 4096) = %d, expected -errno", rc);
  assert_int_equal(evring_set_recv_buffers(loop, 8, 4096), 0);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Read and write */

static int temp_file(void)
{
  char path[] = "/tmp/evring-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  return fd;
}

/* At an offset of a regular file: the bytes there, short at the end of file, 0 past it, and
 * the file position untouched */
EVTEST(write_and_read_at_offsets_of_a_file)
{
  struct ev_loop *loop = test_loop(0);
  int fd = temp_file();
  struct rec r;
  rec_init(&r, 0);
  evring_write(loop, &r.op, fd, "hello world", 11, 100);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 11);
  assert_false(ev_is_active(&r.op));
  char buf[32] = {0};
  assert_int_equal(pread(fd, buf, sizeof buf, 100), 11);
  assert_string_equal(buf, "hello world");
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);

  memset(buf, 0, sizeof buf);
  rec_init(&r, 0);
  evring_read(loop, &r.op, fd, buf, 5, 106);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 5);
  assert_string_equal(buf, "world");

  memset(buf, 0, sizeof buf);
  rec_init(&r, 0);
  evring_read(loop, &r.op, fd, buf, sizeof buf, 109); /* short: 2 bytes to the end */
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 2);
  assert_string_equal(buf, "ld");

  rec_init(&r, 0);
  evring_read(loop, &r.op, fd, buf, sizeof buf, 4096); /* past the end */
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 0);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
  ev_loop_destroy(loop);
  close(fd);
}

/* Offset -1 on a regular file: the file's own position, advanced by each read and write */
EVTEST(offset_minus_one_uses_and_advances_the_file_position)
{
  struct ev_loop *loop = test_loop(0);
  int fd = temp_file();
  struct rec r;
  rec_init(&r, 0);
  evring_write(loop, &r.op, fd, "abcdef", 6, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 6);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  char a[4] = {0}, b[4] = {0};
  rec_init(&r, 0);
  evring_read(loop, &r.op, fd, a, 3, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 3);
  rec_init(&r, 0);
  evring_read(loop, &r.op, fd, b, 3, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 3);
  assert_string_equal(a, "abc");
  assert_string_equal(b, "def");
  ev_loop_destroy(loop);
  close(fd);
}

/* A pipe (offset -1): a read waits for data and returns what there is (short), 0 at the end;
 * a write arrives at the other end */
EVTEST(pipe_read_waits_and_may_be_short)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  char buf[100];
  struct rec r;
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 0);
  assert_true(ev_is_active(&r.op));

  struct rec w;
  rec_init(&w, 0);
  evring_write(loop, &w.op, p[1], "0123456789", 10, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1 && w.calls >= 1, WAIT));
  assert_int_equal(w.res, 10);
  assert_int_equal(r.res, 10);
  assert_memory_equal(buf, "0123456789", 10);

  close(p[1]);
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 0);
  ev_loop_destroy(loop);
  close(p[0]);
}

/* ---------------------------------------------------------------------------------------- */
/* Send */

/* 4 MiB through a socket with a small send buffer to a slow reader: sent whole, one callback */
EVTEST(send_larger_than_the_socket_buffer_is_sent_whole)
{
  enum { LEN = 4 << 20 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  unsigned char *buf = malloc(LEN);
  assert_non_null(buf);
  fill_pattern(buf, LEN, 0, 41);
  struct rec r;
  rec_init(&r, 0);
  evring_send(loop, &r.op, sv[0], buf, LEN, 0);
  struct drainer d;
  drainer_start(loop, &d, sv[1], 41, 16384);
  assert_true(RUN_UNTIL(loop, r.calls >= 1 && d.got >= LEN, WAIT));
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, LEN);
  assert_int_equal(d.got, LEN);
  assert_int_equal(d.bad, 0);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  free(buf);
  close(sv[0]);
  close(sv[1]);
}

/* 100 sends (every fifth a sendmsg) of distinct content and size, started back to back on one
 * fd: every one whole, the stream in start order */
struct order_rec {
  struct rec r;
  struct iovec iov[2];
  struct msghdr msg;
};

static int order_calls(const struct order_rec *ops, int n)
{
  int calls = 0;
  for (int i = 0; i < n; i++)
    calls += ops[i].r.calls;
  return calls;
}

EVTEST(sends_started_back_to_back_arrive_in_start_order)
{
  enum { N = 100 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  static struct order_rec ops[N];
  ssize_t want[N];
  size_t total = 0;
  unsigned char *stream = malloc(N * 40000);
  assert_non_null(stream);
  fill_pattern(stream, N * 40000, 0, 77);
  for (int i = 0; i < N; i++) {
    size_t len = 1 + (size_t)(i * 7919) % 39999;
    rec_init(&ops[i].r, 0);
    if (i % 5 == 4) {
      ops[i].iov[0] = (struct iovec){stream + total, len / 2};
      ops[i].iov[1] = (struct iovec){stream + total + len / 2, len - len / 2};
      memset(&ops[i].msg, 0, sizeof ops[i].msg);
      ops[i].msg.msg_iov = ops[i].iov;
      ops[i].msg.msg_iovlen = 2;
      evring_sendmsg(loop, &ops[i].r.op, sv[0], &ops[i].msg, 0);
    } else
      evring_send(loop, &ops[i].r.op, sv[0], stream + total, len, 0);
    want[i] = (ssize_t)len;
    total += len;
  }
  struct drainer d;
  drainer_start(loop, &d, sv[1], 77, 65536);
  RUN_UNTIL(loop, order_calls(ops, N) == N && d.got >= total, WAIT);
  assert_int_equal(order_calls(ops, N), N);
  for (int i = 0; i < N; i++) {
    if (ops[i].r.calls != 1 || ops[i].r.res != want[i])
      fail_msg("send %d: %d callbacks, res %zd, expected %zd", i, ops[i].r.calls, ops[i].r.res,
               want[i]);
  }
  assert_int_equal(d.got, total);
  assert_int_equal(d.bad, 0);
  ev_loop_destroy(loop);
  free(stream);
  close(sv[0]);
  close(sv[1]);
}

/* Three sends on one fd, the middle one cancelled while it waits for the first: -ECANCELED
 * for it, the others whole and in order (the peer gets the first's bytes, then the third's) */
EVTEST(cancel_of_a_waiting_send_keeps_the_others_in_order)
{
  enum { BIG = 1 << 20, SMALL = 1000 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  unsigned char *stream = malloc(BIG + 2 * SMALL);
  assert_non_null(stream);
  fill_pattern(stream, BIG + SMALL, 0, 53);
  memcpy(stream + BIG + SMALL, stream + BIG, SMALL); /* the third sends what follows BIG */
  memset(stream + BIG, 'c', SMALL);                   /* the cancelled one: never seen */
  struct rec first, middle, last;
  rec_init(&first, 0);
  rec_init(&middle, 0);
  rec_init(&last, 0);
  evring_send(loop, &first.op, sv[0], stream, BIG, 0);
  evring_send(loop, &middle.op, sv[0], stream + BIG, SMALL, 0);
  evring_send(loop, &last.op, sv[0], stream + BIG + SMALL, SMALL, 0);
  test_run_nowait(loop, 2);
  assert_int_equal(middle.calls, 0); /* still behind the first */
  evring_cancel(loop, &middle.op);
  struct drainer d;
  drainer_start(loop, &d, sv[1], 53, 65536);
  assert_true(RUN_UNTIL(loop, first.calls && middle.calls && last.calls &&
                                  d.got >= BIG + SMALL, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(first.res, BIG);
  if (middle.res != -ECANCELED)
    fail_msg("the cancelled send: res %zd, expected -ECANCELED", middle.res);
  assert_int_equal(last.res, SMALL);
  assert_int_equal(d.got, BIG + SMALL);
  assert_int_equal(d.bad, 0);
  ev_loop_destroy(loop);
  free(stream);
  close(sv[0]);
  close(sv[1]);
}

/* sendmsg: every iovec, in order, the empty one skipped, one larger than the socket buffer */
EVTEST(sendmsg_sends_every_iovec)
{
  enum { BIG = 1 << 20 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  size_t lens[] = {10, 0, 3000, BIG, 1, 70000};
  size_t total = 0;
  for (size_t i = 0; i < 6; i++)
    total += lens[i];
  unsigned char *stream = malloc(total);
  assert_non_null(stream);
  fill_pattern(stream, total, 0, 99);
  struct iovec iov[6];
  size_t at = 0;
  for (size_t i = 0; i < 6; i++) {
    iov[i] = (struct iovec){stream + at, lens[i]};
    at += lens[i];
  }
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 6};
  struct rec r;
  rec_init(&r, 0);
  evring_sendmsg(loop, &r.op, sv[0], &msg, 0);
  struct drainer d;
  drainer_start(loop, &d, sv[1], 99, 65536);
  assert_true(RUN_UNTIL(loop, r.calls >= 1 && d.got >= total, WAIT));
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, total);
  assert_int_equal(d.got, total);
  assert_int_equal(d.bad, 0);
  ev_loop_destroy(loop);
  free(stream);
  close(sv[0]);
  close(sv[1]);
}

/* The zero-copy callback: the kernel is done with the buffer, so overwriting it in the
 * callback must not change what the peer receives */
struct zerocopy {
  struct rec r;
  unsigned char *buf;
  size_t len;
};

static void zerocopy_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct zerocopy *z = (struct zerocopy *)op;
  rec_cb(loop, op, revents);
  memset(z->buf, 0, z->len);
}

static void zerocopy_on(int sv[2], int use_msg, const char *kind)
{
  enum { LEN = 1 << 20 };
  struct ev_loop *loop = test_loop(0);
  set_sndbuf(sv[0], 65536);
  unsigned char *buf = malloc(LEN);
  assert_non_null(buf);
  fill_pattern(buf, LEN, 0, 61);
  struct zerocopy z;
  rec_init(&z.r, 0);
  z.r.op.cb = zerocopy_cb;
  z.buf = buf;
  z.len = LEN;
  struct rec *r = &z.r;
  struct iovec iov[2] = {{buf, LEN / 3}, {buf + LEN / 3, LEN - LEN / 3}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  if (use_msg)
    evring_sendmsg(loop, &r->op, sv[0], &msg, EVRING_ZEROCOPY);
  else
    evring_send(loop, &r->op, sv[0], buf, LEN, EVRING_ZEROCOPY);
  struct drainer d;
  drainer_start(loop, &d, sv[1], 61, 65536);
  if (!RUN_UNTIL(loop, r->calls >= 1 && d.got >= LEN, WAIT))
    fail_msg("zero-copy %s on %s: %d callbacks (res %zd), peer got %llu of %d bytes",
             use_msg ? "sendmsg" : "send", kind, r->calls, r->res, (unsigned long long)d.got, LEN);
  run_for(loop, 0.02);
  assert_int_equal(r->calls, 1);
  assert_int_equal(r->res, LEN);
  assert_int_equal(d.got, LEN);
  assert_int_equal(d.bad, 0);
  ev_loop_destroy(loop);
  free(buf);
  close(sv[0]);
  close(sv[1]);
}

/* EVRING_ZEROCOPY on TCP and on a unix socket (where the kernel cannot: copied then), with
 * send and sendmsg: the same bytes as a plain send */
EVTEST(zerocopy_send_delivers_the_same_bytes)
{
  int sv[2];
  tcp_pair(sv);
  zerocopy_on(sv, 0, "TCP");
  tcp_pair(sv);
  zerocopy_on(sv, 1, "TCP");
  test_sockpair(sv);
  zerocopy_on(sv, 0, "a unix socket");
  test_sockpair(sv);
  zerocopy_on(sv, 1, "a unix socket");
}

/* Send to a peer that has closed: -EPIPE, and no SIGPIPE (default action: the child would
 * die of it) */
static void epipe_child(void *arg)
{
  signal(SIGPIPE, SIG_DFL);
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop && ev_backend(loop) == test_backend());
  int sv[2];
  CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  close(sv[1]);
  struct rec a, b;
  rec_init(&a, 0);
  rec_init(&b, 0);
  evring_send(loop, &a.op, sv[0], "hello", 5, 0);
  struct iovec iov = {"world", 5};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  evring_sendmsg(loop, &b.op, sv[0], &msg, 0);
  double end = mono() + WAIT;
  ev_timer guard;
  ev_timer_init(&guard, guard_cb, 0.01, 0.01);
  ev_timer_start(loop, &guard);
  while ((a.calls < 1 || b.calls < 1) && mono() < end)
    ev_run(loop, EVRUN_ONCE);
  CHILD_CHECK(a.calls == 1 && a.res == -EPIPE);
  CHILD_CHECK(b.calls == 1 && b.res == -EPIPE);
}

EVTEST(send_to_a_closed_peer_fails_with_epipe_without_sigpipe)
{
  char how[64];
  int status = test_run_child(epipe_child, NULL, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child: %s", how);
}

/* ---------------------------------------------------------------------------------------- */
/* Close and shutdown */

/* shutdown(SHUT_WR): 0, and the peer sees end of file while the socket stays open */
EVTEST(shutdown_write_gives_the_peer_end_of_file)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_shutdown(loop, &r.op, sv[0], SHUT_WR);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 0);
  assert_false(ev_is_active(&r.op));
  assert_true(test_peer_sees_eof(sv[1], 1000));
  assert_true(fd_is_open(sv[0]));
  /* the other direction still works */
  test_put(sv[1], "back");
  char buf[8] = {0};
  assert_int_equal(read_now(sv[0], buf, sizeof buf), 4);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* close: 0, the fd is closed (F_GETFD fails with EBADF), the peer sees the end */
EVTEST(close_op_closes_the_fd)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_close(loop, &r.op, sv[0]);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.res, 0);
  assert_false(ev_is_active(&r.op));
  errno = 0;
  assert_int_equal(fcntl(sv[0], F_GETFD), -1);
  assert_int_equal(errno, EBADF);
  assert_true(test_peer_sees_eof(sv[1], 1000));
  ev_loop_destroy(loop);
  close(sv[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Stop */

/* A pending recv stopped: inactive at once, no callback, and data sent afterwards is left in
 * the socket for the program */
EVTEST(stop_of_a_pending_recv_leaves_the_data_to_the_program)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  test_run_nowait(loop, 3);
  evring_stop(loop, &r.op);
  assert_false(ev_is_active(&r.op));
  assert_false(ev_is_pending(&r.op));
  test_put(sv[1], "abc");
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 0);
  char buf[8] = {0};
  assert_int_equal(read_now(sv[0], buf, sizeof buf), 3);
  assert_string_equal(buf, "abc");
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* A pending read into the program's buffer stopped: the buffer is not written afterwards, no
 * callback, the data stays in the pipe */
EVTEST(stop_of_a_pending_read_leaves_the_buffer_untouched)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  unsigned char buf[256];
  memset(buf, 0xa5, sizeof buf);
  struct rec r;
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  test_run_nowait(loop, 3);
  evring_stop(loop, &r.op);
  assert_false(ev_is_active(&r.op));
  test_put(p[1], "some data that must not land in the buffer");
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 0);
  assert_true(is_filled(buf, sizeof buf, 0xa5));
  char got[64] = {0};
  assert_int_equal(read_now(p[0], got, sizeof got), 42);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* A pending write stopped before the loop ran: nothing after, and the buffer may be reused */
EVTEST(stop_of_a_pending_send_ends_it_without_callback)
{
  enum { LEN = 1 << 20 };
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  set_sndbuf(sv[0], 16384);
  char *buf = malloc(LEN);
  assert_non_null(buf);
  memset(buf, 's', LEN);
  struct rec r, after;
  rec_init(&r, 0);
  rec_init(&after, 0);
  evring_send(loop, &r.op, sv[0], buf, LEN, 0);
  test_run_nowait(loop, 3); /* part sent, the socket full, the peer not reading */
  evring_stop(loop, &r.op);
  assert_false(ev_is_active(&r.op));
  memset(buf, 'X', LEN);
  free(buf);
  /* a later send on the fd is not held up by the stopped one */
  struct drainer d;
  drainer_start(loop, &d, sv[1], 0, 65536);
  d.unchecked = 1;
  evring_send(loop, &after.op, sv[0], "end", 3, 0);
  assert_true(RUN_UNTIL(loop, after.calls >= 1, WAIT));
  assert_int_equal(after.res, 3);
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 0);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* Stopped from its own callback (multishot recv, more data coming): that one callback only */
EVTEST(stop_from_a_multishot_callback_ends_it)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 13);
  r.stop_at = 1;
  evring_recv(loop, &r.op, sv[0]);
  struct feeder f;
  feeder_start(loop, &f, sv[1], 30000, 13, 3000); /* fits in the socket buffer */
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_true(RUN_UNTIL(loop, f.sent == f.total, WAIT));
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 1);
  assert_true(r.res > 0);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* After evring_stop the fd can be closed at once: the peer sees the end (no request of the
 * library keeps the file open) */
EVTEST(stop_then_close_gives_the_peer_end_of_file)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  test_run_nowait(loop, 3);
  evring_stop(loop, &r.op);
  close(sv[0]);
  if (!test_peer_sees_eof(sv[1], 1000))
    fail_msg("the peer does not see the end after stop and close");
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 0);
  ev_loop_destroy(loop);
  close(sv[1]);
}

/* evring_stop and evring_cancel of an operation never started, or already finished: nothing */
EVTEST(stop_or_cancel_of_an_inactive_op_does_nothing)
{
  struct ev_loop *loop = test_loop(0);
  struct rec r;
  rec_init(&r, 0);
  evring_stop(loop, &r.op);
  evring_cancel(loop, &r.op);
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 0);
  assert_false(ev_is_active(&r.op));

  int p[2];
  make_pipe(p);
  test_put(p[1], "ab");
  char buf[4];
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  evring_stop(loop, &r.op);
  evring_cancel(loop, &r.op);
  evring_stop(loop, &r.op);
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, 2);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Cancel */

/* A recv waiting for data cancelled: one callback, -ECANCELED, the operation ended; the data
 * sent afterwards is left in the socket */
EVTEST(cancel_reports_ecanceled_once)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  test_run_nowait(loop, 3);
  evring_cancel(loop, &r.op);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 1);
  if (r.res != -ECANCELED)
    fail_msg("res = %zd, expected -ECANCELED", r.res);
  assert_false(r.flags & EVRING_MORE);
  assert_int_equal(r.bad_active, 0);
  assert_false(ev_is_active(&r.op));
  test_put(sv[1], "xyz");
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  char buf[8] = {0};
  assert_int_equal(read_now(sv[0], buf, sizeof buf), 3);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* A multishot accept cancelled while waiting: one final callback, -ECANCELED */
EVTEST(cancel_of_a_waiting_accept_reports_ecanceled)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK);
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  test_run_nowait(loop, 3);
  evring_cancel(loop, &a.r.op);
  assert_true(RUN_UNTIL(loop, a.r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(a.r.calls, 1);
  if (a.r.res != -ECANCELED)
    fail_msg("res = %zd, expected -ECANCELED", a.r.res);
  assert_false(a.r.flags & EVRING_MORE);
  assert_false(ev_is_active(&a.r.op));
  ev_loop_destroy(loop);
  close(lfd);
}

/* Cancelled in the iteration in which the loop's ring is replaced by a bigger one (300 fds
 * more to watch: per-fd polls need a bigger ring): the cancellation is not lost with the old
 * ring, the accept ends with -ECANCELED */
static void idle_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
}

EVTEST(cancel_in_the_iteration_the_ring_grows_reports_ecanceled)
{
  enum { N = 300 };
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK);
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  test_run_nowait(loop, 3);
  static int p[N][2];
  static ev_io w[N];
  for (int i = 0; i < N; i++) {
    make_pipe(p[i]);
    ev_io_init(&w[i], idle_io_cb, p[i][0], EV_READ);
    ev_io_start(loop, &w[i]);
  }
  evring_cancel(loop, &a.r.op);
  assert_true(RUN_UNTIL(loop, a.r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(a.r.calls, 1);
  if (a.r.res != -ECANCELED)
    fail_msg("res = %zd, expected -ECANCELED", a.r.res);
  assert_false(ev_is_active(&a.r.op));
  for (int i = 0; i < N; i++) {
    ev_io_stop(loop, &w[i]);
    close(p[i][0]);
    close(p[i][1]);
  }
  ev_loop_destroy(loop);
  close(lfd);
}

/* Cancelled right after the start, before the loop ran: -ECANCELED too */
EVTEST(cancel_right_after_the_start_reports_ecanceled)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  unsigned char buf[16];
  memset(buf, 0xa5, sizeof buf);
  struct rec r;
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  evring_cancel(loop, &r.op);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(r.calls, 1);
  if (r.res != -ECANCELED)
    fail_msg("res = %zd, expected -ECANCELED", r.res);
  assert_false(ev_is_active(&r.op));
  test_put(p[1], "late");
  run_for(loop, 0.02);
  assert_true(is_filled(buf, sizeof buf, 0xa5));
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* An operation that can complete at once, cancelled: one callback, either its result or
 * -ECANCELED, and inactive after */
EVTEST(cancel_of_an_op_that_completes_reports_one_result)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  test_put(p[1], "ready");
  char buf[16];
  struct rec r;
  rec_init(&r, 0);
  evring_read(loop, &r.op, p[0], buf, sizeof buf, -1);
  test_run_nowait(loop, 1);
  evring_cancel(loop, &r.op);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  run_for(loop, 0.05);
  assert_int_equal(r.calls, 1);
  if (r.res != 5 && r.res != -ECANCELED)
    fail_msg("res = %zd, expected 5 or -ECANCELED", r.res);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Operations as watchers */

struct order {
  struct rec r;
  int *log, *n;
  unsigned int iteration;
  int id;
};

static void order_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct order *o = (struct order *)op;
  rec_cb(loop, op, revents);
  o->iteration = ev_iteration(loop);
  o->log[(*o->n)++] = o->id;
}

/* Two results of one iteration: the higher priority's callback first */
EVTEST(higher_priority_op_runs_first)
{
  struct ev_loop *loop = test_loop(0);
  int p1[2], p2[2];
  make_pipe(p1);
  make_pipe(p2);
  test_put(p1[1], "low");
  test_put(p2[1], "high");
  int log[4], n = 0;
  char b1[8], b2[8];
  struct order lo = {.log = log, .n = &n, .id = 1}, hi = {.log = log, .n = &n, .id = 2};
  rec_init(&lo.r, 0);
  rec_init(&hi.r, 0);
  lo.r.op.cb = order_cb;
  hi.r.op.cb = order_cb;
  ev_set_priority(&lo.r.op, EV_MINPRI);
  ev_set_priority(&hi.r.op, EV_MAXPRI);
  evring_read(loop, &lo.r.op, p1[0], b1, sizeof b1, -1);
  evring_read(loop, &hi.r.op, p2[0], b2, sizeof b2, -1);
  assert_true(RUN_UNTIL(loop, n == 2, WAIT));
  if (lo.iteration != hi.iteration)
    fail_msg("two reads ready before the start completed in iterations %u and %u",
             lo.iteration, hi.iteration);
  assert_int_equal(log[0], 2);
  assert_int_equal(log[1], 1);
  ev_loop_destroy(loop);
  close(p1[0]);
  close(p1[1]);
  close(p2[0]);
  close(p2[1]);
}

/* The first callback stops an operation whose result is waiting in the same iteration: that
 * result is dropped, its callback never runs. (On the ring both results are pending before the
 * callbacks run; on readiness the second read may still be waiting for its turn.) */
static int other_was_pending;

static void stop_other_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  rec_cb(loop, op, revents);
  other_was_pending = ev_is_pending(op->data);
  evring_stop(loop, (evring_op *)op->data);
}

EVTEST(stop_of_an_op_whose_result_waits_drops_it)
{
  struct ev_loop *loop = test_loop(0);
  int p1[2], p2[2];
  make_pipe(p1);
  make_pipe(p2);
  test_put(p1[1], "first");
  test_put(p2[1], "second");
  char b1[8], b2[8];
  struct rec first, second;
  rec_init(&first, 0);
  rec_init(&second, 0);
  first.op.cb = stop_other_cb;
  first.op.data = &second.op;
  ev_set_priority(&first.op, EV_MAXPRI);
  evring_read(loop, &second.op, p2[0], b2, sizeof b2, -1);
  evring_read(loop, &first.op, p1[0], b1, sizeof b1, -1);
  other_was_pending = 0;
  assert_true(RUN_UNTIL(loop, first.calls >= 1, WAIT));
  run_for(loop, 0.05);
  if (expect_ring_mode())
    assert_true(other_was_pending);
  assert_int_equal(first.calls, 1);
  assert_int_equal(second.calls, 0);
  assert_false(ev_is_active(&second.op));
  assert_false(ev_is_pending(&second.op));
  ev_loop_destroy(loop);
  close(p1[0]);
  close(p1[1]);
  close(p2[0]);
  close(p2[1]);
}

static void break_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  rec_cb(loop, op, revents);
  ev_break(loop, EVBREAK_ONE);
}

struct watchdog {
  ev_timer t;
  int fired;
};

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  ((struct watchdog *)w)->fired = 1;
  ev_break(loop, EVBREAK_ALL);
}

/* ev_break from an operation's callback makes ev_run return, other operations still active */
EVTEST(ev_break_in_an_op_callback_returns_from_ev_run)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2], p[2];
  test_sockpair(sv);
  make_pipe(p);
  struct rec busy, br;
  rec_init(&busy, 0);
  rec_init(&br, 0);
  br.op.cb = break_cb;
  evring_recv(loop, &busy.op, sv[0]);
  char c;
  evring_read(loop, &br.op, p[0], &c, 1, -1);
  test_put(p[1], "!");
  struct watchdog wd = {0};
  ev_timer_init(&wd.t, watchdog_cb, WAIT, 0);
  ev_timer_start(loop, &wd.t);
  ev_run(loop, 0);
  assert_false(wd.fired);
  assert_int_equal(br.calls, 1);
  assert_true(ev_is_active(&busy.op));
  ev_timer_stop(loop, &wd.t);
  evring_stop(loop, &busy.op);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

static void close_peer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  close(((struct delayed_put *)w)->fd);
}

/* An active operation keeps ev_run(loop, 0) running: it returns only once the operation has
 * ended (here: end of stream, after the only timer is long gone) */
EVTEST(active_op_keeps_ev_run_running)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  struct delayed_put d = {.fd = sv[1]};
  ev_timer_init(&d.t, close_peer_cb, 0.02, 0);
  ev_timer_start(loop, &d.t);
  struct watchdog wd = {0}; /* unreferenced: it does not keep ev_run running itself */
  ev_timer_init(&wd.t, watchdog_cb, WAIT, 0);
  ev_timer_start(loop, &wd.t);
  ev_unref(loop);
  ev_run(loop, 0);
  ev_ref(loop);
  ev_timer_stop(loop, &wd.t);
  assert_false(wd.fired);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.res, 0);
  assert_false(ev_is_active(&r.op));
  ev_loop_destroy(loop);
  close(sv[0]);
}

/* ev_unref for an active operation: ev_run(loop, 0) returns without waiting for it */
EVTEST(unref_lets_ev_run_return_with_an_active_op)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  struct rec r;
  rec_init(&r, 0);
  evring_recv(loop, &r.op, sv[0]);
  ev_unref(loop);
  struct watchdog wd = {0};
  ev_timer_init(&wd.t, watchdog_cb, WAIT, 0);
  ev_timer_start(loop, &wd.t);
  ev_unref(loop);
  ev_run(loop, 0);
  assert_false(wd.fired);
  assert_int_equal(r.calls, 0);
  assert_true(ev_is_active(&r.op));
  ev_ref(loop);
  ev_timer_stop(loop, &wd.t);
  ev_ref(loop);
  evring_stop(loop, &r.op);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

static int invoking;
static int invoke_calls;

static void invoke_wrapper(struct ev_loop *loop)
{
  invoking = 1;
  invoke_calls++;
  ev_invoke_pending(loop);
  invoking = 0;
}

static void inside_invoke_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  rec_cb(loop, op, revents);
  if (!invoking)
    ((struct rec *)op)->bad_revents += 1000;
}

/* Callbacks are queued as pending and run by ev_invoke_pending, through the loop's
 * invoke-pending callback (ev_set_invoke_pending_cb) */
EVTEST(op_callbacks_run_through_invoke_pending)
{
  struct ev_loop *loop = test_loop(0);
  ev_set_invoke_pending_cb(loop, invoke_wrapper);
  invoke_calls = 0;
  int p[2];
  make_pipe(p);
  test_put(p[1], "q");
  char c;
  struct rec r;
  rec_init(&r, 0);
  r.op.cb = inside_invoke_cb;
  evring_read(loop, &r.op, p[0], &c, 1, -1);
  assert_true(RUN_UNTIL(loop, r.calls >= 1, WAIT));
  assert_int_equal(r.bad_revents, 0);
  assert_true(invoke_calls > 0);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* A final callback may start its operation again, or free it */
struct restarter {
  struct rec r;
  char buf[4];
  int fd;
  int rounds;
};

static void restart_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct restarter *s = (struct restarter *)op;
  rec_cb(loop, op, revents);
  if (op->res > 0 && ++s->rounds < 5)
    evring_read(loop, op, s->fd, s->buf, 1, -1);
}

static int freed;

static void free_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  freed++;
  free(op);
}

EVTEST(final_callback_may_restart_or_free_its_op)
{
  struct ev_loop *loop = test_loop(0);
  int p[2];
  make_pipe(p);
  test_put(p[1], "12345");
  struct restarter s;
  rec_init(&s.r, 0);
  s.r.op.cb = restart_cb;
  s.fd = p[0];
  s.rounds = 0;
  evring_read(loop, &s.r.op, p[0], s.buf, 1, -1);
  assert_true(RUN_UNTIL(loop, s.rounds >= 5, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(s.r.calls, 5);
  assert_int_equal(s.r.errors, 0);
  assert_false(ev_is_active(&s.r.op));

  freed = 0;
  evring_op *op = malloc(sizeof *op);
  assert_non_null(op);
  evring_op_init(op, free_cb);
  static char c;
  test_put(p[1], "x");
  evring_read(loop, op, p[0], &c, 1, -1);
  assert_true(RUN_UNTIL(loop, freed >= 1, WAIT));
  run_for(loop, 0.02);
  assert_int_equal(freed, 1);
  ev_loop_destroy(loop);
  close(p[0]);
  close(p[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Loop destroy and fork */

/* The fds of the tests below: a socketpair to receive on, one to send 1 MiB through a small
 * socket buffer, a pipe to read, a TCP listener. */
enum { BUSY_LEN = 1 << 20 };

struct busy_fds {
  int sv[2], tx[2], p[2], lfd;
  struct sockaddr_in addr;
};

static void busy_open(struct busy_fds *b)
{
  test_sockpair(b->sv);
  test_sockpair(b->tx);
  make_pipe(b->p);
  set_sndbuf(b->tx[0], 16384);
  b->lfd = tcp_listener(&b->addr);
}

static void busy_close(struct busy_fds *b)
{
  int fds[] = {b->sv[0], b->sv[1], b->tx[0], b->tx[1], b->p[0], b->p[1], b->lfd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
}

/* ev_loop_destroy with operations in flight (recv, read into a buffer, a blocked send, accept,
 * a deadline): no callback, the program's fds stay open and usable, and the read buffer is
 * not written afterwards; under ASan nothing leaks */
EVTEST(loop_destroy_with_ops_in_flight_calls_nothing_and_closes_nothing)
{
  enum { LEN = BUSY_LEN };
  struct ev_loop *loop = test_loop(0);
  struct busy_fds b;
  busy_open(&b);
  int *sv = b.sv, *tx = b.tx, *p = b.p, lfd = b.lfd;
  struct sockaddr_in addr = b.addr;
  unsigned char rbuf[128];
  memset(rbuf, 0xa5, sizeof rbuf);
  char *sbuf = malloc(LEN);
  assert_non_null(sbuf);
  memset(sbuf, 'd', LEN);
  struct rec recv_r, read_r, send_r, acc_r, dl_r;
  rec_init(&recv_r, 0);
  rec_init(&read_r, 0);
  rec_init(&send_r, 0);
  rec_init(&acc_r, 0);
  rec_init(&dl_r, 0);
  evring_recv(loop, &recv_r.op, sv[0]);
  evring_read(loop, &read_r.op, p[0], rbuf, sizeof rbuf, -1);
  evring_send(loop, &send_r.op, tx[0], sbuf, LEN, 0);
  evring_accept(loop, &acc_r.op, lfd, SOCK_NONBLOCK | SOCK_CLOEXEC);
  evring_op_set_deadline(&dl_r.op, 1.0);
  evring_recv(loop, &dl_r.op, sv[1]);
  test_run_nowait(loop, 3);
  ev_loop_destroy(loop);
  free(sbuf);
  assert_int_equal(recv_r.calls + read_r.calls + send_r.calls + acc_r.calls + dl_r.calls, 0);

  /* the fds are the program's: open, usable, the peers see no end */
  assert_true(fd_is_open(sv[0]) && fd_is_open(sv[1]) && fd_is_open(p[0]) && fd_is_open(lfd));
  assert_false(test_peer_sees_eof(sv[1], 0));
  test_put(p[1], "after destroy");
  usleep(20000);
  assert_true(is_filled(rbuf, sizeof rbuf, 0xa5));
  char got[32] = {0};
  assert_int_equal(read_now(p[0], got, sizeof got), 13);
  test_put(sv[1], "hi");
  assert_int_equal(read_now(sv[0], got, sizeof got), 2);
  int c = tcp_client(&addr);
  int s = accept_within(lfd, 2000);
  assert_true(s >= 0);
  /* closed by the program now: the peer sees it (the library holds no reference) */
  close(sv[0]);
  assert_true(test_peer_sees_eof(sv[1], 1000));
  b.sv[0] = -1;
  close(s);
  close(c);
  busy_close(&b);
}

/* ev_loop_fork in the process that owns the operations (allowed any time, as for watchers):
 * they go on, nothing is reported, no byte is lost; a send in progress completes */
EVTEST(ev_loop_fork_in_the_owning_process_keeps_ops_going)
{
  enum { LEN = BUSY_LEN };
  struct ev_loop *loop = test_loop(0);
  struct busy_fds b;
  busy_open(&b);
  int *sv = b.sv, *tx = b.tx, *p = b.p, lfd = b.lfd;
  struct sockaddr_in addr = b.addr;
  unsigned char *sbuf = malloc(LEN);
  assert_non_null(sbuf);
  fill_pattern(sbuf, LEN, 0, 17);
  char rbuf[16] = {0};
  struct rec recv_r, read_r, send_r;
  struct acceptor acc;
  rec_init(&recv_r, 19);
  rec_init(&read_r, 0);
  rec_init(&send_r, 0);
  acceptor_init(&acc, SOCK_NONBLOCK);
  evring_recv(loop, &recv_r.op, sv[0]);
  evring_read(loop, &read_r.op, p[0], rbuf, sizeof rbuf, -1);
  evring_send(loop, &send_r.op, tx[0], sbuf, LEN, 0);
  evring_accept(loop, &acc.r.op, lfd, SOCK_NONBLOCK);
  test_run_nowait(loop, 3);
  ev_loop_fork(loop);
  test_run_nowait(loop, 3);
  ev_loop_fork(loop);
  struct feeder f;
  feeder_start(loop, &f, sv[1], 100000, 19, 5000);
  struct drainer d;
  drainer_start(loop, &d, tx[1], 17, 65536);
  test_put(p[1], "pipe");
  int c = tcp_client(&addr);
  if (!RUN_UNTIL(loop, recv_r.bytes >= 100000 && read_r.calls && send_r.calls &&
                           d.got >= LEN && acc.n >= 1, WAIT))
    fail_msg("after ev_loop_fork: recv %zu of 100000 bytes, read %d calls, send %d calls, "
             "peer got %zu of %d, %d accepted", (size_t)recv_r.bytes, read_r.calls,
             send_r.calls, (size_t)d.got, LEN, acc.n);
  assert_int_equal(recv_r.errors + read_r.errors + send_r.errors + acc.r.errors, 0);
  assert_int_equal(recv_r.bad_data, 0);
  assert_int_equal(read_r.res, 4);
  assert_int_equal(send_r.res, LEN);
  assert_int_equal(d.bad, 0);
  evring_stop(loop, &recv_r.op);
  evring_stop(loop, &acc.r.op);
  ev_loop_destroy(loop);
  free(sbuf);
  close(acc.fds[0]);
  close(c);
  busy_close(&b);
}

/* After fork, ev_loop_fork in the child: the operations active in the parent are reported to
 * the child with -ECANCELED; the parent's go on unaffected */
struct fork_state {
  struct ev_loop *loop;
  struct rec recv_r, read_r;
  struct acceptor acc;
  int sv[2], p[2], lfd;
  unsigned char buf[32];
};

static void fork_child(void *arg)
{
  struct fork_state *st = arg;
  ev_loop_fork(st->loop);
  double end = mono() + WAIT;
  ev_timer guard;
  ev_timer_init(&guard, guard_cb, 0.01, 0.01);
  ev_timer_start(st->loop, &guard);
  while ((!st->recv_r.calls || !st->read_r.calls || !st->acc.r.calls) && mono() < end)
    ev_run(st->loop, EVRUN_ONCE);
  ev_timer_stop(st->loop, &guard);
  CHILD_CHECK(st->recv_r.calls == 1 && st->recv_r.res == -ECANCELED);
  CHILD_CHECK(st->read_r.calls == 1 && st->read_r.res == -ECANCELED);
  CHILD_CHECK(st->acc.r.calls == 1 && st->acc.r.res == -ECANCELED);
  CHILD_CHECK(!ev_is_active(&st->recv_r.op) && !ev_is_active(&st->read_r.op));
  CHILD_CHECK(!ev_is_active(&st->acc.r.op));
  ev_loop_destroy(st->loop);
}

EVTEST(fork_child_sees_ecanceled_and_the_parent_is_unaffected)
{
  static struct fork_state st;
  memset(&st, 0, sizeof st);
  st.loop = test_loop(0);
  test_sockpair(st.sv);
  make_pipe(st.p);
  struct sockaddr_in addr;
  st.lfd = tcp_listener(&addr);
  rec_init(&st.recv_r, 31);
  rec_init(&st.read_r, 0);
  acceptor_init(&st.acc, SOCK_NONBLOCK);
  evring_recv(st.loop, &st.recv_r.op, st.sv[0]);
  evring_read(st.loop, &st.read_r.op, st.p[0], st.buf, sizeof st.buf, -1);
  evring_accept(st.loop, &st.acc.r.op, st.lfd, SOCK_NONBLOCK);
  test_run_nowait(st.loop, 3);

  char how[64];
  int status = test_run_child(fork_child, &st, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child: %s", how);

  /* the parent: nothing reported by the child's doings, every operation still works */
  run_for(st.loop, 0.02);
  assert_int_equal(st.recv_r.calls + st.read_r.calls + st.acc.r.calls, 0);
  unsigned char data[100];
  fill_pattern(data, sizeof data, 0, 31);
  assert_int_equal(write(st.sv[1], data, sizeof data), (ssize_t)sizeof data);
  test_put(st.p[1], "pipe");
  int c = tcp_client(&addr);
  assert_true(RUN_UNTIL(st.loop, st.recv_r.bytes >= sizeof data && st.read_r.calls >= 1 &&
                                     st.acc.n >= 1, WAIT));
  assert_int_equal(st.recv_r.errors + st.read_r.errors + st.acc.r.errors, 0);
  assert_int_equal(st.recv_r.bad_data, 0);
  assert_int_equal(st.read_r.res, 4);
  assert_memory_equal(st.buf, "pipe", 4);
  evring_stop(st.loop, &st.recv_r.op);
  evring_stop(st.loop, &st.acc.r.op);
  ev_loop_destroy(st.loop);
  close(st.acc.fds[0]);
  close(c);
  close(st.lfd);
  close(st.sv[0]);
  close(st.sv[1]);
  close(st.p[0]);
  close(st.p[1]);
}

/* A connection a stopped accept had taken and not reported is kept for the next accept; a
 * forked child (ev_loop_fork) closes its copy of it, so that the parent's close ends the
 * connection while the child lives on */
EVTEST(fork_child_closes_its_copies_of_kept_connections)
{
  struct ev_loop *loop = test_loop(0);
  struct sockaddr_in addr;
  int lfd = tcp_listener(&addr);
  int c = tcp_client(&addr);
  struct acceptor a;
  acceptor_init(&a, SOCK_NONBLOCK);
  ev_set_invoke_pending_cb(loop, invoke_nothing);
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  assert_true(RUN_UNTIL(loop, ev_is_pending(&a.r.op), WAIT));
  evring_stop(loop, &a.r.op);
  ev_set_invoke_pending_cb(loop, ev_invoke_pending);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    ev_loop_fork(loop);
    ev_run(loop, EVRUN_NOWAIT);
    usleep(1500 * 1000);
    _exit(0);
  }
  usleep(200 * 1000); /* the child has done its ev_loop_fork */
  evring_accept(loop, &a.r.op, lfd, SOCK_NONBLOCK);
  assert_true(RUN_UNTIL(loop, a.n >= 1, WAIT));
  evring_stop(loop, &a.r.op);
  close(a.fds[0]);
  int eof = test_peer_sees_eof(c, 1000);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!eof)
    fail_msg("the client saw no end of its connection: the child kept a copy open");
  ev_loop_destroy(loop);
  close(c);
  close(lfd);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad input */

/* Every operation on a closed fd number and on -1: a callback with -EBADF, never an abort.
 * In a child, so that an abort is reported as such. */
static void bad_fd_child(void *arg)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop && ev_backend(loop) == test_backend());
  /* a high number nothing else gets meanwhile (new fds take the lowest free number) */
  int closed = fcntl(2, F_DUPFD, 500);
  CHILD_CHECK(closed >= 0);
  close(closed);
  int fds[2] = {closed, -1};
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(9),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char buf[16] = "0123456789abcdef";
  struct iovec iov = {buf, sizeof buf};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  enum { KINDS = 9 };
  for (int f = 0; f < 2; f++) {
    struct rec r[KINDS];
    for (int k = 0; k < KINDS; k++)
      rec_init(&r[k], 0);
    int fd = fds[f];
    evring_accept(loop, &r[0].op, fd, SOCK_NONBLOCK);
    evring_connect(loop, &r[1].op, fd, (struct sockaddr *)&addr, sizeof addr);
    evring_recv(loop, &r[2].op, fd);
    evring_read(loop, &r[3].op, fd, buf, sizeof buf, -1);
    evring_write(loop, &r[4].op, fd, buf, sizeof buf, 0);
    evring_send(loop, &r[5].op, fd, buf, sizeof buf, 0);
    evring_sendmsg(loop, &r[6].op, fd, &msg, 0);
    evring_close(loop, &r[7].op, fd);
    evring_shutdown(loop, &r[8].op, fd, SHUT_RDWR);
    double end = mono() + WAIT;
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 0.01, 0.01);
    ev_timer_start(loop, &guard);
    for (;;) {
      int done = 0;
      for (int k = 0; k < KINDS; k++)
        done += r[k].calls > 0;
      if (done == KINDS || mono() > end)
        break;
      ev_run(loop, EVRUN_ONCE);
    }
    for (int i = 0; i < 3; i++)
      ev_run(loop, EVRUN_NOWAIT);
    ev_timer_stop(loop, &guard);
    for (int k = 0; k < KINDS; k++) {
      if (r[k].calls != 1 || r[k].res != -EBADF || ev_is_active(&r[k].op)) {
        dprintf(2, "# child: fd %d, operation kind %d: %d callbacks, res %zd, active %d\n", fd,
                r[k].op.kind, r[k].calls, r[k].res, ev_is_active(&r[k].op));
        _exit(1);
      }
    }
  }
  ev_loop_destroy(loop);
}

EVTEST(bad_fd_reports_ebadf_for_every_operation)
{
  char how[64];
  int status = test_run_child(bad_fd_child, NULL, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child: %s", how);
}

/* More operations than a ring has entries, started at once: before the loop's first run, and
 * from one callback: every one completes with its result (none refused for lack of room) */
enum { MANY_OPS = 600 };

struct many_ops {
  struct rec w[MANY_OPS], r[MANY_OPS];
  char in[MANY_OPS][8];
  int fd;
};

static void start_reads_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct many_ops *m = op->data;
  rec_cb(loop, op, revents);
  for (int i = 0; i < MANY_OPS; i++) {
    rec_init(&m->r[i], 0);
    evring_read(loop, &m->r[i].op, m->fd, m->in[i], 8, (int64_t)i * 8);
  }
}

static int many_done(const struct rec *r)
{
  int n = 0;
  for (int i = 0; i < MANY_OPS; i++)
    n += r[i].calls;
  return n;
}


/* Results that arrive while the loop prepares its wait (here: a ring replaced because the
 * operations in flight outgrew it, which drains its completions) are reported in that
 * iteration: ev_run(EVRUN_ONCE) does not sleep until the next timer first. N idle recvs
 * fill the ring, N sends that complete at once outgrow it. */
static int drained_calls;

static void drained_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)loop, (void)op, (void)revents;
  drained_calls++;
}

EVTEST(results_drained_while_preparing_the_wait_do_not_wait)
{
  enum { N = 300 };
  if (!expect_ring_mode()) {
    /* Readiness: the sends complete in evring_send, ev_run reports them on entry. */
    printf("# skipped: ring mode only\n");
    return;
  }
  test_raise_nofile(1000);
  struct ev_loop *loop = test_loop(0);
  static int sv[N][2];
  static evring_op recv[N], send[N];
  for (int i = 0; i < N; i++) {
    test_sockpair(sv[i]);
    evring_op_init(&recv[i], drained_cb);
    evring_recv(loop, &recv[i], sv[i][0]);
  }
  test_run_nowait(loop, 2);
  drained_calls = 0;
  for (int i = 0; i < N; i++) {
    evring_op_init(&send[i], drained_cb);
    evring_send(loop, &send[i], sv[i][0], "x", 1, 0); /* to the peer nobody reads */
  }
  ev_timer slow;
  ev_timer_init(&slow, guard_cb, 3., 0.);
  ev_timer_start(loop, &slow);
  double t0 = mono();
  ev_run(loop, EVRUN_ONCE);
  double took = mono() - t0;
  if (took > 1.)
    fail_msg("ev_run(EVRUN_ONCE) slept %.3f s with %d results to report", took, drained_calls);
  assert_true(drained_calls > 0);
  assert_true(RUN_UNTIL(loop, drained_calls == N, WAIT));
  ev_timer_stop(loop, &slow);
  for (int i = 0; i < N; i++)
    evring_stop(loop, &recv[i]);
  ev_loop_destroy(loop);
  for (int i = 0; i < N; i++)
    close(sv[i][0]), close(sv[i][1]);
}

EVTEST(more_operations_than_ring_entries_all_complete)
{
  static struct many_ops m;
  struct ev_loop *loop = test_loop(0);
  m.fd = temp_file();
  char text[MANY_OPS][8];
  for (int i = 0; i < MANY_OPS; i++) {
    char digits[16];
    snprintf(digits, sizeof digits, "%07d", i);
    memcpy(text[i], digits, 8);
    rec_init(&m.w[i], 0);
    evring_write(loop, &m.w[i].op, m.fd, text[i], 8, (int64_t)i * 8);
  }
  assert_true(RUN_UNTIL(loop, many_done(m.w) == MANY_OPS, WAIT));
  for (int i = 0; i < MANY_OPS; i++)
    if (m.w[i].res != 8)
      fail_msg("write %d of %d started before the first run: res %zd", i, MANY_OPS, m.w[i].res);
  /* from one callback */
  struct rec trigger;
  rec_init(&trigger, 0);
  trigger.op.cb = start_reads_cb;
  trigger.op.data = &m;
  char c;
  evring_read(loop, &trigger.op, m.fd, &c, 1, 0);
  assert_true(RUN_UNTIL(loop, trigger.calls && many_done(m.r) == MANY_OPS, WAIT));
  for (int i = 0; i < MANY_OPS; i++) {
    if (m.r[i].res != 8)
      fail_msg("read %d of %d started in one callback: res %zd", i, MANY_OPS, m.r[i].res);
    assert_memory_equal(m.in[i], text[i], 8);
  }
  ev_loop_destroy(loop);
  close(m.fd);
}

/* ---------------------------------------------------------------------------------------- */
/* Many connections */

/* 200 socketpairs, each served by a multishot recv that echoes every chunk with a send of the
 * kept buffer (released in the send's callback); the clients write 20 rounds of messages of
 * varying sizes and read the echoes: every byte comes back, in order */
enum { CONNS = 200, ROUNDS = 20 };

struct echo_conn {
  evring_op recv;
  int fd;
  int ended;
  int pending_sends;
};

struct echo_send {
  evring_op op;
  char *buf;
  size_t len;
};

static int echo_errors;
static ssize_t echo_last_error;

static void echo_sent_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct echo_send *s = (struct echo_send *)op;
  if (op->res != (ssize_t)s->len) {
    echo_errors++;
    echo_last_error = op->res;
  }
  evring_buf_release(loop, s->buf);
  free(s);
}

static void echo_recv_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  struct echo_conn *c = (struct echo_conn *)op;
  if (op->res <= 0) {
    if (op->res < 0) {
      echo_errors++;
      echo_last_error = op->res;
    }
    c->ended = 1;
    return;
  }
  struct echo_send *s = malloc(sizeof *s);
  if (!s) {
    echo_errors++;
    return;
  }
  evring_op_init(&s->op, echo_sent_cb);
  s->len = (size_t)op->res;
  s->buf = evring_buf_keep(loop, op);
  evring_send(loop, &s->op, c->fd, s->buf, s->len, 0);
}

struct echo_client {
  ev_io io;
  uint64_t got, want;
  unsigned int seed;
  int bad;
};

static void echo_client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct echo_client *c = (struct echo_client *)w;
  unsigned char buf[8192];
  ssize_t n = read(w->fd, buf, sizeof buf);
  if (n > 0) {
    if (!is_pattern(buf, (size_t)n, c->got, c->seed))
      c->bad++;
    c->got += (uint64_t)n;
  }
}

static int echoes_complete(const struct echo_client *client)
{
  for (int i = 0; i < CONNS; i++)
    if (client[i].got < client[i].want)
      return 0;
  return 1;
}

static int servers_ended(const struct echo_conn *server)
{
  int ended = 0;
  for (int i = 0; i < CONNS; i++)
    ended += server[i].ended;
  return ended;
}


EVTEST(many_connections_echo_every_byte)
{
  test_raise_nofile(1000);
  struct ev_loop *loop = test_loop(0);
  static struct echo_conn server[CONNS];
  static struct echo_client client[CONNS];
  echo_errors = 0;
  echo_last_error = 0;
  for (int i = 0; i < CONNS; i++) {
    int sv[2];
    test_sockpair(sv);
    memset(&server[i], 0, sizeof server[i]);
    server[i].fd = sv[0];
    evring_op_init(&server[i].recv, echo_recv_cb);
    evring_recv(loop, &server[i].recv, sv[0]);
    memset(&client[i], 0, sizeof client[i]);
    client[i].seed = (unsigned int)i;
    ev_io_init(&client[i].io, echo_client_cb, sv[1], EV_READ);
    ev_io_start(loop, &client[i].io);
  }
  unsigned char msg[3000];
  uint64_t sent_total = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < CONNS; i++) {
      size_t len = 1 + (size_t)((round * 131 + i * 17) % (int)sizeof msg);
      fill_pattern(msg, len, client[i].want, client[i].seed);
      assert_int_equal(write(client[i].io.fd, msg, len), (ssize_t)len);
      client[i].want += len;
      sent_total += len;
    }
    if (!RUN_UNTIL(loop, echoes_complete(client), WAIT)) {
      int short_n = 0, ended = servers_ended(server), first = -1;
      for (int i = 0; i < CONNS; i++)
        if (client[i].got < client[i].want && short_n++ == 0)
          first = i;
      fail_msg("round %d: %d connections without their whole echo (first: %d, %llu of %llu "
               "bytes), %d server recvs ended, %d errors (last %zd)", round, short_n, first,
               (unsigned long long)client[first].got, (unsigned long long)client[first].want,
               ended, echo_errors, echo_last_error);
    }
  }
  uint64_t got_total = 0;
  for (int i = 0; i < CONNS; i++) {
    assert_int_equal(client[i].bad, 0);
    assert_int_equal(client[i].got, client[i].want);
    got_total += client[i].got;
  }
  assert_int_equal(got_total, sent_total);
  assert_int_equal(echo_errors, 0);
  /* the clients close: every server recv ends with end of stream */
  for (int i = 0; i < CONNS; i++) {
    ev_io_stop(loop, &client[i].io);
    close(client[i].io.fd);
  }
  assert_true(RUN_UNTIL(loop, servers_ended(server) == CONNS, WAIT));
  assert_int_equal(echo_errors, 0);
  ev_loop_destroy(loop);
  for (int i = 0; i < CONNS; i++)
    close(server[i].fd);
}

/* ---------------------------------------------------------------------------------------- */

int main(void)
{
  masks_init();
  signal(SIGPIPE, SIG_DFL);
  /* For debugging: EVRING_TEST_FILTER=name (wildcards * and ?) runs only the matching tests,
   * EVRING_TEST_SKIP=name skips the matching ones, EVRING_TEST_MASK=mask (one of masks[]) runs
   * only that mask on io_uring. */
  if (getenv("EVRING_TEST_FILTER"))
    cmocka_set_test_filter(getenv("EVRING_TEST_FILTER"));
  if (getenv("EVRING_TEST_SKIP"))
    cmocka_set_skip_filter(getenv("EVRING_TEST_SKIP"));
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(op_init_prepares_an_inactive_op_of_priority_zero),
    cmocka_unit_test(mode_is_ring_on_iouring_and_readiness_elsewhere),
    cmocka_unit_test(start_records_fd_and_kind),
    cmocka_unit_test(accept_reports_each_connection_until_stopped),
    cmocka_unit_test(accept_without_flags_gives_blocking_inheritable_fds),
    cmocka_unit_test(accept_stopped_in_its_callback_loses_no_connection),
    cmocka_unit_test(accept_stopped_then_started_again_reports_the_connections_it_had_accepted),
    cmocka_unit_test(loop_destroy_closes_accepted_fds_not_yet_reported),
    cmocka_unit_test(accept_deadline_ends_it_with_etimedout),
    cmocka_unit_test(accept_reports_emfile_and_goes_on_accepting),
    cmocka_unit_test(connect_to_a_listening_socket_succeeds),
    cmocka_unit_test(connect_to_a_closed_port_is_refused),
    cmocka_unit_test(connect_deadline_ends_it_with_etimedout),
    cmocka_unit_test(recv_deadline_ends_it_with_etimedout),
    cmocka_unit_test(recv_deadline_counts_from_the_last_result),
    cmocka_unit_test(read_deadline_ends_it_with_etimedout),
    cmocka_unit_test(deadline_does_not_fire_after_completion),
    cmocka_unit_test(send_deadline_ends_it_with_etimedout),
    cmocka_unit_test(recv_delivers_every_byte_in_order_then_end_of_stream),
    cmocka_unit_test(recv_stopped_and_started_again_loses_no_byte),
    cmocka_unit_test(recv_after_the_fd_was_reused_gets_only_the_new_sockets_bytes),
    cmocka_unit_test(recv_end_of_stream_ends_the_operation),
    cmocka_unit_test(recv_connection_reset_reports_econnreset),
    cmocka_unit_test(recv_on_a_pipe_reports_enotsock),
    cmocka_unit_test(recv_pauses_while_every_buffer_is_kept),
    cmocka_unit_test(kept_buffer_outlives_its_operation),
    cmocka_unit_test(recv_buffers_released_later_are_reused),
    cmocka_unit_test(recv_chunks_fit_the_buffer_size),
    cmocka_unit_test(recv_buffer_size_comes_from_the_environment),
    cmocka_unit_test(set_recv_buffers_refuses_a_count_not_a_power_of_two),
    cmocka_unit_test(write_and_read_at_offsets_of_a_file),
    cmocka_unit_test(offset_minus_one_uses_and_advances_the_file_position),
    cmocka_unit_test(pipe_read_waits_and_may_be_short),
    cmocka_unit_test(send_larger_than_the_socket_buffer_is_sent_whole),
    cmocka_unit_test(sends_started_back_to_back_arrive_in_start_order),
    cmocka_unit_test(cancel_of_a_waiting_send_keeps_the_others_in_order),
    cmocka_unit_test(sendmsg_sends_every_iovec),
    cmocka_unit_test(zerocopy_send_delivers_the_same_bytes),
    cmocka_unit_test(send_to_a_closed_peer_fails_with_epipe_without_sigpipe),
    cmocka_unit_test(shutdown_write_gives_the_peer_end_of_file),
    cmocka_unit_test(close_op_closes_the_fd),
    cmocka_unit_test(stop_of_a_pending_recv_leaves_the_data_to_the_program),
    cmocka_unit_test(stop_of_a_pending_read_leaves_the_buffer_untouched),
    cmocka_unit_test(stop_of_a_pending_send_ends_it_without_callback),
    cmocka_unit_test(stop_from_a_multishot_callback_ends_it),
    cmocka_unit_test(stop_then_close_gives_the_peer_end_of_file),
    cmocka_unit_test(stop_or_cancel_of_an_inactive_op_does_nothing),
    cmocka_unit_test(cancel_reports_ecanceled_once),
    cmocka_unit_test(cancel_of_a_waiting_accept_reports_ecanceled),
    cmocka_unit_test(cancel_in_the_iteration_the_ring_grows_reports_ecanceled),
    cmocka_unit_test(cancel_right_after_the_start_reports_ecanceled),
    cmocka_unit_test(cancel_of_an_op_that_completes_reports_one_result),
    cmocka_unit_test(higher_priority_op_runs_first),
    cmocka_unit_test(stop_of_an_op_whose_result_waits_drops_it),
    cmocka_unit_test(ev_break_in_an_op_callback_returns_from_ev_run),
    cmocka_unit_test(active_op_keeps_ev_run_running),
    cmocka_unit_test(unref_lets_ev_run_return_with_an_active_op),
    cmocka_unit_test(op_callbacks_run_through_invoke_pending),
    cmocka_unit_test(final_callback_may_restart_or_free_its_op),
    cmocka_unit_test(loop_destroy_with_ops_in_flight_calls_nothing_and_closes_nothing),
    cmocka_unit_test(ev_loop_fork_in_the_owning_process_keeps_ops_going),
    cmocka_unit_test(fork_child_sees_ecanceled_and_the_parent_is_unaffected),
    cmocka_unit_test(fork_child_closes_its_copies_of_kept_connections),
    cmocka_unit_test(bad_fd_reports_ebadf_for_every_operation),
    cmocka_unit_test(results_drained_while_preparing_the_wait_do_not_wait),
    cmocka_unit_test(more_operations_than_ring_entries_all_complete),
    cmocka_unit_test(many_connections_echo_every_byte),
  };
  return TEST_MAIN("evring", tests);
}
