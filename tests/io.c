/* io.c - behaviour of ev_io watchers, run once per backend (see test.h).
 *
 * Every test builds its own loop on the backend under test and checks exact call counts and
 * revents. Callbacks only record what happened (a failed cmocka assertion inside ev_run would
 * jump out of the loop); the test function asserts afterwards.
 *
 * Tests whose failure mode is an abort inside the library (bad descriptors) run their body in a
 * child process, so that a crash fails that test and not the whole program. Child bodies use
 * CHILD_CHECK, never cmocka's assertions: those would jump back into the runner inside the
 * child. */
#include "test.h"

#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* An io watcher plus a record of its callbacks. */
struct probe {
  ev_io io;                  /* first member: the callback casts its watcher back */
  int calls;                 /* number of callbacks */
  int revents;               /* revents of the last callback */
  int fd_seen;               /* w->fd during the last callback */
  int read_per_call;         /* non-zero: read one byte in each callback */
  ssize_t last_read;         /* result of the last read() */
  char last_byte;            /* byte read by the last read() */
  struct probe *stop_other;  /* stop this watcher from the callback */
};

static void probe_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct probe *p = (struct probe *)w;

  p->calls++;
  p->revents = revents;
  p->fd_seen = w->fd;
  if (p->read_per_call) {
    char c = 0;
    p->last_read = read(w->fd, &c, 1);
    p->last_byte = c;
  }
  if (p->stop_other)
    ev_io_stop(loop, &p->stop_other->io);
}

static void probe_init(struct probe *p, int fd, int events)
{
  memset(p, 0, sizeof *p);
  p->last_read = -2;
  ev_io_init(&p->io, probe_cb, fd, events);
}

/* Wait (up to 2 s) until fd has `want` bytes queued for reading: pty data travels through a
 * kernel work queue and is not readable as soon as write() returns. */
static void wait_queued(int fd, int want)
{
  int n = -1;
  for (int i = 0; i < 2000; i++) {
    assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
    if (n >= want)
      break;
    usleep(1000);
  }
  assert_int_equal(n, want);
}

static void make_socketpair(int s[2])
{
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
  test_nonblock(s[0]);
  test_nonblock(s[1]);
}

static void close2(int p[2])
{
  close(p[0]);
  close(p[1]);
}

static struct ev_loop *child_loop(void)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop != NULL);
  CHILD_CHECK(ev_backend(loop) == test_backend());
  return loop;
}

/* Run body() in a child with a 20 s alarm; the test passes when the child exits with 0. */
static void run_in_child(void (*body)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(20);
    body();
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    printf("# child killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void break_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  ev_break(loop, EVBREAK_ALL);
}

/* ---------------------------------------------------------------------------------------- */
/* Level-triggered readiness */

/* 10 bytes pending, one read per callback: the callback must run in each of the next 10
 * iterations without new data arriving, and not after that. An edge-triggered backend calls it
 * once. */
static void check_level_triggered(int rfd, int wfd)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;

  test_nonblock(rfd);
  test_put(wfd, "0123456789");
  wait_queued(rfd, 10);
  probe_init(&p, rfd, EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  for (int i = 1; i <= 10; i++) {
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(p.calls, i);
    assert_int_equal(p.revents, EV_READ);
    assert_int_equal(p.last_read, 1);
    assert_int_equal(p.last_byte, '0' + i - 1);
  }
  test_run_nowait(loop, 5);
  assert_int_equal(p.calls, 10);
  ev_io_stop(loop, &p.io);
  ev_loop_destroy(loop);
}

static void level_triggered_socketpair(void **state)
{
  int s[2];
  make_socketpair(s);
  check_level_triggered(s[1], s[0]);
  close2(s);
}

static void level_triggered_pipe(void **state)
{
  int p[2];
  make_pipe(p);
  check_level_triggered(p[0], p[1]);
  close2(p);
}

/* Opens a pty pair with the slave in raw mode (no line buffering, no echo). */
static void open_raw_pty(int *master, int *slave)
{
  struct termios t;
  assert_int_equal(openpty(master, slave, NULL, NULL, NULL), 0);
  assert_int_equal(tcgetattr(*slave, &t), 0);
  cfmakeraw(&t);
  assert_int_equal(tcsetattr(*slave, TCSANOW, &t), 0);
}

static void level_triggered_pty_slave(void **state)
{
  int master, slave;
  open_raw_pty(&master, &slave);
  check_level_triggered(slave, master);
  close(master);
  close(slave);
}

static void level_triggered_pty_master(void **state)
{
  int master, slave;
  open_raw_pty(&master, &slave);
  check_level_triggered(master, slave);
  close(master);
  close(slave);
}

/* ---------------------------------------------------------------------------------------- */
/* Event masks */

static void write_fires_every_iteration(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int s[2];

  make_socketpair(s);
  probe_init(&p, s[0], EV_WRITE);
  ev_io_start(loop, &p.io);
  for (int i = 1; i <= 5; i++) {
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(p.calls, i);
    assert_int_equal(p.revents, EV_WRITE);
  }
  ev_io_stop(loop, &p.io);
  test_run_nowait(loop, 3);
  assert_int_equal(p.calls, 5);
  close2(s);
  ev_loop_destroy(loop);
}

static void read_write_gives_both_bits(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  probe_init(&p, s[0], EV_READ | EV_WRITE);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.revents, EV_READ | EV_WRITE);
  ev_io_stop(loop, &p.io);
  close2(s);
  ev_loop_destroy(loop);
}

static void modify_changes_reported_events(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x"); /* s[0] is readable and writable from now on */
  probe_init(&p, s[0], EV_READ);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.revents, EV_READ);

  ev_io_stop(loop, &p.io);
  ev_io_modify(&p.io, EV_WRITE);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 2);
  assert_int_equal(p.revents, EV_WRITE);

  ev_io_stop(loop, &p.io);
  ev_io_modify(&p.io, EV_READ | EV_WRITE);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 3);
  assert_int_equal(p.revents, EV_READ | EV_WRITE);

  ev_io_stop(loop, &p.io);
  ev_io_modify(&p.io, EV_READ);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 4);
  assert_int_equal(p.revents, EV_READ);

  ev_io_stop(loop, &p.io);
  close2(s);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Several watchers on one fd */

static void several_watchers_on_one_fd_all_called(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p[3];
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  for (int i = 0; i < 3; i++) {
    probe_init(&p[i], s[0], EV_READ);
    ev_io_start(loop, &p[i].io);
  }
  ev_run(loop, EVRUN_NOWAIT);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(p[i].calls, 1);
    assert_int_equal(p[i].revents, EV_READ);
  }
  ev_run(loop, EVRUN_NOWAIT);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(p[i].calls, 2);
    ev_io_stop(loop, &p[i].io);
  }
  close2(s);
  ev_loop_destroy(loop);
}

static void watchers_on_one_fd_get_only_their_events(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe r, w, rw;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  probe_init(&r, s[0], EV_READ);
  probe_init(&w, s[0], EV_WRITE);
  probe_init(&rw, s[0], EV_READ | EV_WRITE);
  ev_io_start(loop, &r.io);
  ev_io_start(loop, &w.io);
  ev_io_start(loop, &rw.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.revents, EV_READ);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.revents, EV_WRITE);
  assert_int_equal(rw.calls, 1);
  assert_int_equal(rw.revents, EV_READ | EV_WRITE);
  ev_io_stop(loop, &r.io);
  ev_io_stop(loop, &w.io);
  ev_io_stop(loop, &rw.io);
  close2(s);
  ev_loop_destroy(loop);
}

static void zero_events_watcher_active_never_called(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x"); /* readable and writable */
  probe_init(&p, s[0], 0);
  ev_io_start(loop, &p.io);
  assert_true(ev_is_active(&p.io));
  for (int i = 0; i < 3; i++)
    assert_int_equal(ev_run(loop, EVRUN_NOWAIT), 1); /* one active watcher keeps the loop alive */
  ev_feed_fd_event(loop, s[0], EV_READ | EV_WRITE);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 0);
  assert_true(ev_is_active(&p.io));
  ev_io_stop(loop, &p.io);
  assert_false(ev_is_active(&p.io));
  close2(s);
  ev_loop_destroy(loop);
}

static void stop_one_of_two_keeps_other(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe a, b;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  probe_init(&a, s[0], EV_READ);
  probe_init(&b, s[0], EV_READ);
  ev_io_start(loop, &a.io);
  ev_io_start(loop, &b.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);

  ev_io_stop(loop, &a.io);
  test_run_nowait(loop, 3);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 4);
  assert_int_equal(b.revents, EV_READ);

  /* after a read empties the socket, b must stop firing, and fire again on new data */
  char buf[8];
  assert_int_equal(read(s[0], buf, sizeof buf), 1);
  test_run_nowait(loop, 2);
  assert_int_equal(b.calls, 4);
  test_put(s[1], "y");
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 5);

  ev_io_stop(loop, &b.io);
  close2(s);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Stopped watchers */

static void stopped_watcher_not_called(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  probe_init(&p, s[0], EV_READ);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  ev_io_stop(loop, &p.io);
  test_run_nowait(loop, 3);
  assert_int_equal(p.calls, 1);
  close2(s);
  ev_loop_destroy(loop);
}

/* Both watchers are ready in one iteration; each callback stops the other. Whichever runs
 * first stops the other one, which is pending: stop clears that, so exactly one callback runs. */
static void check_stop_other_in_callback(struct ev_loop *loop, int fd_a, int fd_b)
{
  struct probe a, b;

  probe_init(&a, fd_a, EV_READ);
  probe_init(&b, fd_b, EV_READ);
  a.stop_other = &b;
  b.stop_other = &a;
  ev_io_start(loop, &a.io);
  ev_io_start(loop, &b.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(a.calls + b.calls, 1);
  struct probe *called = a.calls ? &a : &b, *stopped = a.calls ? &b : &a;
  assert_true(ev_is_active(&called->io));
  assert_false(ev_is_active(&stopped->io));
  assert_false(ev_is_pending(&stopped->io));
  assert_int_equal(ev_pending_count(loop), 0);
  /* the survivor keeps being called, the stopped one never is */
  called->stop_other = NULL;
  test_run_nowait(loop, 2);
  assert_int_equal(called->calls, 3);
  assert_int_equal(stopped->calls, 0);
  ev_io_stop(loop, &called->io);
}

static void stop_other_watcher_in_callback_same_fd(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  check_stop_other_in_callback(loop, s[0], s[0]);
  close2(s);
  ev_loop_destroy(loop);
}

static void stop_other_watcher_in_callback_other_fd(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int s[2];

  make_socketpair(s);
  test_put(s[1], "x");
  test_put(s[0], "y");
  check_stop_other_in_callback(loop, s[0], s[1]);
  close2(s);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* End of file / hang-up */

static void check_eof(int rfd)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;

  probe_init(&p, rfd, EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.revents, EV_READ);
  assert_int_equal(p.last_read, 0);
  /* end of file stays readable (level-triggered) */
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 2);
  assert_int_equal(p.last_read, 0);
  ev_io_stop(loop, &p.io);
  ev_loop_destroy(loop);
}

static void eof_socketpair_peer_closed(void **state)
{
  int s[2];
  make_socketpair(s);
  close(s[1]);
  check_eof(s[0]);
  close(s[0]);
}

static void eof_pipe_writer_closed(void **state)
{
  int p[2];
  make_pipe(p);
  close(p[1]);
  check_eof(p[0]);
  close(p[0]);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad and closed descriptors */

/* ev_io_start on a closed fd number: the watcher is called once with EV_ERROR|EV_READ|EV_WRITE
 * and stopped; other watchers keep working. (Debian's library does this only on select and
 * aborts on the other backends.) */
static void bad_fd_body(void)
{
  struct ev_loop *loop = child_loop();
  struct probe good, bad;
  int p[2];

  CHILD_CHECK(pipe(p) == 0);
  int n = fcntl(p[0], F_DUPFD, 600); /* a number nothing else uses */
  CHILD_CHECK(n >= 600);
  CHILD_CHECK(close(n) == 0);

  probe_init(&bad, n, EV_READ);
  probe_init(&good, p[0], EV_READ);
  good.read_per_call = 1;
  ev_io_start(loop, &bad.io);
  ev_io_start(loop, &good.io);
  test_run_nowait(loop, 2);
  CHILD_CHECK(bad.calls == 1);
  CHILD_CHECK(bad.revents == (EV_ERROR | EV_READ | EV_WRITE));
  CHILD_CHECK(bad.revents == (int)0x80000003);
  CHILD_CHECK(!ev_is_active(&bad.io));
  CHILD_CHECK(good.calls == 0);

  CHILD_CHECK(write(p[1], "x", 1) == 1);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(good.calls == 1);
  CHILD_CHECK(good.revents == EV_READ);
  CHILD_CHECK(good.last_byte == 'x');
  test_run_nowait(loop, 2);
  CHILD_CHECK(good.calls == 1);
  CHILD_CHECK(bad.calls == 1);
  ev_io_stop(loop, &good.io);
  ev_loop_destroy(loop);
}

static void bad_fd_reports_ev_error(void **state)
{
  run_in_child(bad_fd_body);
}

/* Closing an fd while its watcher is active breaks libev's rules, but must neither crash nor
 * make the loop spin: at most one callback (EV_ERROR or a spurious event), a blocking run with
 * a 50 ms timer takes a handful of iterations, and after stopping the watcher the loop works. */
static void fd_closed_while_started_body(void)
{
  struct ev_loop *loop = child_loop();
  struct probe p, q;
  ev_timer t;
  int a[2], b[2];

  CHILD_CHECK(pipe(a) == 0);
  probe_init(&p, a[0], EV_READ);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(p.calls == 0);

  close(a[0]);
  close(a[1]);
  ev_timer_init(&t, break_cb, 0.05, 0.);
  ev_timer_start(loop, &t);
  unsigned int before = ev_iteration(loop);
  ev_run(loop, 0);
  unsigned int iterations = ev_iteration(loop) - before;
  if (iterations > 5)
    dprintf(2, "# %u iterations in 50 ms, %d callbacks\n", iterations, p.calls);
  CHILD_CHECK(iterations <= 5);
  CHILD_CHECK(p.calls <= 1);
  ev_io_stop(loop, &p.io);

  /* the loop still works, also for a new file on the same number */
  CHILD_CHECK(pipe(b) == 0);
  probe_init(&q, b[0], EV_READ);
  q.read_per_call = 1;
  ev_io_start(loop, &q.io);
  CHILD_CHECK(write(b[1], "x", 1) == 1);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(q.calls == 1);
  CHILD_CHECK(q.revents == EV_READ);
  CHILD_CHECK(q.last_byte == 'x');
  ev_timer_start(loop, &t);
  before = ev_iteration(loop);
  ev_run(loop, 0);
  CHILD_CHECK(ev_iteration(loop) - before <= 3);
  CHILD_CHECK(q.calls == 1);
  CHILD_CHECK(p.calls <= 1);
  ev_io_stop(loop, &q.io);
  ev_loop_destroy(loop);
}

static void fd_closed_while_started_no_crash_no_spin(void **state)
{
  run_in_child(fd_closed_while_started_body);
}

/* The watcher moves from pipe A to pipe B that got the same fd number n. A stays open through
 * a dup, so a kernel registration of (n, A) could outlive the close: data written to A must not
 * be reported, data written to B must. between_runs: run an iteration after the stop, so the
 * stop reaches the backend before the new start; otherwise stop/close/reuse/start all happen
 * before the next ev_run. */
static void check_reused_fd(int between_runs)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int a[2], b[2];

  make_pipe(a);
  int n = a[0];
  int keep_a = dup(a[0]);
  assert_true(keep_a >= 0);

  probe_init(&p, n, EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 0);

  ev_io_stop(loop, &p.io);
  if (between_runs)
    ev_run(loop, EVRUN_NOWAIT);
  close(n);
  make_pipe(b);
  if (b[0] != n) {
    assert_int_equal(dup2(b[0], n), n);
    close(b[0]);
    b[0] = n;
  }
  ev_io_set(&p.io, n, EV_READ);
  ev_io_start(loop, &p.io);

  test_put(a[1], "A");
  test_run_nowait(loop, 3);
  assert_int_equal(p.calls, 0);

  test_put(b[1], "B");
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.revents, EV_READ);
  assert_int_equal(p.last_read, 1);
  assert_int_equal(p.last_byte, 'B');
  test_run_nowait(loop, 2);
  assert_int_equal(p.calls, 1);

  ev_io_stop(loop, &p.io);
  close(keep_a);
  close(a[1]);
  close2(b);
  ev_loop_destroy(loop);
}

static void reused_fd_number_after_stop(void **state)
{
  check_reused_fd(1);
}

static void reused_fd_number_within_one_iteration(void **state)
{
  check_reused_fd(0);
}

/* fd a watched; b = dup(a); the watcher moves to b and a is closed: events arrive through b
 * only (an epoll registration of a's number can outlive the close, since the file stays open
 * through b). */
static void dup_fd_watcher_moved(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int fds[2];

  make_pipe(fds);
  int a = fds[0];
  probe_init(&p, a, EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 0);

  int b = dup(a);
  assert_true(b >= 0);
  ev_io_stop(loop, &p.io);
  close(a);
  ev_io_set(&p.io, b, EV_READ);
  ev_io_start(loop, &p.io);

  test_put(fds[1], "x");
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.fd_seen, b);
  assert_int_equal(p.revents, EV_READ);
  assert_int_equal(p.last_byte, 'x');
  test_run_nowait(loop, 2);
  assert_int_equal(p.calls, 1);
  test_put(fds[1], "y");
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 2);
  assert_int_equal(p.last_byte, 'y');
  assert_int_equal(ev_pending_count(loop), 0);

  ev_io_stop(loop, &p.io);
  close(b);
  close(fds[1]);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Files without readiness: regular files and /dev/null are always ready */

static void check_always_ready(int fd)
{
  struct ev_loop *loop = test_loop(0);
  struct probe r, w, rw;

  probe_init(&r, fd, EV_READ);
  probe_init(&w, fd, EV_WRITE);
  probe_init(&rw, fd, EV_READ | EV_WRITE);
  ev_io_start(loop, &r.io);
  ev_io_start(loop, &w.io);
  ev_io_start(loop, &rw.io);
  for (int i = 1; i <= 3; i++) {
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.calls, i);
    assert_int_equal(r.revents, EV_READ);
    assert_int_equal(w.calls, i);
    assert_int_equal(w.revents, EV_WRITE);
    assert_int_equal(rw.calls, i);
    assert_int_equal(rw.revents, EV_READ | EV_WRITE);
  }
  ev_io_stop(loop, &r.io);
  ev_io_stop(loop, &w.io);
  ev_io_stop(loop, &rw.io);
  test_run_nowait(loop, 2);
  assert_int_equal(rw.calls, 3);
  ev_loop_destroy(loop);
}

static void regular_file_always_ready(void **state)
{
  FILE *f = tmpfile();
  assert_non_null(f);
  check_always_ready(fileno(f));
  fclose(f);
}

static void dev_null_always_ready(void **state)
{
  int fd = open("/dev/null", O_RDWR);
  assert_true(fd >= 0);
  check_always_ready(fd);
  close(fd);
}

/* ---------------------------------------------------------------------------------------- */
/* Fork */

/* Parent and child both keep using the loop: the child calls ev_loop_fork, watches a pipe of
 * its own and stops the inherited watcher (which must not touch the parent's kernel state); the
 * parent's watcher works after the child has exited. */
static void fork_parent_and_child_keep_using_loop(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe p;
  int fds[2];

  make_pipe(fds);
  probe_init(&p, fds[0], EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 0);

  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct probe c;
    int cp[2];
    alarm(20);
    ev_loop_fork(loop);
    CHILD_CHECK(pipe(cp) == 0);
    probe_init(&c, cp[0], EV_READ);
    c.read_per_call = 1;
    ev_io_start(loop, &c.io);
    CHILD_CHECK(write(cp[1], "c", 1) == 1);
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(c.calls == 1);
    CHILD_CHECK(c.revents == EV_READ);
    CHILD_CHECK(c.last_byte == 'c');
    CHILD_CHECK(p.calls == 0);
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(c.calls == 1);
    ev_io_stop(loop, &p.io);
    ev_io_stop(loop, &c.io);
    ev_run(loop, EVRUN_NOWAIT);
    ev_loop_destroy(loop);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    printf("# child killed by signal %d\n", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  test_run_nowait(loop, 2);
  assert_int_equal(p.calls, 0);
  test_put(fds[1], "p");
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.revents, EV_READ);
  assert_int_equal(p.last_byte, 'p');
  test_run_nowait(loop, 2);
  assert_int_equal(p.calls, 1);

  ev_io_stop(loop, &p.io);
  close2(fds);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* Many descriptors */

#define MANY 2000

/* 2000 readable socketpairs are all reported in one iteration, fd numbers far beyond
 * FD_SETSIZE included (select too). */
static void many_fds_all_reported_in_one_iteration(void **state)
{
  struct rlimit rl;
  rlim_t need = 2 * MANY + 100;

  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < need) {
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
      printf("# skipped: RLIMIT_NOFILE hard limit %lu < %lu\n", (unsigned long)rl.rlim_max,
             (unsigned long)need);
      return;
    }
    rl.rlim_cur = need;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }

  struct ev_loop *loop = test_loop(0);
  int (*sv)[2] = calloc(MANY, sizeof *sv);
  struct probe *p = calloc(MANY, sizeof *p);
  assert_non_null(sv);
  assert_non_null(p);
  for (int i = 0; i < MANY; i++) {
    make_socketpair(sv[i]);
    test_put(sv[i][0], "x");
    probe_init(&p[i], sv[i][1], EV_READ);
    ev_io_start(loop, &p[i].io);
  }
  assert_true(sv[MANY - 1][1] > 2 * MANY);

  ev_run(loop, EVRUN_NOWAIT);
  int once = 0, total = 0;
  for (int i = 0; i < MANY; i++) {
    once += p[i].calls == 1 && p[i].revents == EV_READ;
    total += p[i].calls;
  }
  assert_int_equal(total, MANY);
  assert_int_equal(once, MANY);

  ev_run(loop, EVRUN_NOWAIT);
  total = 0;
  for (int i = 0; i < MANY; i++)
    total += p[i].calls;
  assert_int_equal(total, 2 * MANY);

  for (int i = 0; i < MANY; i++) {
    ev_io_stop(loop, &p[i].io);
    close2(sv[i]);
  }
  free(sv);
  free(p);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* ev_feed_fd_event */

static void feed_fd_event_delivers_to_watchers(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe r, w;
  int fds[2];

  make_pipe(fds); /* the read end is never writable and stays empty */
  probe_init(&r, fds[0], EV_READ);
  probe_init(&w, fds[0], EV_WRITE);
  ev_io_start(loop, &r.io);
  ev_io_start(loop, &w.io);
  test_run_nowait(loop, 2);
  assert_int_equal(r.calls, 0);
  assert_int_equal(w.calls, 0);

  ev_feed_fd_event(loop, fds[0], EV_WRITE);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(r.calls, 0);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.revents, EV_WRITE);

  ev_feed_fd_event(loop, fds[0], EV_READ | EV_WRITE);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.revents, EV_READ);
  assert_int_equal(w.calls, 2);
  assert_int_equal(w.revents, EV_WRITE);

  test_run_nowait(loop, 2);
  assert_int_equal(r.calls, 1);
  assert_int_equal(w.calls, 2);

  ev_io_stop(loop, &r.io);
  ev_io_stop(loop, &w.io);
  close2(fds);
  ev_loop_destroy(loop);
}

static void feed_fd_event_without_watchers_ignored(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct probe r, stopped;
  int fds[2];

  make_pipe(fds);
  probe_init(&r, fds[0], EV_READ | EV_WRITE);
  probe_init(&stopped, fds[1], EV_READ | EV_WRITE);
  ev_io_start(loop, &r.io);
  ev_io_start(loop, &stopped.io);
  ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(stopped.calls, 1); /* the write end is writable */
  ev_io_stop(loop, &stopped.io);
  ev_run(loop, EVRUN_NOWAIT);

  ev_feed_fd_event(loop, fds[1], EV_READ | EV_WRITE); /* known fd, no watcher left */
  ev_feed_fd_event(loop, 900, EV_READ);               /* never seen */
  ev_feed_fd_event(loop, 100000, EV_READ | EV_WRITE); /* beyond any table */
  ev_feed_fd_event(loop, INT_MAX, EV_READ);
  ev_feed_fd_event(loop, -1, EV_READ);
  assert_int_equal(ev_pending_count(loop), 0);
  test_run_nowait(loop, 2);
  assert_int_equal(r.calls, 0);
  assert_int_equal(stopped.calls, 1);

  ev_io_stop(loop, &r.io);
  close2(fds);
  ev_loop_destroy(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* System calls per iteration
 *
 * The test re-executes this program under strace with EVRING_IO_SYSCALL_CHILD set; the child
 * sets up a loop (one idle pipe watcher, one repeating timer that does not expire), warms it up
 * and runs N NOWAIT iterations between two marker syscalls (write(-1, "<marker>")). The parent
 * counts the syscalls strace logged between the markers: exactly N calls of the backend's wait
 * syscall and nothing else. io_uring may look at its completion ring without entering the
 * kernel when there is nothing to submit and no time to wait, so there it is at most N. */

#define SYSCALL_ITERATIONS 1000
#define MARK_CLOCK_BEGIN "evring-io-mark-clock-begin"
#define MARK_CLOCK_END "evring-io-mark-clock-end"
#define MARK_BEGIN "evring-io-mark-begin"
#define MARK_END "evring-io-mark-end"

static void mark(const char *s)
{
  if (write(-1, s, strlen(s)) != -1)
    _exit(4);
}

static void timer_nop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static int syscall_child(void)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  if (!loop || ev_backend(loop) != test_backend())
    return 3;
  int fds[2];
  if (pipe(fds))
    return 3;
  struct probe p;
  ev_timer t;
  probe_init(&p, fds[0], EV_READ);
  ev_io_start(loop, &p.io);
  ev_timer_init(&t, timer_nop_cb, 3600., 3600.);
  ev_timer_start(loop, &t);
  test_run_nowait(loop, 10);

  /* are clock reads syscalls on this machine (no vDSO clock source)? */
  struct timespec ts;
  struct timeval tv;
  mark(MARK_CLOCK_BEGIN);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  gettimeofday(&tv, NULL);
  mark(MARK_CLOCK_END);

  mark(MARK_BEGIN);
  for (int i = 0; i < SYSCALL_ITERATIONS; i++)
    ev_run(loop, EVRUN_NOWAIT);
  mark(MARK_END);
  return p.calls == 0 ? 0 : 5;
}

static int is_wait_syscall(const char *name)
{
  static const char *const waits[][4] = {
    [0] = {"select", "pselect6", "_newselect", NULL},
    [1] = {"poll", "ppoll", NULL},
    [2] = {"epoll_wait", "epoll_pwait", "epoll_pwait2", NULL},
    [3] = {"io_uring_enter", "epoll_wait", "epoll_pwait", NULL}, /* io_uring: an unchanged
                                                                   * set waits like epoll */
  };
  int k;
  switch (test_backend()) {
  case EVBACKEND_SELECT: k = 0; break;
  case EVBACKEND_POLL: k = 1; break;
  case EVBACKEND_EPOLL: k = 2; break;
  default: k = 3; break;
  }
  for (int i = 0; waits[k][i]; i++)
    if (!strcmp(name, waits[k][i]))
      return 1;
  return 0;
}

static int have_strace(void)
{
  fflush(NULL);
  return system("strace -qq -o /dev/null true >/dev/null 2>&1") == 0;
}

static void one_wait_syscall_per_iteration(void **state)
{
  if (system("command -v strace >/dev/null 2>&1") != 0) {
    printf("# skipped: strace not installed\n");
    return;
  }
  if (!have_strace()) {
    printf("# skipped: strace cannot trace here (ptrace not permitted?)\n");
    return;
  }

  char out[64];
  const char *const env[] = { "EVRING_IO_SYSCALL_CHILD", "1", NULL };
  const char *const flags[] = { "-e", "trace=all", NULL };
  int status = test_trace_self(out, sizeof out, env, flags);

  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char line[4096], others[512] = "";
  int region = 0, clock_region = 0, begin = 0, end = 0, clock_calls = 0;
  long waits = 0, other = 0, interrupted = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, MARK_CLOCK_BEGIN)) { clock_region = 1; continue; }
    if (strstr(line, MARK_CLOCK_END)) { clock_region = 0; continue; }
    if (strstr(line, MARK_BEGIN)) { region = 1; begin = 1; continue; }
    if (strstr(line, MARK_END)) { region = 0; end = 1; continue; }
    if (clock_region)
      clock_calls++;
    if (!region)
      continue;
    char name[64] = "";
    sscanf(line, "%63[a-z0-9_]", name);
    /* A call interrupted by the kernel (strace: "= ? ERESTART...") is restarted transparently,
     * as the same call or as restart_syscall: one call of the program, counted once. */
    if (strstr(line, "= ? ERESTART")) {
      interrupted++;
      continue;
    }
    if (!strcmp(name, "restart_syscall")) {
      const char *r = strstr(line, "resuming interrupted ");
      if (r)
        sscanf(r + strlen("resuming interrupted "), "%63[a-z0-9_]", name);
    }
    if (is_wait_syscall(name)) {
      waits++;
    } else {
      if (other++ < 8 && strlen(others) + strlen(name) + 2 < sizeof others) {
        strcat(others, " ");
        strcat(others, name);
      }
    }
  }
  fclose(f);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) || !begin || !end) {
    printf("# traced child: status 0x%x, markers %d/%d, trace kept in %s\n", status, begin,
           end, out);
    fail();
  }
  unlink(out);
  if (clock_calls) {
    printf("# skipped: clock reads are system calls on this machine (no vDSO clock source)\n");
    return;
  }
  printf("# %s: %d iterations, %ld wait syscalls, %ld other syscalls%s\n", test_backend_name(),
         SYSCALL_ITERATIONS, waits, other, others);
  if (interrupted)
    printf("# %ld calls were interrupted and restarted by the kernel\n", interrupted);
  assert_int_equal(other, 0);
  if (test_backend() == EVBACKEND_IOURING)
    assert_in_range(waits, 0, SYSCALL_ITERATIONS);
  else
    assert_int_equal(waits, SYSCALL_ITERATIONS);
}

/* ---------------------------------------------------------------------------------------- */

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  if (getenv("EVRING_IO_SYSCALL_CHILD"))
    _exit(syscall_child()); /* no exit handlers: LeakSanitizer refuses to run under ptrace */

  const struct CMUnitTest tests[] = {
    cmocka_unit_test(level_triggered_socketpair),
    cmocka_unit_test(level_triggered_pipe),
    cmocka_unit_test(level_triggered_pty_slave),
    cmocka_unit_test(level_triggered_pty_master),
    cmocka_unit_test(write_fires_every_iteration),
    cmocka_unit_test(read_write_gives_both_bits),
    cmocka_unit_test(modify_changes_reported_events),
    cmocka_unit_test(several_watchers_on_one_fd_all_called),
    cmocka_unit_test(watchers_on_one_fd_get_only_their_events),
    cmocka_unit_test(zero_events_watcher_active_never_called),
    cmocka_unit_test(stop_one_of_two_keeps_other),
    cmocka_unit_test(stopped_watcher_not_called),
    cmocka_unit_test(stop_other_watcher_in_callback_same_fd),
    cmocka_unit_test(stop_other_watcher_in_callback_other_fd),
    cmocka_unit_test(eof_socketpair_peer_closed),
    cmocka_unit_test(eof_pipe_writer_closed),
    cmocka_unit_test(bad_fd_reports_ev_error),
    cmocka_unit_test(fd_closed_while_started_no_crash_no_spin),
    cmocka_unit_test(reused_fd_number_after_stop),
    cmocka_unit_test(reused_fd_number_within_one_iteration),
    cmocka_unit_test(dup_fd_watcher_moved),
    cmocka_unit_test(regular_file_always_ready),
    cmocka_unit_test(dev_null_always_ready),
    cmocka_unit_test(fork_parent_and_child_keep_using_loop),
    cmocka_unit_test(many_fds_all_reported_in_one_iteration),
    cmocka_unit_test(feed_fd_event_delivers_to_watchers),
    cmocka_unit_test(feed_fd_event_without_watchers_ignored),
    cmocka_unit_test(one_wait_syscall_per_iteration),
  };
  return TEST_MAIN("io", tests);
}
