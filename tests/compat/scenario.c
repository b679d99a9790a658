/* scenario.c - one program, built against either ev.h and run against either libev.so.4, that
 * prints deterministic lines about signal, child, stat, timer and io behaviour. tests/compat.sh
 * requires all four combinations to print the same thing. Only facts that do not depend on
 * timing, pids, fd numbers or the machine are printed.
 *
 * The backend comes from LIBEV_FLAGS (read by ev_default_loop); loops that need extra flags
 * are created with EVFLAG_NOENV and the default loop's backend. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#define P(key, ...)                                                                                \
  do {                                                                                             \
    printf("%-40s ", key);                                                                         \
    printf(__VA_ARGS__);                                                                           \
    putchar('\n');                                                                                 \
  } while (0)

static struct ev_loop *dl; /* the default loop */
static unsigned int backend;

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

static struct ev_loop *new_loop(unsigned int flags)
{
  return ev_loop_new(backend | EVFLAG_NOENV | flags);
}

static int ncalls, last_rev;
static void count_cb(struct ev_loop *l, ev_watcher *w, int rev)
{
  ncalls++;
  last_rev = rev;
}
#define CB(type) ((void (*)(struct ev_loop *, type *, int))count_cb)

static int timed_out;
static void timeout_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  timed_out = 1;
  ev_break(l, EVBREAK_ALL);
}

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

static int is_blocked(int signum)
{
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, signum);
}

static void set_blocked(int signum, int how)
{
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signum);
  sigprocmask(how, &one, NULL);
}

static const char *handler_kind(int signum)
{
  struct sigaction sa;
  sigaction(signum, NULL, &sa);
  if (sa.sa_handler == SIG_DFL)
    return "SIG_DFL";
  if (sa.sa_handler == SIG_IGN)
    return "SIG_IGN";
  return "handler";
}

static int mask_full(int signum)
{
  struct sigaction sa;
  sigaction(signum, NULL, &sa);
  for (int s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP && !sigismember(&sa.sa_mask, s))
      return 0;
  return 1;
}

static int sa_flag(int signum, int flag)
{
  struct sigaction sa;
  sigaction(signum, NULL, &sa);
  return !!(sa.sa_flags & flag);
}

/* ------------------------------------------------------------------------------------------ */
/* signal                                                                                     */

static void scenario_signal(void)
{
  struct ev_loop *l = new_loop(0);
  ev_signal s, s2;
  ev_signal_init(&s, CB(ev_signal), SIGUSR1);
  ev_signal_init(&s2, CB(ev_signal), SIGUSR1);
  P("signal.before_start", "%s", handler_kind(SIGUSR1));
  ev_signal_start(l, &s);
  P("signal.after_start", "%s restart=%d mask_full=%d blocked=%d", handler_kind(SIGUSR1),
    sa_flag(SIGUSR1, SA_RESTART), mask_full(SIGUSR1), is_blocked(SIGUSR1));
  P("signal.run_nowait_returns", "%d", ev_run(l, EVRUN_NOWAIT));
  ncalls = last_rev = 0;
  raise(SIGUSR1);
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.two_raises", "calls=%d rev=%#x active=%d", ncalls, last_rev, ev_is_active(&s) != 0);
  ev_signal_start(l, &s2);
  ncalls = 0;
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.two_watchers_one_raise", "calls=%d", ncalls);
  ncalls = 0;
  ev_feed_signal(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.ev_feed_signal", "calls=%d", ncalls);
  ncalls = 0;
  ev_feed_signal_event(l, SIGUSR1);
  P("signal.ev_feed_signal_event", "pending=%d/%d count=%d", ev_is_pending(&s) != 0,
    ev_is_pending(&s2) != 0, ev_pending_count(l));
  ev_invoke_pending(l);
  P("signal.ev_feed_signal_event_calls", "%d", ncalls);
  ev_signal_stop(l, &s);
  P("signal.after_first_stop", "%s", handler_kind(SIGUSR1));
  ev_signal_stop(l, &s2);
  P("signal.after_last_stop", "%s", handler_kind(SIGUSR1));
  P("signal.run_nowait_after_stop", "%d", ev_run(l, EVRUN_NOWAIT));
  ev_loop_destroy(l);

  /* Default flags: a blocked signal stays blocked. */
  set_blocked(SIGUSR1, SIG_BLOCK);
  l = new_loop(0);
  ev_signal_start(l, &s);
  ncalls = 0;
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.blocked.default_flags", "blocked=%d calls=%d", is_blocked(SIGUSR1), ncalls);
  set_blocked(SIGUSR1, SIG_UNBLOCK);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.blocked.after_unblock", "calls=%d", ncalls);
  ev_signal_stop(l, &s);
  ev_loop_destroy(l);

  /* EVFLAG_NOSIGMASK: the watched signal gets unblocked. */
  set_blocked(SIGUSR1, SIG_BLOCK);
  l = new_loop(EVFLAG_NOSIGMASK);
  ev_signal_start(l, &s);
  P("signal.blocked.nosigmask", "blocked=%d", is_blocked(SIGUSR1));
  ncalls = 0;
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.nosigmask.calls", "%d", ncalls);
  ev_signal_stop(l, &s);
  set_blocked(SIGUSR1, SIG_UNBLOCK);
  ev_loop_destroy(l);

  /* EVFLAG_SIGNALFD. */
  l = new_loop(EVFLAG_SIGNALFD);
  ev_signal_start(l, &s);
  P("signal.signalfd.while_watched", "%s blocked=%d", handler_kind(SIGUSR1), is_blocked(SIGUSR1));
  ncalls = last_rev = 0;
  raise(SIGUSR1);
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  ev_run(l, EVRUN_NOWAIT);
  P("signal.signalfd.two_raises", "calls=%d rev=%#x", ncalls, last_rev);
  ev_signal_stop(l, &s);
  P("signal.signalfd.after_stop", "%s blocked=%d", handler_kind(SIGUSR1), is_blocked(SIGUSR1));
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* child                                                                                      */

static pid_t spawn(int code, int delay_ms)
{
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (delay_ms < 0) {
      alarm(30);
      for (;;)
        pause();
    }
    struct timespec ts = { 0, delay_ms * 1000000L };
    nanosleep(&ts, NULL);
    _exit(code);
  }
  return pid;
}

static void scenario_child(void)
{
  P("child.sigchld_after_default_loop", "%s restart=%d nocldstop=%d mask_full=%d",
    handler_kind(SIGCHLD), sa_flag(SIGCHLD, SA_RESTART), sa_flag(SIGCHLD, SA_NOCLDSTOP),
    mask_full(SIGCHLD));
  P("child.default_loop_run_nowait_returns", "%d", ev_run(dl, EVRUN_NOWAIT));

  ev_child c;
  pid_t pid = spawn(7, 50);
  ev_child_init(&c, CB(ev_child), pid, 0);
  ev_set_priority(&c, -1);
  ev_child_start(dl, &c);
  P("child.start", "active=%d priority=%d", ev_is_active(&c) != 0, ev_priority(&c));
  ncalls = last_rev = 0;
  run_until_calls(dl, 1, 5.);
  P("child.exit_7", "calls=%d rev=%#x rpid_ok=%d exited=%d status=%d", ncalls, last_rev,
    c.rpid == pid, WIFEXITED(c.rstatus), WEXITSTATUS(c.rstatus));
  P("child.after_exit", "active=%d priority=%d run_nowait=%d", ev_is_active(&c) != 0,
    ev_priority(&c), ev_run(dl, EVRUN_NOWAIT));
  ev_child_stop(dl, &c);

  /* pid 0, a child that exited before the watcher was started. */
  pid = spawn(3, 0);
  siginfo_t si;
  waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
  ev_child_init(&c, CB(ev_child), 0, 0);
  ev_child_start(dl, &c);
  ncalls = 0;
  run_until_calls(dl, 1, 5.);
  P("child.any_pid_started_after_exit", "calls=%d rpid_ok=%d status=%d", ncalls, c.rpid == pid,
    WEXITSTATUS(c.rstatus));
  ev_child_stop(dl, &c);

  /* Tracing. */
  ev_child plain;
  pid = spawn(0, -1);
  ev_child_init(&c, CB(ev_child), pid, 1);
  ev_child_init(&plain, CB(ev_child), pid, 0);
  ev_child_start(dl, &c);
  ev_child_start(dl, &plain);
  ncalls = 0;
  kill(pid, SIGSTOP);
  run_until_calls(dl, 1, 5.);
  P("child.trace.stop", "calls=%d stopped=%d sig=%d plain_pending=%d", ncalls,
    WIFSTOPPED(c.rstatus), WSTOPSIG(c.rstatus), ev_is_pending(&plain));
  kill(pid, SIGCONT);
  run_until_calls(dl, 2, 5.);
  P("child.trace.cont", "calls=%d continued=%d", ncalls, WIFCONTINUED(c.rstatus));
  kill(pid, SIGKILL);
  run_until_calls(dl, 4, 5.);
  P("child.trace.kill", "calls=%d signaled=%d/%d sig=%d", ncalls, WIFSIGNALED(c.rstatus),
    WIFSIGNALED(plain.rstatus), WTERMSIG(plain.rstatus));
  ev_child_stop(dl, &c);
  ev_child_stop(dl, &plain);

  /* Unwatched children are reaped too. */
  pid_t a = spawn(1, 0), b = spawn(2, 0);
  pid = spawn(0, 150);
  ev_child_init(&c, CB(ev_child), pid, 0);
  ev_child_start(dl, &c);
  ncalls = 0;
  run_until_calls(dl, 1, 5.);
  errno = 0;
  int ra = waitpid(a, NULL, WNOHANG), ea = errno;
  errno = 0;
  int rb = waitpid(b, NULL, WNOHANG), eb = errno;
  P("child.unwatched_reaped", "calls=%d %d/%d %d/%d", ncalls, ra, ea == ECHILD, rb, eb == ECHILD);
  ev_child_stop(dl, &c);
}

/* ------------------------------------------------------------------------------------------ */
/* stat                                                                                       */

static void write_file(const char *path, const char *s, int append)
{
  int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
    exit(3);
  close(fd);
}

static void scenario_stat(void)
{
  char dir[] = "/tmp/evring-compat.XXXXXX";
  if (!mkdtemp(dir))
    exit(3);
  char f[64], lnk[64], missing[64];
  snprintf(f, sizeof f, "%s/f", dir);
  snprintf(lnk, sizeof lnk, "%s/l", dir);
  snprintf(missing, sizeof missing, "%s/m", dir);
  write_file(f, "hello", 0);
  if (symlink(f, lnk) < 0)
    exit(3);

  struct ev_loop *l = new_loop(0);
  ev_stat s;
  ev_stat_init(&s, CB(ev_stat), f, 0.);
  P("stat.after_init", "wd=%d", s.wd);
  ev_stat_start(l, &s);
  P("stat.start", "size=%ld nlink=%ld interval=%.7f wd_ok=%d timer_active=%d repeat=%.7f",
    (long)s.attr.st_size, (long)s.attr.st_nlink, s.interval, s.wd >= 0,
    ev_is_active(&s.timer) != 0, s.timer.repeat);
  P("stat.run_nowait_returns", "%d", ev_run(l, EVRUN_NOWAIT));
  ncalls = last_rev = 0;
  write_file(f, " world", 1);
  run_until_calls(l, 1, 5.);
  P("stat.append", "calls=%d rev=%#x prev=%ld attr=%ld", ncalls, last_rev, (long)s.prev.st_size,
    (long)s.attr.st_size);
  unlink(f);
  run_until_calls(l, 2, 5.);
  P("stat.delete", "calls=%d nlink=%ld/%ld", ncalls, (long)s.prev.st_nlink,
    (long)s.attr.st_nlink);
  ev_stat_stop(l, &s);
  P("stat.stop", "wd=%d timer_active=%d", s.wd, ev_is_active(&s.timer) != 0);
  write_file(f, "hello", 0);

  ev_stat_init(&s, CB(ev_stat), f, 0.01);
  ev_stat_start(l, &s);
  P("stat.interval_0.01", "%.7f", s.interval);
  ev_stat_stop(l, &s);
  ev_stat_init(&s, CB(ev_stat), f, 2.5);
  ev_stat_start(l, &s);
  P("stat.interval_2.5", "%.7f", s.interval);
  ev_stat_stop(l, &s);
  ev_stat_init(&s, CB(ev_stat), lnk, 0.);
  ev_stat_start(l, &s);
  P("stat.symlink", "is_link=%d", S_ISLNK(s.attr.st_mode));
  ev_stat_stop(l, &s);
  ev_stat_init(&s, CB(ev_stat), missing, 0.);
  ev_stat_start(l, &s);
  P("stat.missing", "nlink=%ld wd_ok=%d timer_active=%d repeat=%.7f", (long)s.attr.st_nlink,
    s.wd >= 0, ev_is_active(&s.timer) != 0, s.timer.repeat);
  ncalls = 0;
  write_file(missing, "new", 0);
  run_until_calls(l, 1, 8.);
  P("stat.missing_created", "calls=%d nlink=%ld/%ld", ncalls, (long)s.prev.st_nlink,
    (long)s.attr.st_nlink);
  ev_stat_stop(l, &s);
  ev_stat_init(&s, CB(ev_stat), f, 0.);
  ev_stat_stat(l, &s);
  P("stat.stat_inactive", "size=%ld active=%d", (long)s.attr.st_size, ev_is_active(&s));
  ev_loop_destroy(l);

  l = new_loop(EVFLAG_NOINOTIFY);
  ev_stat_init(&s, CB(ev_stat), f, 0.);
  ev_stat_start(l, &s);
  P("stat.noinotify", "wd=%d interval=%.7f timer_active=%d repeat=%.7f run_nowait=%d", s.wd,
    s.interval, ev_is_active(&s.timer) != 0, s.timer.repeat, ev_run(l, EVRUN_NOWAIT));
  ev_stat_stop(l, &s);
  ev_stat_init(&s, CB(ev_stat), f, 0.2);
  ev_stat_start(l, &s);
  ncalls = 0;
  write_file(f, "!!", 1);
  run_until_calls(l, 1, 5.);
  P("stat.noinotify.poll", "calls=%d prev=%ld attr=%ld", ncalls, (long)s.prev.st_size,
    (long)s.attr.st_size);
  ev_stat_stop(l, &s);
  ev_loop_destroy(l);

  unlink(f);
  unlink(lnk);
  unlink(missing);
  rmdir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* timer                                                                                      */

static char order[256];
static void order_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  strcat(order, (const char *)w->data);
  strcat(order, " ");
}

static void scenario_timer(void)
{
  struct ev_loop *l = new_loop(0);
  ev_timer t, u;
  ev_timer_init(&t, CB(ev_timer), 5., 7.);
  P("timer.set(5,7)", "at=%.3f repeat=%.3f remaining=%.3f", t.at, t.repeat,
    ev_timer_remaining(l, &t));
  ev_timer_start(l, &t);
  P("timer.start", "active=%d remaining=%.1f run_nowait=%d", ev_is_active(&t) != 0,
    ev_timer_remaining(l, &t), ev_run(l, EVRUN_NOWAIT));
  ev_timer_stop(l, &t);
  P("timer.stop", "active=%d at=%.1f", ev_is_active(&t), t.at);

  ev_timer_init(&t, CB(ev_timer), 1., 0.);
  ev_timer_again(l, &t);
  P("timer.again_inactive_repeat0", "active=%d", ev_is_active(&t));
  ev_timer_set(&t, 1., 4.);
  ev_timer_again(l, &t);
  P("timer.again_inactive_repeat4", "active=%d remaining=%.1f", ev_is_active(&t) != 0,
    ev_timer_remaining(l, &t));
  t.repeat = 0.;
  ev_timer_again(l, &t);
  P("timer.again_active_repeat0", "active=%d", ev_is_active(&t));

  ev_timer_init(&t, CB(ev_timer), 0.5, 0.);
  ev_set_priority(&t, 9);
  ev_timer_start(l, &t);
  P("timer.priority_9", "%d", ev_priority(&t));
  ev_timer_stop(l, &t);
  P("timer.priority_after_stop", "%d", ev_priority(&t));

  order[0] = 0;
  ev_timer_init(&t, order_cb, 0.02, 0.);
  ev_timer_init(&u, order_cb, 0.01, 0.);
  t.data = "t(0.02)";
  u.data = "u(0.01)";
  ev_timer_start(l, &t);
  ev_timer_start(l, &u);
  P("timer.run_returns", "%d", ev_run(l, 0));
  P("timer.order", "%s", order);

  ncalls = last_rev = 0;
  ev_timer_init(&t, CB(ev_timer), 0.01, 0.01);
  ev_timer_start(l, &t);
  run_until_calls(l, 3, 5.);
  P("timer.repeat", "calls=%d rev=%#x active=%d", ncalls, last_rev, ev_is_active(&t) != 0);
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* io                                                                                         */

static void once_cb(int rev, void *arg)
{
  P("io.once", "rev=%#x arg=%s", rev, (const char *)arg);
}

static void scenario_io(void)
{
  struct ev_loop *l = new_loop(0);
  int p[2];
  if (pipe(p) < 0)
    exit(3);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  ev_io r, r2, w;
  ev_io_init(&r, CB(ev_io), p[0], EV_READ);
  P("io.after_init", "events=%#x active=%d pending=%d", r.events, ev_is_active(&r),
    ev_is_pending(&r));
  ev_io_start(l, &r);
  P("io.after_start", "events=%#x active=%d", r.events, ev_is_active(&r) != 0);
  ncalls = last_rev = 0;
  ev_run(l, EVRUN_NOWAIT);
  P("io.idle_pipe", "calls=%d", ncalls);
  if (write(p[1], "x", 1) != 1)
    exit(3);
  ev_run(l, EVRUN_NOWAIT);
  P("io.readable", "calls=%d rev=%#x", ncalls, last_rev);
  ev_run(l, EVRUN_NOWAIT);
  P("io.level_triggered", "calls=%d", ncalls);
  ev_io_init(&r2, CB(ev_io), p[0], EV_READ);
  ev_io_start(l, &r2);
  ncalls = 0;
  ev_run(l, EVRUN_NOWAIT);
  P("io.two_watchers_one_fd", "calls=%d", ncalls);
  ev_io_stop(l, &r2);
  char c;
  if (read(p[0], &c, 1) != 1)
    exit(3);
  ev_io_init(&w, CB(ev_io), p[1], EV_WRITE);
  ev_io_start(l, &w);
  ncalls = 0;
  P("io.run_nowait_returns", "%d", ev_run(l, EVRUN_NOWAIT));
  P("io.writable", "calls=%d rev=%#x", ncalls, last_rev);
  ev_io_stop(l, &w);
  ev_io_stop(l, &r);
  ev_io_modify(&r, EV_READ | EV_WRITE);
  P("io.modify", "events=%#x", r.events);
  ev_io_set(&r, p[0], EV_READ);
  ev_io_modify(&r, EV_WRITE); /* keeps the "fd may be new" bit that ev_io_set added */
  P("io.set_then_modify", "events=%#x", r.events);
  ev_io_set(&r, p[0], EV_READ);

  ev_feed_event(l, &r, EV_READ);
  ev_feed_event(l, &r, EV_WRITE);
  P("io.feed_twice", "pending=%d count=%d", ev_is_pending(&r), ev_pending_count(l));
  P("io.clear_pending", "%#x", ev_clear_pending(l, &r));

  ev_once(l, -1, 0, 0.01, once_cb, "timer");
  ev_run(l, 0);
  if (write(p[1], "y", 1) != 1)
    exit(3);
  ev_once(l, p[0], EV_READ, 5., once_cb, "fd");
  ev_run(l, 0);
  ev_loop_destroy(l);
  close(p[0]);
  close(p[1]);
}

int main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  dl = ev_default_loop(0);
  if (!dl) {
    P("default_loop", "NULL");
    return 1;
  }
  backend = ev_backend(dl);
  P("version", "%d.%d", ev_version_major(), ev_version_minor());
  P("backend", "%#x", backend);
  scenario_signal();
  scenario_child();
  scenario_stat();
  scenario_timer();
  scenario_io();
  ev_loop_destroy(dl);
  P("sigchld_after_destroy", "%s", handler_kind(SIGCHLD));
  return 0;
}
