/* errors.c - usage errors that abort (and the ones that do not), ev_set_syserr_cb, the io and
 * timeout collect intervals, the file descriptors each backend opens (close-on-exec, none left
 * after ev_loop_destroy, EVFLAG_NOTIMERFD/EVFLAG_NOINOTIFY), allocation failures at every
 * point of a small program, and LIBEV_FLAGS being ignored in a setuid/setgid process.
 *
 * Everything that may abort runs in a forked child (stderr redirected, no core file). */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

static void expect_clean_exit(void (*body)(void *), void *arg)
{
  int status = test_run_child(body, arg, -1);
  char how[64];
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child should exit 0, got %s", how);
}

/* What a descriptor's /proc/self/fd link says ("" when it is not open). */
static void fd_target(int fd, char *buf, size_t n)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t len = readlink(path, buf, n - 1);
  buf[len > 0 ? len : 0] = 0;
}

enum { MAXFD = 1024 };

static void snapshot(unsigned char *open_now)
{
  for (int fd = 0; fd < MAXFD; fd++)
    open_now[fd] = fcntl(fd, F_GETFD) >= 0;
}

/* Descriptors open now but not in `before`; with `kind`, only those whose link names it.
 * The first ones found go to out[] (up to `max`). */
static int new_fds(const unsigned char *before, const char *kind, int *out, int max)
{
  int n = 0;
  for (int fd = 0; fd < MAXFD; fd++) {
    if (before[fd] || fcntl(fd, F_GETFD) < 0)
      continue;
    char target[256];
    fd_target(fd, target, sizeof target);
    if (kind && !strstr(target, kind))
      continue;
    if (out && n < max)
      out[n] = fd;
    n++;
  }
  return n;
}

static void noop_io(struct ev_loop *l, ev_io *w, int rev) {}
static void noop_timer(struct ev_loop *l, ev_timer *w, int rev) {}
static void noop_periodic(struct ev_loop *l, ev_periodic *w, int rev) {}
static void noop_async(struct ev_loop *l, ev_async *w, int rev) {}
static void noop_stat(struct ev_loop *l, ev_stat *w, int rev) {}
static void noop_signal(struct ev_loop *l, ev_signal *w, int rev) {}

/* ------------------------------------------------------------------------------------------ */
/* 1. usage errors                                                                            */

static void body_io_negative_fd(void *arg)
{
  struct ev_loop *l = test_loop(0);
  ev_io w;
  ev_io_init(&w, noop_io, -1, EV_READ);
  ev_io_start(l, &w);
}

static void io_start_with_negative_fd_aborts(void **state)
{
  test_expect_abort(body_io_negative_fd, NULL);
}

static void body_io_bad_events(void *arg)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  ev_io w;
  ev_io_init(&w, noop_io, p[0], EV_READ | 0x100);
  ev_io_start(l, &w);
}

static void io_start_with_event_bits_outside_read_write_aborts(void **state)
{
  test_expect_abort(body_io_bad_events, NULL);
}

static void body_timer_negative_repeat(void *arg)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, noop_timer, 1., -1.);
  ev_timer_start(l, &t);
}

static void timer_start_with_negative_repeat_aborts(void **state)
{
  test_expect_abort(body_timer_negative_repeat, NULL);
}

static void body_timer_again_negative_repeat(void *arg)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, noop_timer, 1., -1.);
  ev_timer_again(l, &t); /* inactive: again starts it with repeat as the timeout */
}

static void timer_again_with_negative_repeat_aborts(void **state)
{
  test_expect_abort(body_timer_again_negative_repeat, NULL);
}

static void body_periodic_negative_interval(void *arg)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, noop_periodic, 0., -1., 0);
  ev_periodic_start(l, &p);
}

static void periodic_start_with_negative_interval_aborts(void **state)
{
  test_expect_abort(body_periodic_negative_interval, NULL);
}

static void body_embed(void *arg)
{
  unsigned int inner_backend = *(unsigned int *)arg;
  struct ev_loop *l = test_loop(0);
  struct ev_loop *inner = ev_loop_new(inner_backend | EVFLAG_NOENV);
  if (!inner)
    _exit(3);
  ev_embed e;
  ev_embed_init(&e, 0, inner);
  ev_embed_start(l, &e);
  ev_run(l, EVRUN_NOWAIT);
  ev_embed_stop(l, &e);
  ev_loop_destroy(inner);
  ev_loop_destroy(l);
}

static void embed_start_of_a_select_or_poll_loop_aborts(void **state)
{
  unsigned int b = EVBACKEND_SELECT;
  test_expect_abort(body_embed, &b);
  b = EVBACKEND_POLL;
  test_expect_abort(body_embed, &b);
}

static void embed_start_of_an_epoll_loop_does_not_abort(void **state)
{
  unsigned int b = EVBACKEND_EPOLL;
  expect_clean_exit(body_embed, &b);
}

static void body_io_double_start_stop(void *arg)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  ev_io w;
  ev_io_init(&w, noop_io, p[0], EV_READ);
  ev_io_start(l, &w);
  ev_io_start(l, &w);
  if (!ev_is_active(&w) || ev_run(l, EVRUN_NOWAIT) != 1)
    _exit(4);
  ev_io_stop(l, &w);
  ev_io_stop(l, &w);
  if (ev_is_active(&w) || ev_run(l, EVRUN_NOWAIT) != 0)
    _exit(5);
  ev_loop_destroy(l);
}

static void io_double_start_and_double_stop_do_not_abort(void **state)
{
  expect_clean_exit(body_io_double_start_stop, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* 2. ev_set_syserr_cb                                                                         */

static int syserr_calls;
static char syserr_msg[256];
static void record_syserr(const char *msg)
{
  syserr_calls++;
  snprintf(syserr_msg, sizeof syserr_msg, "%s", msg ? msg : "(null)");
}

static int idle_calls;
static void count_idle(struct ev_loop *l, ev_idle *w, int rev) { idle_calls++; }

/* An epoll loop whose epoll fd has been closed behind its back; *epfd gets the number. */
static struct ev_loop *epoll_loop_without_its_fd(int *epfd)
{
  static unsigned char before[MAXFD];
  snapshot(before);
  struct ev_loop *l = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
  assert_non_null(l);
  int fds[4];
  assert_int_equal(new_fds(before, "anon_inode:[eventpoll]", fds, 4), 1);
  *epfd = fds[0];
  assert_int_equal(close(*epfd), 0);
  return l;
}

/* Give the loop something harmless to close in ev_loop_destroy. */
static void refill_fd(int fd)
{
  int null = open("/dev/null", O_RDONLY);
  assert_true(null >= 0);
  if (null != fd) {
    assert_int_equal(dup2(null, fd), fd);
    close(null);
  }
}

static void syserr_cb_is_called_when_epoll_wait_fails_and_the_loop_carries_on(void **state)
{
  if (test_backend() != EVBACKEND_EPOLL) {
    printf("# skipped: epoll only\n");
    return;
  }
  int epfd;
  struct ev_loop *l = epoll_loop_without_its_fd(&epfd);
  ev_idle idle;
  ev_idle_init(&idle, count_idle);
  ev_idle_start(l, &idle);
  syserr_calls = idle_calls = 0;
  syserr_msg[0] = 0;
  ev_set_syserr_cb(record_syserr);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  assert_int_equal(syserr_calls, 1);
  assert_non_null(strstr(syserr_msg, "epoll_wait"));
  assert_int_equal(idle_calls, 1); /* the iteration went on after the callback returned */
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  assert_int_equal(syserr_calls, 2); /* and the next iteration tries again */
  assert_int_equal(idle_calls, 2);
  ev_set_syserr_cb(NULL);
  ev_idle_stop(l, &idle);
  refill_fd(epfd);
  ev_loop_destroy(l);
}

static void body_syserr_default(void *arg)
{
  int epfd;
  struct ev_loop *l = epoll_loop_without_its_fd(&epfd);
  ev_idle idle;
  ev_idle_init(&idle, count_idle);
  ev_idle_start(l, &idle);
  ev_run(l, EVRUN_NOWAIT);
}

static void syserr_default_is_perror_and_abort(void **state)
{
  if (test_backend() != EVBACKEND_EPOLL) {
    printf("# skipped: epoll only\n");
    return;
  }
  char path[] = "/tmp/evring-syserr-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  int status = test_run_child(body_syserr_default, NULL, fd);
  char how[64], err[512];
  test_describe_status(status, how, sizeof how);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("child should die of SIGABRT, got %s", how);
  ssize_t n = pread(fd, err, sizeof err - 1, 0);
  close(fd);
  err[n > 0 ? n : 0] = 0;
  /* perror(msg): "msg: strerror(errno)" */
  if (!strstr(err, "epoll_wait: Bad file descriptor"))
    fail_msg("stderr was \"%s\"", err);
}

/* ------------------------------------------------------------------------------------------ */
/* 3. collect intervals                                                                       */

static int io_calls;
static void count_io(struct ev_loop *l, ev_io *w, int rev) { io_calls++; }

static double one_iteration_with_readable_pipe(double io_collect, int flags)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  ev_io w;
  ev_io_init(&w, count_io, p[0], EV_READ);
  ev_io_start(l, &w);
  ev_set_io_collect_interval(l, io_collect);
  io_calls = 0;
  /* The interval counts from the end of the last wait: one wait now, not the loop's (slow,
   * under emulation) creation, is where it starts. */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(write(p[1], "x", 1), 1);
  double t0 = mono();
  ev_run(l, flags);
  double took = mono() - t0;
  assert_int_equal(io_calls, 1);
  ev_io_stop(l, &w);
  ev_loop_destroy(l);
  close(p[0]);
  close(p[1]);
  return took;
}

static void io_collect_interval_sleeps_before_a_poll_that_may_block(void **state)
{
  /* The io is ready at once, but the loop would block (an active io watcher, no timers), so it
   * first sleeps the collect interval. */
  assert_between(one_iteration_with_readable_pipe(0.05, EVRUN_ONCE), 0.045, 0.5);
}

static void io_collect_interval_is_not_slept_with_nowait(void **state)
{
  assert_between(one_iteration_with_readable_pipe(0.05, EVRUN_NOWAIT), 0., latency(0.03));
}

static void io_collect_interval_0_does_not_sleep(void **state)
{
  assert_between(one_iteration_with_readable_pipe(0., EVRUN_ONCE), 0., latency(0.03));
}

static int timer_calls;
static double timer_fired_after;
static double timer_t0;
static void count_timer(struct ev_loop *l, ev_timer *w, int rev)
{
  timer_calls++;
  timer_fired_after = mono() - timer_t0;
}

static void timeout_collect_interval_delays_a_short_timer(void **state)
{
  /* A timer due in 0.01 s does not make the loop wake before the 0.1 s collect interval. */
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 0.01, 0.);
  ev_set_timeout_collect_interval(l, 0.1);
  ev_now_update(l);
  timer_calls = 0;
  timer_t0 = mono();
  ev_timer_start(l, &t);
  ev_run(l, EVRUN_ONCE);
  assert_int_equal(timer_calls, 1);
  assert_between(timer_fired_after, 0.095, 0.5);
  ev_loop_destroy(l);
}

static void timeout_collect_interval_does_not_delay_ready_io(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_io w;
  ev_io_init(&w, count_io, p[0], EV_READ);
  ev_io_start(l, &w);
  ev_set_timeout_collect_interval(l, 0.5);
  io_calls = 0;
  double t0 = mono();
  ev_run(l, EVRUN_ONCE);
  assert_between(mono() - t0, 0., latency(0.1)); /* < the 0.5 s interval: 4x is 0.4 */
  assert_int_equal(io_calls, 1);
  ev_io_stop(l, &w);
  ev_loop_destroy(l);
  close(p[0]);
  close(p[1]);
}

/* ------------------------------------------------------------------------------------------ */
/* 4. file descriptors                                                                        */

static int fds_of_new_loop(unsigned int backend)
{
  static unsigned char before[MAXFD];
  snapshot(before);
  struct ev_loop *l = ev_loop_new(backend | EVFLAG_NOENV);
  assert_non_null(l);
  int n = new_fds(before, NULL, NULL, 0);
  ev_loop_destroy(l);
  assert_int_equal(new_fds(before, NULL, NULL, 0), 0);
  return n;
}

static void new_loop_opens_0_fds_for_select_poll_1_for_epoll(void **state)
{
  unsigned int b = test_backend();
  int n = fds_of_new_loop(b);
  if (b == EVBACKEND_SELECT || b == EVBACKEND_POLL)
    assert_int_equal(n, 0);
  else if (b == EVBACKEND_EPOLL)
    assert_int_equal(n, 1);
  else {
    printf("# io_uring loop opens %d fds\n", n);
    assert_in_range(n, 1, 2);
  }
}

/* A loop with async, periodic, stat and signal watchers started (and a run), then stopped. */
struct all_watchers {
  ev_async a;
  ev_periodic p;
  ev_stat s;
  ev_signal g;
};

static void start_all(struct ev_loop *l, struct all_watchers *w)
{
  ev_async_init(&w->a, noop_async);
  ev_async_start(l, &w->a);
  ev_periodic_init(&w->p, noop_periodic, 0., 100., 0);
  ev_periodic_start(l, &w->p);
  ev_stat_init(&w->s, noop_stat, "/tmp", 0.);
  ev_stat_start(l, &w->s);
  ev_signal_init(&w->g, noop_signal, SIGUSR2);
  ev_signal_start(l, &w->g);
  ev_async_send(l, &w->a);
  ev_run(l, EVRUN_NOWAIT);
}

static void stop_all(struct ev_loop *l, struct all_watchers *w)
{
  ev_async_stop(l, &w->a);
  ev_periodic_stop(l, &w->p);
  ev_stat_stop(l, &w->s);
  ev_signal_stop(l, &w->g);
  signal(SIGUSR2, SIG_DFL);
}

static void every_internal_fd_is_close_on_exec(void **state)
{
  static unsigned char before[MAXFD];
  snapshot(before);
  struct ev_loop *l = test_loop(0);
  struct all_watchers w;
  start_all(l, &w);
  int fds[32];
  int n = new_fds(before, NULL, fds, 32);
  assert_in_range(n, 3, 32); /* at least eventfd, timerfd, inotify */
  for (int i = 0; i < n; i++) {
    char target[256];
    fd_target(fds[i], target, sizeof target);
    if (!(fcntl(fds[i], F_GETFD) & FD_CLOEXEC))
      fail_msg("fd %d (%s) is not close-on-exec", fds[i], target);
  }
  stop_all(l, &w);
  ev_loop_destroy(l);
}

static void loop_destroy_leaves_no_fd_after_async_periodic_stat_and_signal(void **state)
{
  static unsigned char before[MAXFD];
  snapshot(before);
  struct ev_loop *l = test_loop(0);
  struct all_watchers w;
  int eventfds = new_fds(before, "anon_inode:[eventfd]", NULL, 0);
  int timerfds = new_fds(before, "anon_inode:[timerfd]", NULL, 0);
  start_all(l, &w);
  eventfds = new_fds(before, "anon_inode:[eventfd]", NULL, 0) - eventfds;
  timerfds = new_fds(before, "anon_inode:[timerfd]", NULL, 0) - timerfds;
  int inotifies = new_fds(before, "anon_inode:inotify", NULL, 0);
  stop_all(l, &w);
  ev_loop_destroy(l);
  /* one eventfd for async and signal together, one timerfd, one inotify fd */
  assert_int_equal(eventfds, 1);
  assert_int_equal(timerfds, 1);
  assert_int_equal(inotifies, 1);
  int fds[8];
  int n = new_fds(before, NULL, fds, 8);
  if (n) {
    char target[256];
    fd_target(fds[0], target, sizeof target);
    fail_msg("%d fds left after ev_loop_destroy, first %d -> %s", n, fds[0], target);
  }
}

static void periodic_creates_a_timerfd_unless_notimerfd(void **state)
{
  static unsigned char before[MAXFD];
  for (int notimerfd = 0; notimerfd < 2; notimerfd++) {
    snapshot(before);
    struct ev_loop *l = test_loop(notimerfd ? EVFLAG_NOTIMERFD : 0);
    int timerfds = new_fds(before, "anon_inode:[timerfd]", NULL, 0); /* io_uring may have one */
    ev_periodic p;
    ev_periodic_init(&p, noop_periodic, 0., 100., 0);
    ev_periodic_start(l, &p);
    ev_run(l, EVRUN_NOWAIT);
    timerfds = new_fds(before, "anon_inode:[timerfd]", NULL, 0) - timerfds;
    ev_periodic_stop(l, &p);
    ev_loop_destroy(l);
    assert_int_equal(timerfds, notimerfd ? 0 : 1);
    assert_int_equal(new_fds(before, NULL, NULL, 0), 0);
  }
}

static void stat_creates_an_inotify_fd_unless_noinotify(void **state)
{
  static unsigned char before[MAXFD];
  for (int noinotify = 0; noinotify < 2; noinotify++) {
    snapshot(before);
    struct ev_loop *l = test_loop(noinotify ? EVFLAG_NOINOTIFY : 0);
    ev_stat s;
    ev_stat_init(&s, noop_stat, "/tmp", 0.);
    ev_stat_start(l, &s);
    ev_run(l, EVRUN_NOWAIT);
    int inotifies = new_fds(before, "anon_inode:inotify", NULL, 0);
    ev_stat_stop(l, &s);
    ev_loop_destroy(l);
    assert_int_equal(inotifies, noinotify ? 0 : 1);
    assert_int_equal(new_fds(before, NULL, NULL, 0), 0);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* 5. allocation failures                                                                     */

static long fail_at, alloc_count;
static void *failing_alloc(void *p, long n)
{
  if (!n) {
    free(p);
    return NULL;
  }
  if (++alloc_count == fail_at)
    return NULL;
  return realloc(p, n);
}

static int alloc_pipe[2];

/* Create a loop, start io on a (readable) pipe, a timer and an async, run one iteration. */
static void small_program(void)
{
  struct ev_loop *l = ev_loop_new(test_backend() | EVFLAG_NOENV);
  if (!l)
    _exit(7);
  ev_io w;
  ev_timer t;
  ev_async a;
  ev_io_init(&w, noop_io, alloc_pipe[0], EV_READ);
  ev_io_start(l, &w);
  ev_timer_init(&t, noop_timer, 10., 0.);
  ev_timer_start(l, &t);
  ev_async_init(&a, noop_async);
  ev_async_start(l, &a);
  ev_run(l, EVRUN_ONCE);
  ev_io_stop(l, &w);
  ev_timer_stop(l, &t);
  ev_async_stop(l, &a);
  ev_loop_destroy(l);
}

static void body_count_allocations(void *arg)
{
  fail_at = 0;
  alloc_count = 0;
  ev_set_allocator(failing_alloc);
  small_program();
  _exit(alloc_count > 200 ? 200 : (int)alloc_count);
}

static void body_fail_at(void *arg)
{
  fail_at = *(long *)arg;
  alloc_count = 0;
  ev_set_allocator(failing_alloc);
  small_program();
}

static void allocation_failure_at_any_call_aborts_and_never_crashes(void **state)
{
  make_pipe(alloc_pipe);
  assert_int_equal(write(alloc_pipe[1], "x", 1), 1);
  int status = test_run_child(body_count_allocations, NULL, -1);
  assert_true(WIFEXITED(status));
  long total = WEXITSTATUS(status);
  assert_in_range(total, 1, 199);
  long last = total + 1 > 20 ? total + 1 : 20;
  for (long n = 1; n <= last; n++) {
    status = test_run_child(body_fail_at, &n, -1);
    char how[64];
    test_describe_status(status, how, sizeof how);
    if (n <= total && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
      fail_msg("allocation %ld of %ld failing: expected SIGABRT, got %s", n, total, how);
    if (n > total && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      fail_msg("allocation %ld of %ld failing (never reached): expected exit 0, got %s", n,
               total, how);
  }
  close(alloc_pipe[0]);
  close(alloc_pipe[1]);
}

static void body_first_alloc_fails(void *arg)
{
  fail_at = 1;
  alloc_count = 0;
  ev_set_allocator(failing_alloc);
  ev_loop_new(test_backend() | EVFLAG_NOENV);
}

static void allocation_failure_reports_cannot_allocate(void **state)
{
  char path[] = "/tmp/evring-alloc-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  int status = test_run_child(body_first_alloc_fails, NULL, fd);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGABRT);
  char err[512];
  ssize_t n = pread(fd, err, sizeof err - 1, 0);
  close(fd);
  err[n > 0 ? n : 0] = 0;
  if (!strstr(err, "(libev) cannot allocate "))
    fail_msg("stderr was \"%s\"", err);
}

static long live_blocks, allocs, frees;
static void *tracking_alloc(void *p, long n)
{
  if (!n) {
    if (p) {
      frees++;
      live_blocks--;
    }
    free(p);
    return NULL;
  }
  void *q = realloc(p, n);
  if (q && !p) {
    allocs++;
    live_blocks++;
  }
  return q;
}
static void *plain_alloc(void *p, long n)
{
  if (n)
    return realloc(p, n);
  free(p);
  return NULL;
}

static void every_allocation_is_freed_by_loop_destroy(void **state)
{
  live_blocks = allocs = frees = 0;
  ev_set_allocator(tracking_alloc);
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_io w;
  ev_timer t;
  ev_io_init(&w, noop_io, p[0], EV_READ);
  ev_io_start(l, &w);
  ev_timer_init(&t, noop_timer, 10., 0.);
  ev_timer_start(l, &t);
  struct all_watchers all;
  start_all(l, &all);
  ev_run(l, EVRUN_ONCE);
  ev_io_stop(l, &w);
  ev_timer_stop(l, &t);
  stop_all(l, &all);
  ev_loop_destroy(l);
  ev_set_allocator(plain_alloc);
  close(p[0]);
  close(p[1]);
  assert_true(allocs > 0);
  assert_int_equal(allocs, frees);
  assert_int_equal(live_blocks, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* 6. LIBEV_FLAGS in a setuid/setgid process                                                  */

static void body_libev_flags(void *arg)
{
  int mode = *(int *)arg; /* 0: plain, 1: setuid-like, 2: setgid-like */
  if (mode == 1 && setresuid(65534, 0, 0) != 0)
    _exit(10);
  if (mode == 2 && setresgid(65534, 0, 0) != 0)
    _exit(10);
  unsetenv("LIBEV_FLAGS");
  struct ev_loop *d = ev_loop_new(0);
  setenv("LIBEV_FLAGS", "1", 1);
  struct ev_loop *l = ev_loop_new(0);
  if (!l || !d)
    _exit(11);
  /* the default choice is epoll for Debian (io_uring is not recommended there), and whatever
   * evring recommends first */
  _exit(ev_backend(l) == EVBACKEND_SELECT ? 1 : ev_backend(l) == ev_backend(d) ? 4 : 12);
}

static void libev_flags_is_ignored_in_a_setuid_or_setgid_process(void **state)
{
  if (geteuid() != 0) {
    printf("# skipped: needs root\n");
    return;
  }
  for (int mode = 0; mode < 3; mode++) {
    int status = test_run_child(body_libev_flags, &mode, -1);
    assert_true(WIFEXITED(status));
    /* 1: LIBEV_FLAGS=1 gave select; 4: it was ignored and the default backend was used */
    assert_int_equal(WEXITSTATUS(status), mode == 0 ? 1 : 4);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(io_start_with_negative_fd_aborts),
    cmocka_unit_test(io_start_with_event_bits_outside_read_write_aborts),
    cmocka_unit_test(timer_start_with_negative_repeat_aborts),
    cmocka_unit_test(timer_again_with_negative_repeat_aborts),
    cmocka_unit_test(periodic_start_with_negative_interval_aborts),
    cmocka_unit_test(embed_start_of_a_select_or_poll_loop_aborts),
    cmocka_unit_test(embed_start_of_an_epoll_loop_does_not_abort),
    cmocka_unit_test(io_double_start_and_double_stop_do_not_abort),
    cmocka_unit_test(syserr_cb_is_called_when_epoll_wait_fails_and_the_loop_carries_on),
    cmocka_unit_test(syserr_default_is_perror_and_abort),
    cmocka_unit_test(io_collect_interval_sleeps_before_a_poll_that_may_block),
    cmocka_unit_test(io_collect_interval_is_not_slept_with_nowait),
    cmocka_unit_test(io_collect_interval_0_does_not_sleep),
    cmocka_unit_test(timeout_collect_interval_delays_a_short_timer),
    cmocka_unit_test(timeout_collect_interval_does_not_delay_ready_io),
    cmocka_unit_test(new_loop_opens_0_fds_for_select_poll_1_for_epoll),
    cmocka_unit_test(every_internal_fd_is_close_on_exec),
    cmocka_unit_test(loop_destroy_leaves_no_fd_after_async_periodic_stat_and_signal),
    cmocka_unit_test(periodic_creates_a_timerfd_unless_notimerfd),
    cmocka_unit_test(stat_creates_an_inotify_fd_unless_noinotify),
    cmocka_unit_test(allocation_failure_at_any_call_aborts_and_never_crashes),
    cmocka_unit_test(allocation_failure_reports_cannot_allocate),
    cmocka_unit_test(every_allocation_is_freed_by_loop_destroy),
    cmocka_unit_test(libev_flags_is_ignored_in_a_setuid_or_setgid_process),
  };
  return TEST_MAIN("errors", tests);
}
