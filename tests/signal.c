/* signal.c - ev_signal: handler installation and removal, signal compression, ownership of a
 * signal by one loop, several watchers per signal, ev_feed_signal/ev_feed_signal_event, the
 * signal mask as Debian's library really handles it, EVFLAG_SIGNALFD, wake-ups of a blocked
 * loop and the reference a signal watcher holds.
 *
 * The process-wide signal state is shared by all tests: every test leaves SIGUSR1/SIGUSR2 at
 * SIG_DFL and unblocked. Usage errors (which abort) run in a forked child. */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
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

/* Reset a signal to the state every test expects: default action, not blocked, not pending. */
static void signal_reset(int signum)
{
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signum);
  signal(signum, SIG_IGN); /* discards a pending instance */
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  signal(signum, SIG_DFL);
}

static struct sigaction disposition(int signum)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  assert_int_equal(sigaction(signum, NULL, &sa), 0);
  return sa;
}

static int is_blocked(int signum)
{
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, signum);
}

static void block(int signum, int how)
{
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signum);
  assert_int_equal(sigprocmask(how, &one, NULL), 0);
}

/* Full mask: every signal that can be blocked (SIGKILL/SIGSTOP cannot, glibc keeps two
 * real-time signals for itself). */
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

static int count_fds(void)
{
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream itself */
}

/* Number of open descriptors whose /proc/self/fd link names `kind` (e.g. "[signalfd]"). */
static int count_fds_of_kind(const char *kind)
{
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));) {
    char path[300], target[256];
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0)
      continue;
    target[len] = 0;
    if (strstr(target, kind))
      n++;
  }
  closedir(d);
  return n;
}

/* The lowest descriptor of `kind` that is not in `before` (a bitmap of 1024 fds), or -1. */
static int new_fd_of_kind(const char *kind, const unsigned char *before)
{
  int found = -1;
  for (int fd = 0; fd < 1024 && found < 0; fd++) {
    char path[64], target[256];
    if (before[fd])
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0)
      continue;
    target[len] = 0;
    if (strstr(target, kind))
      found = fd;
  }
  return found;
}

static void open_fds(unsigned char *map)
{
  for (int fd = 0; fd < 1024; fd++)
    map[fd] = fcntl(fd, F_GETFD) >= 0;
}

/* Signal callbacks: count calls, remember revents; optionally stop the watcher. */
static int ncalls, last_rev, stop_in_cb;
static void count_cb(struct ev_loop *l, ev_signal *w, int rev)
{
  ncalls++;
  last_rev = rev;
  if (stop_in_cb)
    ev_signal_stop(l, w);
}

static void reset_counts(void)
{
  ncalls = 0;
  last_rev = 0;
  stop_in_cb = 0;
}

/* A timer that ends a run that went on too long and records that it did. */
static int timed_out;
static void timeout_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  timed_out = 1;
  ev_break(l, EVBREAK_ALL);
}

/* Run the loop until ncalls reaches `want` or `limit` seconds pass (the guard timer does not
 * keep the loop alive). */
static void run_until_calls(struct ev_loop *l, int want, double limit)
{
  ev_timer guard;
  ev_timer_init(&guard, timeout_cb, limit, 0.);
  ev_timer_start(l, &guard);
  timed_out = 0;
  while (ncalls < want && !timed_out)
    ev_run(l, EVRUN_ONCE);
  ev_timer_stop(l, &guard);
}

/* ------------------------------------------------------------------------------------------ */
/* handler installation                                                                       */

static void first_start_installs_handler_with_sa_restart_and_full_mask(void **state)
{
  signal_reset(SIGUSR1);
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  assert_true(disposition(SIGUSR1).sa_handler == SIG_DFL);
  ev_signal_start(l, &w);
  struct sigaction sa = disposition(SIGUSR1);
  assert_true(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
  assert_false(sa.sa_flags & SA_SIGINFO);
  assert_true(sa.sa_flags & SA_RESTART);
  assert_true(mask_is_full(&sa.sa_mask));
  assert_false(is_blocked(SIGUSR1));
  ev_signal_stop(l, &w);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void first_signal_watcher_creates_one_nonblocking_cloexec_eventfd(void **state)
{
  signal_reset(SIGUSR1);
  signal_reset(SIGUSR2);
  struct ev_loop *l = test_loop(0);
  static unsigned char before[1024];
  open_fds(before);
  int fds0 = count_fds();
  ev_signal a, b;
  ev_signal_init(&a, count_cb, SIGUSR1);
  ev_signal_init(&b, count_cb, SIGUSR2);
  ev_signal_start(l, &a);
  assert_int_equal(count_fds(), fds0 + 1);
  int efd = new_fd_of_kind("[eventfd]", before);
  assert_true(efd >= 0);
  assert_true(fcntl(efd, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(efd, F_GETFD) & FD_CLOEXEC);
  ev_signal_start(l, &b); /* one eventfd per loop, shared by all signals */
  assert_int_equal(count_fds(), fds0 + 1);
  ev_signal_stop(l, &a);
  ev_signal_stop(l, &b);
  ev_loop_destroy(l);
  assert_true(fcntl(efd, F_GETFD) < 0); /* closed with the loop */
  signal_reset(SIGUSR2);
  signal_reset(SIGUSR1);
}

static void two_raises_before_run_give_one_callback_with_ev_signal(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  raise(SIGUSR1);
  raise(SIGUSR1);
  assert_int_equal(ncalls, 0); /* callbacks run from the loop, never from the handler */
  ev_run(l, EVRUN_NOWAIT);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_SIGNAL);
  assert_true(ev_is_active(&w)); /* signal watchers are not stopped by delivery */
  raise(SIGUSR1); /* and a later signal is delivered again */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 2);
  ev_signal_stop(l, &w);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void signal_watcher_on_a_non_default_loop_works(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  assert_false(ev_is_default_loop(l));
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  kill(getpid(), SIGUSR1);
  stop_in_cb = 1;
  run_until_calls(l, 1, 5.);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_SIGNAL);
  assert_false(ev_is_active(&w));
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void signal_moves_to_another_loop_after_the_last_stop(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *a = test_loop(0), *b = test_loop(0);
  ev_signal wa, wb;
  ev_signal_init(&wa, count_cb, SIGUSR1);
  ev_signal_init(&wb, count_cb, SIGUSR1);
  ev_signal_start(a, &wa);
  ev_signal_stop(a, &wa);
  ev_signal_start(b, &wb); /* no abort: loop a gave the signal up */
  raise(SIGUSR1);
  ev_run(a, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 0);
  ev_run(b, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_signal_stop(b, &wb);
  ev_loop_destroy(a);
  ev_loop_destroy(b);
  signal_reset(SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* usage errors                                                                               */

static void start_signum(int signum)
{
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, signum);
  ev_signal_start(l, &w);
}
static void body_signum_0(void *arg) { start_signum(0); }
static void body_signum_100(void *arg) { start_signum(100); }
static void body_signum_65(void *arg) { start_signum(65); }
static void body_signum_64(void *arg) { start_signum(64); } /* the highest valid one: no abort */

static void body_two_loops(void *arg)
{
  struct ev_loop *a = test_loop(0), *b = test_loop(0);
  ev_signal wa, wb;
  ev_signal_init(&wa, count_cb, SIGUSR2);
  ev_signal_init(&wb, count_cb, SIGUSR2);
  ev_signal_start(a, &wa);
  ev_signal_start(b, &wb);
}

static void body_two_loops_default_first(void *arg)
{
  struct ev_loop *a = ev_default_loop(test_backend() | EVFLAG_NOENV), *b = test_loop(0);
  ev_signal wa, wb;
  ev_signal_init(&wa, count_cb, SIGUSR2);
  ev_signal_init(&wb, count_cb, SIGUSR2);
  ev_signal_start(a, &wa);
  ev_signal_start(b, &wb);
}

static void signum_0_aborts(void **state)
{
  test_expect_abort(body_signum_0, NULL);
}

static void signum_100_aborts(void **state)
{
  test_expect_abort(body_signum_100, NULL);
}

static void signum_65_aborts_and_64_is_accepted(void **state)
{
  test_expect_abort(body_signum_65, NULL);
  int status = test_run_child(body_signum_64, NULL, -1);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void same_signal_in_two_loops_aborts(void **state)
{
  test_expect_abort(body_two_loops, NULL);
  test_expect_abort(body_two_loops_default_first, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* handler removal, several watchers                                                          */

static void app_handler(int signum) { (void)signum; }

static void stop_of_last_watcher_resets_disposition_to_sig_dfl(void **state)
{
  signal_reset(SIGUSR1);
  struct sigaction mine;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = app_handler;
  assert_int_equal(sigaction(SIGUSR1, &mine, NULL), 0);

  struct ev_loop *l = test_loop(0);
  ev_signal a, b;
  ev_signal_init(&a, count_cb, SIGUSR1);
  ev_signal_init(&b, count_cb, SIGUSR1);
  ev_signal_start(l, &a);
  void (*libev_handler)(int) = disposition(SIGUSR1).sa_handler;
  assert_true(libev_handler != app_handler && libev_handler != SIG_DFL);
  ev_signal_start(l, &b);
  ev_signal_stop(l, &a);
  assert_true(disposition(SIGUSR1).sa_handler == libev_handler); /* b still watches */
  ev_signal_stop(l, &b);
  /* The application's handler is not restored. */
  assert_true(disposition(SIGUSR1).sa_handler == SIG_DFL);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static int order[3], norder;
static void order_cb(struct ev_loop *l, ev_signal *w, int rev)
{
  if (norder < 3)
    order[norder] = (int)(intptr_t)w->data;
  norder++;
  last_rev |= rev;
}

static void several_watchers_on_one_signal_all_called(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  norder = 0;
  struct ev_loop *l = test_loop(0);
  ev_signal w[3];
  for (int i = 0; i < 3; i++) {
    ev_signal_init(&w[i], order_cb, SIGUSR1);
    w[i].data = (void *)(intptr_t)(i + 1);
    ev_signal_start(l, &w[i]);
  }
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(norder, 3);
  assert_int_equal(last_rev, EV_SIGNAL);
  int seen = 0;
  for (int i = 0; i < 3; i++)
    seen |= 1 << order[i];
  assert_int_equal(seen, 0xe); /* each of the three once */

  ev_signal_stop(l, &w[1]);
  norder = 0;
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(norder, 2);
  ev_signal_stop(l, &w[0]);
  ev_signal_stop(l, &w[2]);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

/* Two different signals caught in one iteration: the lower signal number runs first (libev's
 * order with signal handlers). With EVFLAG_SIGNALFD libev runs them the other way round
 * (it feeds them in the order the signalfd returns them, lowest first, and the pending
 * queue is last-in first-out). */
static void two_signals_order(unsigned int flags, int first, int second)
{
  signal_reset(SIGUSR1);
  signal_reset(SIGUSR2);
  norder = 0;
  struct ev_loop *l = test_loop(flags);
  ev_signal w1, w2;
  ev_signal_init(&w2, order_cb, SIGUSR2);
  w2.data = (void *)(intptr_t)SIGUSR2;
  ev_signal_start(l, &w2);
  ev_signal_init(&w1, order_cb, SIGUSR1);
  w1.data = (void *)(intptr_t)SIGUSR1;
  ev_signal_start(l, &w1);
  raise(SIGUSR2);
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  ev_signal_stop(l, &w1);
  ev_signal_stop(l, &w2);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
  signal_reset(SIGUSR2);
  assert_int_equal(norder, 2);
  assert_int_equal(order[0], first);
  assert_int_equal(order[1], second);
}

static void two_signals_in_one_iteration_run_lowest_number_first(void **state)
{
  two_signals_order(0, SIGUSR1, SIGUSR2);
}

static void signalfd_two_signals_in_one_iteration_run_highest_number_first(void **state)
{
  two_signals_order(EVFLAG_SIGNALFD, SIGUSR2, SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_feed_signal, ev_feed_signal_event                                                       */

struct delayed {
  int ms;
  int signum;
  int how; /* 0: ev_feed_signal, 1: pthread_kill(target), 2: kill(getpid()) */
  pthread_t target;
};

static void *delayed_thread(void *arg)
{
  struct delayed *d = arg;
  sleep_ms(d->ms);
  if (d->how == 0)
    ev_feed_signal(d->signum);
  else if (d->how == 1)
    pthread_kill(d->target, d->signum);
  else
    kill(getpid(), d->signum);
  return NULL;
}

/* Start a helper thread that delivers a signal later; the helper does not get the signal
 * itself when it is sent with pthread_kill to the main thread. */
static pthread_t start_delayed(struct delayed *d)
{
  pthread_t t;
  d->target = pthread_self();
  assert_int_equal(pthread_create(&t, NULL, delayed_thread, d), 0);
  return t;
}

static void feed_signal_from_another_thread_delivers(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  stop_in_cb = 1;
  struct delayed d = { .ms = 100, .signum = SIGUSR1, .how = 0 };
  double t0 = mono();
  pthread_t t = start_delayed(&d);
  run_until_calls(l, 1, 5.); /* blocks in the backend until the feed wakes it */
  pthread_join(t, NULL);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_SIGNAL);
  assert_true(mono() - t0 >= 0.09);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void feed_sigusr1(int signum)
{
  (void)signum;
  ev_feed_signal(SIGUSR1);
}

static void feed_signal_from_a_signal_handler_delivers(void **state)
{
  signal_reset(SIGUSR1);
  signal_reset(SIGUSR2);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  /* SIGUSR2 is not watched by the library: the application's handler forwards it. */
  struct sigaction fwd;
  memset(&fwd, 0, sizeof fwd);
  fwd.sa_handler = feed_sigusr1;
  sigemptyset(&fwd.sa_mask);
  assert_int_equal(sigaction(SIGUSR2, &fwd, NULL), 0);

  raise(SIGUSR2); /* handler runs before raise returns: the loop is not running */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_SIGNAL);

  /* Again while the loop is blocked: the handler runs on the main thread (no SA_RESTART, so
   * the backend's wait is interrupted) and the loop must notice the feed. */
  stop_in_cb = 1;
  struct delayed d = { .ms = 100, .signum = SIGUSR2, .how = 1 };
  pthread_t t = start_delayed(&d);
  run_until_calls(l, 2, 5.);
  pthread_join(t, NULL);
  assert_false(timed_out);
  assert_int_equal(ncalls, 2);
  ev_loop_destroy(l);
  signal_reset(SIGUSR2);
  signal_reset(SIGUSR1);
}

static void feed_signal_event_makes_the_watchers_pending(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0), *other = test_loop(0);
  ev_signal w, w2;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_init(&w2, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  ev_signal_start(l, &w2);

  ev_feed_signal_event(other, SIGUSR1); /* not this loop's signal: ignored */
  assert_false(ev_is_pending(&w));
  assert_int_equal(ev_pending_count(other), 0);

  ev_feed_signal_event(l, SIGUSR1);
  assert_true(ev_is_pending(&w));
  assert_true(ev_is_pending(&w2));
  assert_int_equal(ev_pending_count(l), 2);
  ev_invoke_pending(l);
  assert_int_equal(ncalls, 2);
  assert_int_equal(last_rev, EV_SIGNAL);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 2);

  ev_signal_stop(l, &w);
  ev_signal_stop(l, &w2);
  ev_loop_destroy(l);
  ev_loop_destroy(other);
  signal_reset(SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* signal mask                                                                                */

static void blocked_signal_stays_blocked_with_default_flags(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  block(SIGUSR1, SIG_BLOCK);
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  assert_true(is_blocked(SIGUSR1)); /* no sigprocmask by the library */
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 0); /* still pending in the kernel */
  sigset_t pend;
  sigpending(&pend);
  assert_true(sigismember(&pend, SIGUSR1));
  /* Once the application unblocks it, the library's handler gets it. */
  block(SIGUSR1, SIG_UNBLOCK);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_signal_stop(l, &w);
  assert_false(is_blocked(SIGUSR1));
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void nosigmask_unblocks_the_watched_signal(void **state)
{
  signal_reset(SIGUSR1);
  signal_reset(SIGUSR2);
  reset_counts();
  block(SIGUSR1, SIG_BLOCK);
  block(SIGUSR2, SIG_BLOCK);
  struct ev_loop *l = test_loop(EVFLAG_NOSIGMASK);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  assert_false(is_blocked(SIGUSR1));
  assert_true(is_blocked(SIGUSR2)); /* only the watched signal */
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_signal_stop(l, &w);
  ev_loop_destroy(l);
  signal_reset(SIGUSR2);
  signal_reset(SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* EVFLAG_SIGNALFD                                                                            */

static void signalfd_flag_uses_a_signalfd_and_blocks_while_watched(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(EVFLAG_SIGNALFD);
  int fds0 = count_fds(), sfd0 = count_fds_of_kind("[signalfd]");
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  assert_int_equal(count_fds(), fds0 + 1);
  assert_int_equal(count_fds_of_kind("[signalfd]"), sfd0 + 1);
  assert_true(is_blocked(SIGUSR1));
  assert_true(disposition(SIGUSR1).sa_handler == SIG_DFL); /* no handler needed */

  raise(SIGUSR1); /* blocked: stays queued for the signalfd */
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_SIGNAL);

  ev_signal_stop(l, &w);
  assert_false(is_blocked(SIGUSR1));
  ev_loop_destroy(l);
  assert_int_equal(count_fds_of_kind("[signalfd]"), sfd0);
  signal_reset(SIGUSR1);
}

static void signalfd_flag_wakes_the_blocked_loop(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(EVFLAG_SIGNALFD);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  stop_in_cb = 1;
  struct delayed d = { .ms = 100, .signum = SIGUSR1, .how = 2 };
  pthread_t t = start_delayed(&d);
  run_until_calls(l, 1, 5.);
  pthread_join(t, NULL);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  assert_false(is_blocked(SIGUSR1));
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* wake-ups and references                                                                    */

static void signal_from_another_process_wakes_the_blocked_loop(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  stop_in_cb = 1;
  fflush(stdout);
  pid_t parent = getpid(), pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    sleep_ms(100);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  double t0 = mono();
  run_until_calls(l, 1, 5.);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  assert_true(mono() - t0 >= 0.09);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void signal_from_another_thread_wakes_the_blocked_loop(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  stop_in_cb = 1;
  /* kill() to the process: the helper thread itself may take the signal, so the handler may
   * run on another thread than the one blocked in the backend. */
  struct delayed d = { .ms = 100, .signum = SIGUSR1, .how = 2 };
  pthread_t t = start_delayed(&d);
  run_until_calls(l, 1, 5.);
  pthread_join(t, NULL);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

static void signal_watcher_keeps_the_loop_alive(void **state)
{
  signal_reset(SIGUSR1);
  reset_counts();
  struct ev_loop *l = test_loop(0);
  ev_signal w;
  ev_signal_init(&w, count_cb, SIGUSR1);
  ev_signal_start(l, &w);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1); /* one referencing watcher */
  stop_in_cb = 1;
  struct delayed d = { .ms = 300, .signum = SIGUSR1, .how = 0 };
  double t0 = mono();
  pthread_t t = start_delayed(&d);
  ev_timer guard;
  ev_timer_init(&guard, timeout_cb, 5., 0.);
  ev_timer_start(l, &guard);
  ev_unref(l); /* the guard alone must not hold the loop */
  timed_out = 0;
  assert_int_equal(ev_run(l, 0), 0); /* returns only after the callback stopped the watcher */
  pthread_join(t, NULL);
  assert_false(timed_out);
  assert_int_equal(ncalls, 1);
  assert_true(mono() - t0 >= 0.28);
  ev_ref(l);
  ev_timer_stop(l, &guard);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);
  signal_reset(SIGUSR1);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_sleep                                                                                   */

static void empty_handler(int signum) { (void)signum; }

/* libev sleeps once: a caught signal ends ev_sleep early (nanosleep's EINTR). */
static void ev_sleep_returns_early_when_a_signal_is_caught(void **state)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = empty_handler;
  assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
  struct itimerval it = { { 0, 0 }, { 0, 100000 } };
  assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
  double t0 = mono();
  ev_sleep(5.);
  double slept = mono() - t0;
  signal(SIGALRM, SIG_DFL);
  assert_between(slept, 0.05, 4.);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(first_start_installs_handler_with_sa_restart_and_full_mask),
    cmocka_unit_test(first_signal_watcher_creates_one_nonblocking_cloexec_eventfd),
    cmocka_unit_test(two_raises_before_run_give_one_callback_with_ev_signal),
    cmocka_unit_test(signal_watcher_on_a_non_default_loop_works),
    cmocka_unit_test(signal_moves_to_another_loop_after_the_last_stop),
    cmocka_unit_test(signum_0_aborts),
    cmocka_unit_test(signum_100_aborts),
    cmocka_unit_test(signum_65_aborts_and_64_is_accepted),
    cmocka_unit_test(same_signal_in_two_loops_aborts),
    cmocka_unit_test(stop_of_last_watcher_resets_disposition_to_sig_dfl),
    cmocka_unit_test(several_watchers_on_one_signal_all_called),
    cmocka_unit_test(two_signals_in_one_iteration_run_lowest_number_first),
    cmocka_unit_test(signalfd_two_signals_in_one_iteration_run_highest_number_first),
    cmocka_unit_test(feed_signal_from_another_thread_delivers),
    cmocka_unit_test(feed_signal_from_a_signal_handler_delivers),
    cmocka_unit_test(feed_signal_event_makes_the_watchers_pending),
    cmocka_unit_test(blocked_signal_stays_blocked_with_default_flags),
    cmocka_unit_test(nosigmask_unblocks_the_watched_signal),
    cmocka_unit_test(signalfd_flag_uses_a_signalfd_and_blocks_while_watched),
    cmocka_unit_test(signalfd_flag_wakes_the_blocked_loop),
    cmocka_unit_test(signal_from_another_process_wakes_the_blocked_loop),
    cmocka_unit_test(signal_from_another_thread_wakes_the_blocked_loop),
    cmocka_unit_test(signal_watcher_keeps_the_loop_alive),
    cmocka_unit_test(ev_sleep_returns_early_when_a_signal_is_caught),
  };
  return TEST_MAIN("signal", tests);
}
