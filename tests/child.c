/* child.c - ev_child and the default loop's SIGCHLD handling: the handler ev_default_loop
 * installs (and ev_loop_new does not), its removal on destroy, watchers for any or one pid,
 * rpid/rstatus, the priority forced to EV_MAXPRI, watchers staying active, late starts,
 * stop/continue tracing, reaping of unwatched children, gevent's save/restore of the handler.
 *
 * ev_child only works on the default loop: each test creates it on the backend under test
 * (fixture setup) and destroys it again (teardown), which also stops leftover watchers and
 * kills leftover children, so that tests stay independent. */
#include "test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

static void sleep_ms(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static struct sigaction disposition(int signum)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  assert_int_equal(sigaction(signum, NULL, &sa), 0);
  return sa;
}

static int mask_is_full(const sigset_t *m)
{
  for (int s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP && !sigismember(m, s))
      return 0;
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
    if (!sigismember(m, s))
      return 0;
  return 1;
}

static struct ev_loop *default_loop(void)
{
  struct ev_loop *l = ev_default_loop(test_backend() | EVFLAG_NOENV);
  assert_non_null(l);
  assert_int_equal(ev_backend(l), test_backend());
  assert_true(ev_is_default_loop(l));
  return l;
}

/* Fixture: the default loop, watchers and children of one test. */
#define MAXW 4
#define MAXP 8
static struct {
  struct ev_loop *loop;
  ev_child w[MAXW];
  pid_t pids[MAXP];
  int npids;
} fx;

static int setup_default_loop(void **state)
{
  signal(SIGCHLD, SIG_DFL);
  memset(&fx, 0, sizeof fx);
  fx.loop = default_loop();
  return 0;
}

static int teardown_default_loop(void **state)
{
  for (int i = 0; i < MAXW; i++)
    if (ev_is_active(&fx.w[i]))
      ev_child_stop(fx.loop, &fx.w[i]);
  for (int i = 0; i < fx.npids; i++)
    if (kill(fx.pids[i], SIGKILL) == 0)
      waitpid(fx.pids[i], NULL, 0);
  ev_loop_destroy(fx.loop);
  fx.loop = NULL;
  signal(SIGCHLD, SIG_DFL);
  return 0;
}

#define fixture_test(f)                                                                            \
  cmocka_unit_test_setup_teardown(f, setup_default_loop, teardown_default_loop)

static pid_t remember(pid_t pid)
{
  assert_true(pid >= 0);
  if (fx.npids < MAXP)
    fx.pids[fx.npids++] = pid;
  return pid;
}

/* A child that exits with `code` after `delay_ms`. */
static pid_t spawn_exit(int code, int delay_ms)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    if (delay_ms)
      sleep_ms(delay_ms);
    _exit(code);
  }
  return remember(pid);
}

/* A child that waits until it is killed. */
static pid_t spawn_sleeper(void)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(30);
    for (;;)
      pause();
  }
  return remember(pid);
}

/* Wait until the child has exited without reaping it (it stays a zombie). */
static void wait_until_zombie(pid_t pid)
{
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r;
  while ((r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT)) < 0 && errno == EINTR)
    ;
  assert_int_equal(r, 0);
  assert_int_equal(si.si_pid, pid);
}

/* Every callback invocation is recorded. */
struct rec {
  ev_child *w;
  int rpid, rstatus, rev, prio, active;
};
static struct rec recs[16];
static int nrec, stop_in_cb;

static void child_cb(struct ev_loop *l, ev_child *w, int rev)
{
  if (nrec < 16)
    recs[nrec] = (struct rec){ w, w->rpid, w->rstatus, rev, ev_priority(w), ev_is_active(w) };
  nrec++;
  if (stop_in_cb)
    ev_child_stop(l, w);
}

static int calls_of(ev_child *w)
{
  int n = 0;
  for (int i = 0; i < nrec && i < 16; i++)
    n += recs[i].w == w;
  return n;
}

static void reset_recs(void)
{
  nrec = 0;
  stop_in_cb = 0;
  memset(recs, 0, sizeof recs);
}

static int timed_out;
static void timeout_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  timed_out = 1;
  ev_break(l, EVBREAK_ALL);
}

/* Run until `w` has been called `want` times (or any callback ran `want` times when w is
 * NULL), at most `limit` seconds. */
static void run_until(ev_child *w, int want, double limit)
{
  ev_timer guard;
  ev_timer_init(&guard, timeout_cb, limit, 0.);
  ev_timer_start(fx.loop, &guard);
  timed_out = 0;
  while ((w ? calls_of(w) : nrec) < want && !timed_out)
    ev_run(fx.loop, EVRUN_ONCE);
  ev_timer_stop(fx.loop, &guard);
  if (timed_out)
    fail_msg("no child status within %.1f s (%d callbacks)", limit, nrec);
}

/* Run the loop for `seconds`, whatever happens. */
static void run_for(double seconds)
{
  ev_timer t;
  ev_timer_init(&t, timeout_cb, seconds, 0.);
  ev_timer_start(fx.loop, &t);
  timed_out = 0;
  while (!timed_out)
    ev_run(fx.loop, EVRUN_ONCE);
  ev_timer_stop(fx.loop, &t);
}

/* ------------------------------------------------------------------------------------------ */
/* the SIGCHLD handler                                                                        */

static void default_loop_installs_sigchld_handler_synchronously(void **state)
{
  signal(SIGCHLD, SIG_DFL);
  struct ev_loop *l = default_loop();
  /* Inside ev_default_loop, before any ev_run: gevent saves it right here. */
  struct sigaction sa = disposition(SIGCHLD);
  assert_true(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
  assert_true(sa.sa_flags & SA_RESTART);
  assert_false(sa.sa_flags & SA_NOCLDSTOP);
  assert_true(mask_is_full(&sa.sa_mask));
  /* The internal watcher does not keep the loop alive. */
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);
  signal(SIGCHLD, SIG_DFL);
}

static void new_loop_does_not_install_sigchld_handler(void **state)
{
  signal(SIGCHLD, SIG_DFL);
  struct ev_loop *l = test_loop(0);
  assert_true(disposition(SIGCHLD).sa_handler == SIG_DFL);
  ev_run(l, EVRUN_NOWAIT);
  assert_true(disposition(SIGCHLD).sa_handler == SIG_DFL);
  ev_loop_destroy(l);
}

static void app_handler(int signum) { (void)signum; }

static void destroying_default_loop_resets_sigchld_to_sig_dfl(void **state)
{
  /* Even when the application had its own handler before the default loop. */
  struct sigaction mine;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = app_handler;
  assert_int_equal(sigaction(SIGCHLD, &mine, NULL), 0);
  struct ev_loop *l = default_loop();
  void (*libev_handler)(int) = disposition(SIGCHLD).sa_handler;
  assert_true(libev_handler != app_handler && libev_handler != SIG_DFL);
  ev_loop_destroy(l);
  assert_true(disposition(SIGCHLD).sa_handler == SIG_DFL);
  assert_null(EV_DEFAULT_UC);

  /* A new default loop installs it again. */
  l = default_loop();
  assert_true(disposition(SIGCHLD).sa_handler == libev_handler);
  ev_loop_destroy(l);
  assert_true(disposition(SIGCHLD).sa_handler == SIG_DFL);
}

/* ------------------------------------------------------------------------------------------ */
/* usage error                                                                                */

static void body_child_on_new_loop(void *with_default)
{
  if (with_default)
    default_loop();
  struct ev_loop *l = test_loop(0);
  ev_child c;
  ev_child_init(&c, child_cb, 0, 0);
  ev_child_start(l, &c);
}

static void child_watcher_on_a_new_loop_aborts(void **state)
{
  static int present;
  test_expect_abort(body_child_on_new_loop, NULL);     /* no default loop at all */
  test_expect_abort(body_child_on_new_loop, &present); /* default loop exists */
}

/* ------------------------------------------------------------------------------------------ */
/* watchers                                                                                   */

static void pid_0_catches_any_child(void **state)
{
  reset_recs();
  ev_child *w = &fx.w[0];
  ev_child_init(w, child_cb, 0, 0);
  ev_child_start(fx.loop, w);
  pid_t a = spawn_exit(1, 0);
  run_until(w, 1, 5.);
  assert_int_equal(recs[0].rpid, a);
  assert_int_equal(recs[0].rev, EV_CHILD);
  assert_true(WIFEXITED(recs[0].rstatus));
  assert_int_equal(WEXITSTATUS(recs[0].rstatus), 1);

  pid_t b = spawn_exit(2, 0);
  run_until(w, 2, 5.);
  assert_int_equal(recs[1].rpid, b);
  assert_int_equal(WEXITSTATUS(recs[1].rstatus), 2);
  assert_int_equal(w->pid, 0); /* pid is left alone, rpid tells which child */
  ev_child_stop(fx.loop, w);
}

static void specific_pid_watcher_sees_only_that_child(void **state)
{
  reset_recs();
  pid_t other = spawn_exit(1, 0);
  pid_t mine = spawn_exit(2, 200);
  ev_child *w = &fx.w[0];
  ev_child_init(w, child_cb, mine, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_int_equal(nrec, 1);
  assert_int_equal(recs[0].rpid, mine);
  assert_int_equal(WEXITSTATUS(recs[0].rstatus), 2);
  (void)other;
  ev_child_stop(fx.loop, w);
}

static void every_matching_watcher_gets_the_status(void **state)
{
  reset_recs();
  pid_t other = spawn_sleeper();
  pid_t pid = spawn_exit(4, 50);
  ev_child *any = &fx.w[0], *mine = &fx.w[1], *mine2 = &fx.w[2], *theirs = &fx.w[3];
  ev_child_init(any, child_cb, 0, 0);
  ev_child_init(mine, child_cb, pid, 0);
  ev_child_init(mine2, child_cb, pid, 0);
  ev_child_init(theirs, child_cb, other, 0);
  ev_child_start(fx.loop, any);
  ev_child_start(fx.loop, mine);
  ev_child_start(fx.loop, mine2);
  ev_child_start(fx.loop, theirs);
  run_until(NULL, 3, 5.);
  run_for(0.05);
  assert_int_equal(nrec, 3);
  assert_int_equal(calls_of(any), 1);
  assert_int_equal(calls_of(mine), 1);
  assert_int_equal(calls_of(mine2), 1);
  assert_int_equal(calls_of(theirs), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(recs[i].rpid, pid);
    assert_int_equal(WEXITSTATUS(recs[i].rstatus), 4);
    assert_int_equal(recs[i].rev, EV_CHILD);
  }
  assert_int_equal(theirs->rpid, 0);
  for (int i = 0; i < 4; i++)
    ev_child_stop(fx.loop, &fx.w[i]);
}

static void rpid_and_rstatus_report_exit_status_7(void **state)
{
  reset_recs();
  ev_child *w = &fx.w[0];
  pid_t pid = spawn_exit(7, 50);
  ev_child_init(w, child_cb, pid, 0);
  assert_int_equal(w->rpid, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_int_equal(w->rpid, pid);
  assert_true(WIFEXITED(w->rstatus));
  assert_int_equal(WEXITSTATUS(w->rstatus), 7);
  assert_int_equal(recs[0].rev, EV_CHILD);
  ev_child_stop(fx.loop, w);

  /* A child killed by a signal. */
  reset_recs();
  pid = spawn_sleeper();
  ev_child_set(w, pid, 0);
  ev_child_start(fx.loop, w);
  kill(pid, SIGTERM);
  run_until(w, 1, 5.);
  assert_int_equal(w->rpid, pid);
  assert_true(WIFSIGNALED(w->rstatus));
  assert_int_equal(WTERMSIG(w->rstatus), SIGTERM);
  ev_child_stop(fx.loop, w);
}

static void priority_forced_to_maxpri_when_status_delivered(void **state)
{
  reset_recs();
  ev_child *w = &fx.w[0];
  pid_t pid = spawn_exit(0, 50);
  ev_child_init(w, child_cb, pid, 0);
  ev_set_priority(w, -1);
  ev_child_start(fx.loop, w);
  assert_int_equal(ev_priority(w), -1);
  run_until(w, 1, 5.);
  assert_int_equal(recs[0].prio, EV_MAXPRI); /* already in the callback */
  ev_child_stop(fx.loop, w);
  assert_int_equal(ev_priority(w), 2); /* and it stays */
}

static void watcher_stays_active_after_the_child_exited(void **state)
{
  reset_recs();
  ev_child *w = &fx.w[0];
  pid_t pid = spawn_exit(0, 50);
  ev_child_init(w, child_cb, pid, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_true(recs[0].active);
  assert_true(ev_is_active(w));
  assert_int_equal(ev_run(fx.loop, EVRUN_NOWAIT), 1); /* and keeps the loop alive */
  assert_int_equal(nrec, 1);
  ev_child_stop(fx.loop, w);
  assert_int_equal(ev_run(fx.loop, EVRUN_NOWAIT), 0);
}

static void watcher_started_after_exit_before_the_loop_ran_sees_it(void **state)
{
  reset_recs();
  pid_t pid = spawn_exit(3, 0);
  wait_until_zombie(pid); /* SIGCHLD has been delivered by now; the loop has not run */
  ev_child *w = &fx.w[0];
  ev_child_init(w, child_cb, pid, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_int_equal(w->rpid, pid);
  assert_int_equal(WEXITSTATUS(w->rstatus), 3);
  ev_child_stop(fx.loop, w);
}

static void trace_1_reports_stop_and_continue(void **state)
{
  reset_recs();
  pid_t pid = spawn_sleeper();
  ev_child *w = &fx.w[0];
  ev_child_init(w, child_cb, pid, 1);
  ev_child_start(fx.loop, w);

  kill(pid, SIGSTOP);
  run_until(w, 1, 5.);
  assert_int_equal(recs[0].rpid, pid);
  assert_true(WIFSTOPPED(recs[0].rstatus));
  assert_int_equal(WSTOPSIG(recs[0].rstatus), SIGSTOP);
  assert_true(ev_is_active(w));

  kill(pid, SIGCONT);
  run_until(w, 2, 5.);
  assert_true(WIFCONTINUED(recs[1].rstatus));

  kill(pid, SIGKILL);
  run_until(w, 3, 5.);
  assert_true(WIFSIGNALED(recs[2].rstatus));
  assert_int_equal(WTERMSIG(recs[2].rstatus), SIGKILL);
  ev_child_stop(fx.loop, w);
}

static void trace_0_does_not_report_stop_and_continue(void **state)
{
  reset_recs();
  pid_t pid = spawn_sleeper();
  ev_child *plain = &fx.w[0], *traced = &fx.w[1];
  ev_child_init(plain, child_cb, pid, 0);
  ev_child_init(traced, child_cb, pid, 1); /* tells us when the status was processed */
  ev_child_start(fx.loop, plain);
  ev_child_start(fx.loop, traced);

  kill(pid, SIGSTOP);
  run_until(traced, 1, 5.);
  run_for(0.05);
  assert_int_equal(calls_of(plain), 0);

  kill(pid, SIGCONT);
  run_until(traced, 2, 5.);
  run_for(0.05);
  assert_int_equal(calls_of(plain), 0);

  kill(pid, SIGKILL);
  run_until(plain, 1, 5.);
  assert_true(WIFSIGNALED(plain->rstatus));
  assert_int_equal(plain->rpid, pid);
  ev_child_stop(fx.loop, plain);
  ev_child_stop(fx.loop, traced);
}

static void all_children_are_reaped_even_unwatched_ones(void **state)
{
  reset_recs();
  pid_t unwatched[3];
  for (int i = 0; i < 3; i++)
    unwatched[i] = spawn_exit(10 + i, 0);
  pid_t last = spawn_exit(0, 200);
  ev_child *w = &fx.w[0];
  ev_child_init(w, child_cb, last, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_int_equal(nrec, 1);
  ev_child_stop(fx.loop, w);
  /* No zombie is left for us. */
  for (int i = 0; i < 3; i++) {
    errno = 0;
    assert_int_equal(waitpid(unwatched[i], NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
  }
  errno = 0;
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static int app_sigchld_calls;
static void app_sigchld(int signum) { app_sigchld_calls++; }

static void gevent_like_save_and_restore_keeps_children_reported(void **state)
{
  reset_recs();
  /* gevent: after ev_default_loop, save libev's handler, install its own... */
  struct sigaction saved = disposition(SIGCHLD), own;
  assert_true(saved.sa_handler != SIG_DFL && saved.sa_handler != SIG_IGN);
  memset(&own, 0, sizeof own);
  own.sa_handler = app_sigchld;
  sigemptyset(&own.sa_mask);
  own.sa_flags = SA_RESTART;
  assert_int_equal(sigaction(SIGCHLD, &own, NULL), 0);
  app_sigchld_calls = 0;
  pid_t first = spawn_exit(0, 0);
  wait_until_zombie(first);
  assert_int_equal(app_sigchld_calls, 1);
  waitpid(first, NULL, 0);

  /* ... and later put libev's back: children are reported again. */
  assert_int_equal(sigaction(SIGCHLD, &saved, NULL), 0);
  ev_child *w = &fx.w[0];
  pid_t pid = spawn_exit(5, 50);
  ev_child_init(w, child_cb, pid, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 1, 5.);
  assert_int_equal(w->rpid, pid);
  assert_int_equal(WEXITSTATUS(w->rstatus), 5);
  assert_int_equal(app_sigchld_calls, 1);
  ev_child_stop(fx.loop, w);
}

/* Three children exit before the loop looks: a pid-0 watcher is called once per child, each
 * time with that child's pid and status (libev reaps one child per SIGCHLD callback). */
static void child_pid0_reports_every_exit(void **state)
{
  ev_child *w = &fx.w[0];
  pid_t pids[3];
  for (int i = 0; i < 3; i++)
    pids[i] = spawn_exit(20 + i, 0);
  for (int i = 0; i < 3; i++)
    wait_until_zombie(pids[i]);
  reset_recs();
  ev_child_init(w, child_cb, 0, 0);
  ev_child_start(fx.loop, w);
  run_until(w, 3, 5.);
  run_for(0.05); /* no extra calls */
  assert_int_equal(nrec, 3);
  int seen[3] = { 0, 0, 0 };
  for (int r = 0; r < 3; r++)
    for (int i = 0; i < 3; i++)
      if (recs[r].rpid == pids[i]) {
        assert_int_equal(WEXITSTATUS(recs[r].rstatus), 20 + i);
        seen[i]++;
      }
  for (int i = 0; i < 3; i++)
    assert_int_equal(seen[i], 1);
  ev_child_stop(fx.loop, w);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_loop_installs_sigchld_handler_synchronously),
    cmocka_unit_test(new_loop_does_not_install_sigchld_handler),
    cmocka_unit_test(destroying_default_loop_resets_sigchld_to_sig_dfl),
    cmocka_unit_test(child_watcher_on_a_new_loop_aborts),
    fixture_test(pid_0_catches_any_child),
    fixture_test(specific_pid_watcher_sees_only_that_child),
    fixture_test(every_matching_watcher_gets_the_status),
    fixture_test(rpid_and_rstatus_report_exit_status_7),
    fixture_test(priority_forced_to_maxpri_when_status_delivered),
    fixture_test(watcher_stays_active_after_the_child_exited),
    fixture_test(watcher_started_after_exit_before_the_loop_ran_sees_it),
    fixture_test(trace_1_reports_stop_and_continue),
    fixture_test(trace_0_does_not_report_stop_and_continue),
    fixture_test(all_children_are_reaped_even_unwatched_ones),
    fixture_test(gevent_like_save_and_restore_keeps_children_reported),
    fixture_test(child_pid0_reports_every_exit),
  };
  return TEST_MAIN("child", tests);
}
