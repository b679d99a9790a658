/* syserr.c - after the syserr callback returned, the loop carries on without crashing
 * (built as build/tests/faults-syserr, run on every backend like every behaviour program).
 *
 * libev documents that a syserr callback which returns lets the library go on ("libev will
 * generally retry the requested operation, or, if the condition doesn't go away, do bad
 * stuff (such as abort)"). Reading a null callback pointer is not among the things it may do.
 * Found by tests/faults.sh: eventfd() failing (EMFILE under RLIMIT_NOFILE, or injected) in
 * ev_async_start/ev_signal_start is reported, and the next wake-up then calls the loop's
 * internal wake-up watcher, which was never initialised. Those cases run in a forked child
 * with every descriptor used up, so that the loop's eventfd cannot be created. Also found
 * there: a loop descriptor the backend finds bad (an injected EBADF, EINVAL or ELOOP) used to
 * stop the internal watcher silently. */
#include "../test.h"

static int syserr_calls;

static void count_syserr(const char *msg)
{
  (void)msg;
  syserr_calls++;
}

/* In the forked child a crash must kill it: cmocka's handlers would resume the test run. */
static void default_crash_signals(void)
{
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    signal(sigs[i], SIG_DFL);
}

/* Use up every descriptor: the next eventfd() fails with EMFILE. */
static void use_up_descriptors(void)
{
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = 64;
  setrlimit(RLIMIT_NOFILE, &rl);
  while (dup(0) >= 0)
    ;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
  (void)loop, (void)w, (void)revents;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
  (void)loop, (void)w, (void)revents;
}

/* Exit status of the child: 0 when the syserr callback reported the failure and the loop
 * went on; 3 when no failure was reported (the descriptors were not used up). */
static void async_body(void *arg)
{
  (void)arg;
  default_crash_signals();
  struct ev_loop *loop = test_loop(0);
  ev_set_syserr_cb(count_syserr);
  use_up_descriptors();
  ev_async a;
  ev_async_init(&a, async_cb);
  ev_async_start(loop, &a);
  if (!syserr_calls)
    _exit(3);
  ev_async_send(loop, &a);
  test_run_nowait(loop, 3);
  _exit(0);
}

static void signal_body(void *arg)
{
  (void)arg;
  default_crash_signals();
  struct ev_loop *loop = test_loop(0);
  ev_set_syserr_cb(count_syserr);
  use_up_descriptors();
  ev_signal s;
  ev_signal_init(&s, signal_cb, SIGUSR1);
  ev_signal_start(loop, &s);
  if (!syserr_calls)
    _exit(3);
  raise(SIGUSR1);
  test_run_nowait(loop, 3);
  ev_signal_stop(loop, &s);
  _exit(0);
}

/* The number of the eventfd the loop created in `make`, found by its link in /proc/self/fd. */
static int new_eventfd(void (*make)(void *), void *arg)
{
  char seen[1024] = {0}, path[64], link[64];
  for (int pass = 0; pass < 2; pass++) {
    if (pass)
      make(arg);
    for (int fd = 0; fd < 1024; fd++) {
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, link, sizeof link - 1);
      if (n <= 0)
        continue;
      link[n] = 0;
      if (strcmp(link, "anon_inode:[eventfd]"))
        continue;
      if (!pass)
        seen[fd] = 1;
      else if (!seen[fd])
        return fd;
    }
  }
  return -1;
}

static ev_async own_fd_async;

static void start_async(void *loop)
{
  ev_async_init(&own_fd_async, async_cb);
  ev_async_start(loop, &own_fd_async);
}

/* Exit status: 0 when the failure went to the syserr callback and ev_run still returns once
 * nothing is active; 3 without a syserr report; 4 if the eventfd was not found. */
static void own_fd_body(void *arg)
{
  (void)arg;
  default_crash_signals();
  struct ev_loop *loop = test_loop(0);
  ev_set_syserr_cb(count_syserr);
  int fd = new_eventfd(start_async, loop);
  if (fd < 0)
    _exit(4);
  /* Closed before the loop gave it to the kernel: every backend finds it bad (EBADF from
   * epoll_ctl, select and fcntl, POLLNVAL from poll and io_uring). */
  close(fd);
  test_run_nowait(loop, 3);
  if (!syserr_calls)
    _exit(3);
  ev_async_stop(loop, &own_fd_async);
  ev_run(loop, 0); /* nothing active: returns at once (the alarm catches a hang) */
  _exit(0);
}

static void expect_clean_exit(void (*body)(void *))
{
  char how[64];
  int status = test_run_child(body, NULL, -1);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child should exit 0 after the syserr report, got %s%s", how,
             WIFEXITED(status) && WEXITSTATUS(status) == 3 ? " (no syserr report)" : "");
}

static void async_send_after_failed_wakeup_fd_does_not_crash(void **state)
{
  (void)state;
  expect_clean_exit(async_body);
}

static void signal_after_failed_wakeup_fd_does_not_crash(void **state)
{
  (void)state;
  expect_clean_exit(signal_body);
}

/* The loop's own descriptors (wake-up eventfd, signalfd, inotify, timerfd) carry no user
 * watcher that an EV_ERROR could reach: a backend that finds one bad must say so through
 * syserr, not stop the internal watcher silently (signals and ev_async would never arrive). */
static void loop_own_fd_reported_bad_goes_to_syserr(void **state)
{
  (void)state;
  char how[64];
  int status = test_run_child(own_fd_body, NULL, -1);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child should exit 0, got %s%s", how,
             WIFEXITED(status) && WEXITSTATUS(status) == 3   ? " (no syserr report)"
             : WIFEXITED(status) && WEXITSTATUS(status) == 4 ? " (eventfd not found)"
                                                             : "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(loop_own_fd_reported_bad_goes_to_syserr),
    cmocka_unit_test(async_send_after_failed_wakeup_fd_does_not_crash),
    cmocka_unit_test(signal_after_failed_wakeup_fd_does_not_crash),
  };
  return TEST_MAIN("faults-syserr", tests);
}
