/* syserr.c - after the syserr callback returned, the loop carries on without crashing
 * (built as build/tests/faults-syserr, run on every backend like every behaviour program).
 *
 * libev documents that a syserr callback which returns lets the library go on ("libev will
 * generally retry the requested operation, or, if the condition doesn't go away, do bad
 * stuff (such as abort)"). Reading a null callback pointer is not among the things it may do.
 * Found by tests/faults.sh: eventfd() failing (EMFILE under RLIMIT_NOFILE, or injected) in
 * ev_async_start/ev_signal_start is reported, and the next wake-up then calls the loop's
 * internal wake-up watcher, which was never initialised. Each case runs in a forked child
 * with every descriptor used up, so that the loop's eventfd cannot be created. */
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

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(async_send_after_failed_wakeup_fd_does_not_crash),
    cmocka_unit_test(signal_after_failed_wakeup_fd_does_not_crash),
  };
  return TEST_MAIN("faults-syserr", tests);
}
