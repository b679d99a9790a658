/* iouring.c - what only the io_uring backend has to prove (see docs/iouring-design.md).
 *
 * Run by make check once per backend like every test program; on any backend but io_uring
 * each test prints "# skipped: io_uring only". Most tests repeat their body under each
 * EVRING_IOURING_DISABLE mask, so that every kernel-dependent path (per-fd poll instead of
 * ring-driven epoll, no DEFER_TASKRUN, nothing newer than 5.11) runs on this kernel. The
 * backend reads the variable when a loop is created.
 *
 * Callbacks only record; the test functions assert afterwards. Bodies that need another
 * process (seccomp, fork, strace) report through exit codes and never use cmocka there. */
#include "test.h"

#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

#define OLD_KERNEL "defer_taskrun,coop_taskrun,submit_all,cqe_skip,cancel_any"
#define OLD_KERNEL_NO_EPOLL_WAIT ("epoll_wait," OLD_KERNEL)

/* Each mask stands for a kernel: 6.15+ (nothing masked), < 6.15 (no EPOLL_WAIT: per-fd
 * polls, which never use DEFER_TASKRUN), ring epoll without SINGLE_ISSUER/DEFER_TASKRUN, and
 * a ring with nothing newer than 5.11, with and without EPOLL_WAIT. */
static const char *const masks[] = {
  "",
  "epoll_wait",
  "defer_taskrun",
  OLD_KERNEL,
  OLD_KERNEL_NO_EPOLL_WAIT,
};
#define NMASKS (int)(sizeof masks / sizeof masks[0])

static int iouring_only(void)
{
  if (test_backend() == EVBACKEND_IOURING)
    return 1;
  printf("# skipped: io_uring only\n");
  return 0;
}

static void use_mask(const char *mask)
{
  setenv("EVRING_IOURING_DISABLE", mask, 1);
}

static void reset_env(void)
{
  unsetenv("EVRING_IOURING_DISABLE");
  unsetenv("EVRING_IOURING_ENTRIES");
  unsetenv("EVRING_IOURING_SWEEP_MS");
  unsetenv("EVRING_IOURING_STATS");
}

/* An io watcher plus a record of its callbacks. */
struct probe {
  ev_io io;
  int calls, revents, errors, read_per_call, read_all;
  ssize_t last_read;
};

static void probe_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct probe *p = (struct probe *)w;
  p->calls++;
  p->revents = revents;
  if (revents & EV_ERROR)
    p->errors++;
  if (p->read_per_call) {
    char c;
    p->last_read = read(w->fd, &c, 1);
  } else if (p->read_all) {
    char buf[256];
    while ((p->last_read = read(w->fd, buf, sizeof buf)) > 0)
      ;
  }
}

static void probe_init(struct probe *p, int fd, int events)
{
  memset(p, 0, sizeof *p);
  ev_io_init(&p->io, probe_cb, fd, events);
}


static rlim_t nofile(void)
{
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

/* ---------------------------------------------------------------------------------------- */
/* The masks reach the kernel: mode and ring flags as the backend reports them */

static void masks_take_effect(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    setenv("EVRING_IOURING_STATS", "1", 1);
    struct ev_loop *loop = test_loop(0);
    test_run_nowait(loop, 1);
    char stats[512];
    test_destroy_with_stats(loop, stats, sizeof stats);
    printf("# mask \"%s\": %s", masks[m], stats);
    assert_non_null(strstr(stats, "evring-iouring: mode="));
    unsigned long flags = test_stat_field(stats, "ring_flags");
    if (strstr(masks[m], "epoll_wait"))
      assert_non_null(strstr(stats, "mode=poll"));
    if (strstr(masks[m], "defer_taskrun"))
      assert_int_equal(flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER), 0);
    if (strstr(masks[m], "coop_taskrun"))
      assert_int_equal(flags & IORING_SETUP_COOP_TASKRUN, 0);
    if (strstr(masks[m], "submit_all"))
      assert_int_equal(flags & IORING_SETUP_SUBMIT_ALL, 0);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* The default: io_uring only where it was measured not slower than epoll on every row of make
 * bench, which no kernel's mode is yet (see iouring_recommended); io_uring stays one flag away
 * under every mask */

static void iouring_is_supported_but_not_the_default(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    unsigned int rec = ev_recommended_backends();
    printf("# mask \"%s\": recommended %#x\n", masks[m], rec);
    assert_int_equal(rec & EVBACKEND_IOURING, 0);
    assert_true(ev_supported_backends() & EVBACKEND_IOURING);
    struct ev_loop *loop = ev_loop_new(EVFLAG_NOENV);
    assert_non_null(loop);
    assert_int_equal(ev_backend(loop), EVBACKEND_EPOLL);
    ev_loop_destroy(loop);
    loop = ev_loop_new(EVBACKEND_IOURING | EVFLAG_NOENV);
    assert_non_null(loop);
    assert_int_equal(ev_backend(loop), EVBACKEND_IOURING);
    ev_loop_destroy(loop);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* Destroying a loop cancels its armed polls: in one request where the kernel has
 * IORING_ASYNC_CANCEL_ANY (5.19+), one per poll where it has not (or under the mask) */

static int kernel_at_least(int major, int minor)
{
  struct utsname u;
  int ma = 0, mi = 0;
  if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
    return 0;
  return ma > major || (ma == major && mi >= minor);
}

static void destroy_cancels_polls_at_once_where_the_kernel_can(void **state)
{
  if (!iouring_only())
    return;
  static const char *const poll_masks[] = {"epoll_wait", OLD_KERNEL_NO_EPOLL_WAIT};
  for (int m = 0; m < 2; m++) {
    use_mask(poll_masks[m]);
    setenv("EVRING_IOURING_STATS", "1", 1);
    struct ev_loop *loop = test_loop(0);
    int pp[10][2];
    struct probe p[10];
    for (int i = 0; i < 10; i++) {
      assert_int_equal(pipe2(pp[i], O_NONBLOCK | O_CLOEXEC), 0);
      probe_init(&p[i], pp[i][0], EV_READ);
      ev_io_start(loop, &p[i].io);
    }
    test_run_nowait(loop, 2);
    char stats[512];
    test_destroy_with_stats(loop, stats, sizeof stats);
    printf("# mask \"%s\": %s", poll_masks[m], stats);
    unsigned long any = test_stat_field(stats, "cancel_any");
    unsigned long sqes = test_stat_field(stats, "sqes");
    if (strstr(poll_masks[m], "cancel_any"))
      assert_int_equal(any, 0);
    else if (kernel_at_least(5, 19))
      assert_int_equal(any, 1);
    assert_int_equal(sqes, 10 + (any ? 1 : 10));
    for (int i = 0; i < 10; i++)
      close(pp[i][0]), close(pp[i][1]);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* Level-triggered under every mask: 10 bytes read one per callback give 10 callbacks */

static void level_one(struct ev_loop *loop, int rfd, int wfd)
{
  struct probe p;
  probe_init(&p, rfd, EV_READ);
  p.read_per_call = 1;
  ev_io_start(loop, &p.io);
  test_run_nowait(loop, 2);
  assert_int_equal(p.calls, 0);
  test_put(wfd, "0123456789");
  for (int i = 0; i < 200 && p.calls < 10; i++) {
    ev_run(loop, EVRUN_NOWAIT);
    if (p.calls == 0)
      usleep(1000); /* pty data arrives through a work queue */
  }
  assert_int_equal(p.calls, 10);
  assert_int_equal(p.last_read, 1);
  test_run_nowait(loop, 3);
  assert_int_equal(p.calls, 10);
  ev_io_stop(loop, &p.io);
}

static void level_triggered_every_mask(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    int sv[2], pp[2], master, slave;
    test_sockpair(sv);
    level_one(loop, sv[0], sv[1]);
    assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    level_one(loop, pp[0], pp[1]);
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct termios t;
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    test_nonblock(slave);
    level_one(loop, slave, master);
    ev_loop_destroy(loop);
    close(sv[0]), close(sv[1]), close(pp[0]), close(pp[1]), close(master), close(slave);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* 10 000 armed watchers stopped, re-set and started again, 20 rounds: nothing lost */

#define REARM_FDS 10000
#define REARM_ROUNDS 20

static void rearm_10000_watchers_20_rounds(void **state)
{
  if (!iouring_only())
    return;
  test_raise_nofile(REARM_FDS + 200);
  int fds = REARM_FDS;
  if (nofile() < REARM_FDS + 200) {
    fds = ((int)nofile() - 200) & ~1;
    printf("# RLIMIT_NOFILE %lu: %d watchers instead\n", (unsigned long)nofile(), fds);
  }
  int pairs = fds / 2;
  int (*sv)[2] = calloc((size_t)pairs, sizeof *sv);
  struct probe *p = calloc((size_t)fds, sizeof *p);
  assert_non_null(sv);
  assert_non_null(p);
  for (int i = 0; i < pairs; i++)
    test_sockpair(sv[i]);

  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    /* every end of every pair watched for reading: fd k = sv[k/2][k%2] */
    for (int k = 0; k < fds; k++) {
      probe_init(&p[k], sv[k / 2][k % 2], EV_READ);
      p[k].read_all = 1;
      ev_io_start(loop, &p[k].io);
    }
    test_run_nowait(loop, 1);
    int lost = 0, extra = 0;
    for (int round = 0; round < REARM_ROUNDS; round++) {
      for (int k = 0; k < fds; k++) {
        ev_io_stop(loop, &p[k].io);
        ev_io_set(&p[k].io, p[k].io.fd, EV_READ);
        ev_io_start(loop, &p[k].io);
        p[k].calls = 0;
      }
      /* a different tenth of the fds gets a byte each round */
      for (int k = round % 10; k < fds; k += 10)
        assert_int_equal(write(sv[k / 2][1 - k % 2], "x", 1), 1);
      ev_run(loop, EVRUN_NOWAIT);
      for (int k = 0; k < fds; k++) {
        int want = (k % 10) == round % 10;
        lost += want && p[k].calls != 1;
        extra += !want && p[k].calls != 0;
      }
    }
    if (lost || extra)
      printf("# mask \"%s\": %d lost, %d unexpected\n", masks[m], lost, extra);
    assert_int_equal(lost, 0);
    assert_int_equal(extra, 0);
    ev_loop_destroy(loop);
  }
  for (int i = 0; i < pairs; i++)
    close(sv[i][0]), close(sv[i][1]);
  free(sv);
  free(p);
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* More ready fds than the ring has entries, and a CQ made to overflow: nothing lost */

static void many_ready(int nready, const char *entries, int check_overflow)
{
  int (*sv)[2] = calloc((size_t)nready, sizeof *sv);
  struct probe *p = calloc((size_t)nready, sizeof *p);
  assert_non_null(sv);
  assert_non_null(p);
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    setenv("EVRING_IOURING_ENTRIES", entries, 1);
    setenv("EVRING_IOURING_STATS", "1", 1);
    struct ev_loop *loop = test_loop(0);
    for (int i = 0; i < nready; i++) {
      test_sockpair(sv[i]);
      probe_init(&p[i], sv[i][0], EV_READ);
      p[i].read_per_call = 1;
      ev_io_start(loop, &p[i].io);
    }
    /* all armed first, then all ready at once: every completion arrives in one go */
    test_run_nowait(loop, 2);
    for (int i = 0; i < nready; i++)
      test_put(sv[i][1], "ab");
    /* one iteration reports every fd, twice more (one byte left, then none) */
    for (int round = 1; round <= 3; round++) {
      ev_run(loop, EVRUN_NOWAIT);
      int want = round < 2 ? round : 2, bad = 0;
      for (int i = 0; i < nready; i++)
        bad += p[i].calls != want;
      if (bad)
        printf("# mask \"%s\" entries %s round %d: %d fds with a wrong count\n", masks[m],
               entries, round, bad);
      assert_int_equal(bad, 0);
    }
    char stats[512];
    test_destroy_with_stats(loop, stats, sizeof stats);
    if (check_overflow && strstr(stats, "mode=poll")) {
      /* per-fd polls: 2 * nready completions against a CQ of 2 * entries */
      printf("# mask \"%s\": %s", masks[m], stats);
      assert_true(test_stat_field(stats, "overflow_rounds") > 0);
    }
    for (int i = 0; i < nready; i++)
      close(sv[i][0]), close(sv[i][1]);
  }
  free(sv);
  free(p);
  reset_env();
}

static void more_ready_fds_than_ring_entries(void **state)
{
  if (!iouring_only())
    return;
  many_ready(1000, "16", 0);
}

static void tiny_ring_cq_overflow_loses_nothing(void **state)
{
  if (!iouring_only())
    return;
  many_ready(300, "2", 1);
}

/* ---------------------------------------------------------------------------------------- */
/* io_uring forbidden by a seccomp filter: the loop falls back to epoll and works */

/* In a child: a pipe watcher on `loop` works (exit status 0, else a step number). */
static int child_loop_works(struct ev_loop *loop)
{
  int pp[2];
  if (!loop || pipe2(pp, O_NONBLOCK))
    return 10;
  struct probe p;
  probe_init(&p, pp[0], EV_READ);
  p.read_all = 1;
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  if (p.calls)
    return 11;
  if (write(pp[1], "x", 1) != 1)
    return 12;
  ev_run(loop, EVRUN_ONCE);
  if (p.calls != 1)
    return 13;
  ev_run(loop, EVRUN_NOWAIT);
  if (p.calls != 1)
    return 14;
  ev_io_stop(loop, &p.io);
  close(pp[0]);
  close(pp[1]);
  return 0;
}

/* Body of a freshly exec'd child: the filter is in place before the first probe. */
static int seccomp_exec_child(const char *spec)
{
  long nr = strncmp(spec, "enter", 5) ? SYS_io_uring_setup : SYS_io_uring_enter;
  int err = strstr(spec, "ENOSYS") ? ENOSYS : EPERM;
  if (test_forbid_syscall(nr, err))
    return 77;
  if (ev_supported_backends() & EVBACKEND_IOURING)
    return 2;
  if (ev_recommended_backends() & EVBACKEND_IOURING)
    return 3;
  if (!(ev_supported_backends() & EVBACKEND_EPOLL))
    return 4;
  struct ev_loop *def = ev_default_loop(0);
  if (!def || ev_backend(def) != EVBACKEND_EPOLL)
    return 5;
  struct ev_loop *loop = ev_loop_new(0);
  if (!loop || ev_backend(loop) != EVBACKEND_EPOLL)
    return 6;
  int r = child_loop_works(def);
  if (!r)
    r = child_loop_works(loop);
  ev_loop_destroy(loop);
  return r;
}

static int run_child(int (*body)(const char *), const char *arg)
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(body(arg));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int exec_self(const char *arg)
{
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return 20;
  exe[len] = 0;
  setenv("EVRING_IOURING_SECCOMP_CHILD", arg, 1);
  execl(exe, exe, (char *)NULL);
  return 21;
}

/* Forked without exec: this process has probed io_uring already, so the child's loop is
 * created on it or tries to; setup (or enter) answers EPERM/ENOSYS. */
static int seccomp_fork_child(const char *spec)
{
  long nr = strncmp(spec, "enter", 5) ? SYS_io_uring_setup : SYS_io_uring_enter;
  int err = strstr(spec, "ENOSYS") ? ENOSYS : EPERM;
  if (test_forbid_syscall(nr, err))
    return 77;
  struct ev_loop *loop = ev_loop_new(0);
  if (!loop)
    return 2;
  int r = child_loop_works(loop);
  if (!r && ev_backend(loop) != EVBACKEND_EPOLL)
    r = 3;
  ev_loop_destroy(loop);
  return r;
}

static void seccomp_forbids_io_uring_falls_back_to_epoll(void **state)
{
  if (!iouring_only())
    return;
  static const char *const specs[] = {"setup:EPERM", "setup:ENOSYS", "enter:EPERM",
                                      "enter:ENOSYS"};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    int fresh = run_child(exec_self, specs[i]);
    int forked = run_child(seccomp_fork_child, specs[i]);
    printf("# seccomp %s: fresh process %d, forked child %d\n", specs[i], fresh, forked);
    if (fresh == 77 || forked == 77) {
      printf("# skipped: seccomp filters not available here\n");
      return;
    }
    assert_int_equal(fresh, 0);
    assert_int_equal(forked, 0);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Every fd type a libev user may watch gives the same events as on epoll */

struct fdcase {
  const char *name;
  int fd;       /* watched */
  int keep[3];  /* other fds to close afterwards */
};

static int make_case(int k, struct fdcase *c)
{
  int sv[2], pp[2], m, s;
  memset(c, 0, sizeof *c);
  c->keep[0] = c->keep[1] = c->keep[2] = -1;
  switch (k) {
  case 0: c->name = "socket idle"; test_sockpair(sv); c->fd = sv[0]; c->keep[0] = sv[1]; return 1;
  case 1: c->name = "socket data"; test_sockpair(sv); test_put(sv[1], "x"); c->fd = sv[0];
    c->keep[0] = sv[1]; return 1;
  case 2: c->name = "socket peer closed"; test_sockpair(sv); close(sv[1]); c->fd = sv[0]; return 1;
  case 3: c->name = "pipe read end empty"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    c->fd = pp[0]; c->keep[0] = pp[1]; return 1;
  case 4: c->name = "pipe read end data"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    test_put(pp[1], "x"); c->fd = pp[0]; c->keep[0] = pp[1]; return 1;
  case 5: c->name = "pipe read end writer gone"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    close(pp[1]); c->fd = pp[0]; return 1;
  case 6: c->name = "pipe write end"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    c->fd = pp[1]; c->keep[0] = pp[0]; return 1;
  case 7: c->name = "pipe write end full"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    while (write(pp[1], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 32) > 0)
      ;
    c->fd = pp[1]; c->keep[0] = pp[0]; return 1;
  case 8: c->name = "pipe write end reader gone"; assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    close(pp[0]); c->fd = pp[1]; return 1;
  case 9: { c->name = "regular file"; FILE *f = tmpfile(); assert_non_null(f);
    c->fd = dup(fileno(f)); fclose(f); return 1; }
  case 10: c->name = "/dev/null"; c->fd = open("/dev/null", O_RDWR | O_CLOEXEC); return 1;
  case 11: c->name = "pty master idle"; assert_int_equal(openpty(&m, &s, NULL, NULL, NULL), 0);
    c->fd = m; c->keep[0] = s; return 1;
  case 12: c->name = "pty slave idle"; assert_int_equal(openpty(&m, &s, NULL, NULL, NULL), 0);
    c->fd = s; c->keep[0] = m; return 1;
  case 13: c->name = "pty slave data"; assert_int_equal(openpty(&m, &s, NULL, NULL, NULL), 0);
    test_put(m, "x\n"); usleep(20000); c->fd = s; c->keep[0] = m; return 1;
  case 14: c->name = "pty slave master gone";
    assert_int_equal(openpty(&m, &s, NULL, NULL, NULL), 0); close(m); c->fd = s; return 1;
  case 15: c->name = "eventfd 0"; c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); return 1;
  case 16: c->name = "eventfd 1"; c->fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); return 1;
  case 17: case 18: {
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGURG);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    c->fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    c->name = k == 17 ? "signalfd idle" : "signalfd pending";
    if (k == 18)
      raise(SIGURG);
    return 1;
  }
  case 19: case 20: {
    c->name = k == 19 ? "inotify idle" : "inotify event";
    c->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char dir[] = "/tmp/evring-inotify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    inotify_add_watch(c->fd, dir, IN_CREATE | IN_DELETE);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    if (k == 20)
      close(open(path, O_CREAT | O_WRONLY, 0600));
    unlink(path);
    rmdir(dir);
    if (k == 19) { /* drain what the cleanup produced: the idle case stays idle */
      char buf[4096];
      while (read(c->fd, buf, sizeof buf) > 0)
        ;
    }
    return 1;
  }
  case 21: c->name = "timerfd unarmed";
    c->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); return 1;
  case 22: { c->name = "timerfd expired";
    c->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {{0, 0}, {0, 1000}};
    timerfd_settime(c->fd, 0, &its, NULL);
    usleep(2000);
    return 1; }
  case 23: c->name = "epoll idle"; c->fd = epoll_create1(EPOLL_CLOEXEC); return 1;
  case 24: { c->name = "epoll ready";
    c->fd = epoll_create1(EPOLL_CLOEXEC);
    assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    test_put(pp[1], "x");
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(c->fd, EPOLL_CTL_ADD, pp[0], &ev);
    c->keep[0] = pp[0], c->keep[1] = pp[1];
    return 1; }
  default:
    return 0;
  }
}

static void close_case(struct fdcase *c)
{
  close(c->fd);
  for (int i = 0; i < 3; i++)
    if (c->keep[i] >= 0)
      close(c->keep[i]);
}

/* revents of one NOWAIT iteration for watchers asking READ, WRITE, READ|WRITE */
static void events_of(struct ev_loop *loop, int fd, int out[3])
{
  static const int asks[3] = {EV_READ, EV_WRITE, EV_READ | EV_WRITE};
  struct probe p[3];
  for (int i = 0; i < 3; i++) {
    probe_init(&p[i], fd, asks[i]);
    ev_io_start(loop, &p[i].io);
  }
  ev_run(loop, EVRUN_NOWAIT);
  ev_run(loop, EVRUN_NOWAIT); /* level: the same again */
  for (int i = 0; i < 3; i++) {
    out[i] = p[i].calls == 2 ? p[i].revents : p[i].calls ? -p[i].calls : 0;
    ev_io_stop(loop, &p[i].io);
  }
  ev_run(loop, EVRUN_NOWAIT);
}

static void every_fd_type_same_events_as_epoll(void **state)
{
  if (!iouring_only())
    return;
  if (!(ev_supported_backends() & EVBACKEND_EPOLL)) {
    printf("# skipped: no epoll to compare with\n");
    return;
  }
  int differ = 0;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    for (int k = 0;; k++) {
      struct fdcase c;
      if (!make_case(k, &c))
        break;
      struct ev_loop *ep = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
      struct ev_loop *ur = test_loop(0);
      int e[3], u[3];
      events_of(ep, c.fd, e);
      events_of(ur, c.fd, u);
      if (m == 0 || memcmp(e, u, sizeof e))
        printf("# %-28s epoll r=%d w=%d rw=%d  io_uring(\"%s\") r=%d w=%d rw=%d\n", c.name,
               e[0], e[1], e[2], masks[m], u[0], u[1], u[2]);
      differ += memcmp(e, u, sizeof e) != 0;
      ev_loop_destroy(ep);
      ev_loop_destroy(ur);
      close_case(&c);
    }
  }
  signal(SIGURG, SIG_DFL);
  assert_int_equal(differ, 0);
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* One io_uring_enter per iteration and nothing else, counted with strace */

#define STRACE_ITERATIONS 200
#define MARK_BEGIN "evring-iouring-mark-begin"
#define MARK_END "evring-iouring-mark-end"
#define MARK_CLOCK "evring-iouring-mark-clock"
#define MARK_NEAR_DUE "evring-iouring-mark-near-due-"

static void mark(const char *s)
{
  if (write(-1, s, strlen(s)) != -1)
    _exit(4);
}

static void nop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Due `repeat` after now, whatever the iteration cost: every iteration blocks in the kernel. */
static void again_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  ev_timer_again(loop, w);
}

/* Idle kind: iterations in which the timer is due within a millisecond when the loop is about
 * to compute its timeout (the iteration took about as long as the timer's period, which a
 * slow or loaded machine does): the loop may find it due and not wait at all, which needs no
 * system call. Every other iteration must wait in exactly one io_uring_enter. */
static int near_due;
static ev_timer *near_due_timer;
static void near_due_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
  ev_now_update(loop);
  if (ev_timer_remaining(loop, near_due_timer) < 0.001)
    near_due++;
}

/* Churn kind: the watcher of an always-ready fd changes its mask in every callback. */
static void flip_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  int next = w->events & EV_WRITE ? EV_READ : EV_READ | EV_WRITE;
  ev_io_stop(loop, w);
  ev_io_set(w, w->fd, next);
  ev_io_start(loop, w);
}

/* Traced child: `kind` "busy" (an fd always ready, never read), "churn" (the same, its
 * watcher's mask changed in every callback) or "idle" (a 2 ms timer
 * restarted from its callback, an fd never ready: every iteration waits in the kernel unless
 * the timer is due already, see near_due_cb). */
static int strace_child(const char *kind)
{
  struct ev_loop *loop = ev_loop_new(EVBACKEND_IOURING | EVFLAG_NOENV);
  if (!loop || ev_backend(loop) != EVBACKEND_IOURING)
    return 2;
  int pp[2], qq[2];
  if (pipe2(pp, O_NONBLOCK) || pipe2(qq, O_NONBLOCK))
    return 3;
  struct probe ready, idle;
  probe_init(&ready, pp[0], EV_READ);
  probe_init(&idle, qq[0], EV_READ);
  ev_timer t;
  ev_timer_init(&t, again_timer_cb, 0.002, 0.002);
  ev_io_start(loop, &idle.io);
  int sv[2];
  ev_io flip;
  if (!strcmp(kind, "busy")) {
    if (write(pp[1], "x", 1) != 1)
      return 3;
    ev_io_start(loop, &ready.io);
  } else if (!strcmp(kind, "churn")) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) || write(sv[1], "x", 1) != 1)
      return 3;
    ev_io_init(&flip, flip_cb, sv[0], EV_READ);
    ev_io_start(loop, &flip);
  } else
    ev_timer_start(loop, &t);
  ev_prepare due;
  ev_prepare_init(&due, near_due_cb);
  near_due_timer = &t;
  if (!strcmp(kind, "idle"))
    ev_prepare_start(loop, &due);
  for (int i = 0; i < 20; i++)
    ev_run(loop, EVRUN_ONCE);
  near_due = 0;
  struct timespec ts;
  mark(MARK_CLOCK);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  mark(MARK_BEGIN);
  for (int i = 0; i < STRACE_ITERATIONS; i++)
    ev_run(loop, EVRUN_ONCE);
  mark(MARK_END);
  char note[64];
  snprintf(note, sizeof note, MARK_NEAR_DUE "%d", near_due);
  mark(note);
  if (!strcmp(kind, "busy") && ready.calls < STRACE_ITERATIONS)
    return 5;
  return idle.calls ? 6 : 0;
}

static int have_strace(void)
{
  fflush(NULL);
  return system("strace -qq -o /dev/null true >/dev/null 2>&1") == 0;
}

/* Whether the ring under this mask polls fd by fd: masked, or a kernel without EPOLL_WAIT. */
static int mask_gives_poll_mode(const char *mask)
{
  use_mask(mask);
  setenv("EVRING_IOURING_STATS", "1", 1);
  struct ev_loop *loop = test_loop(0);
  char stats[512];
  test_destroy_with_stats(loop, stats, sizeof stats);
  reset_env();
  assert_non_null(strstr(stats, "evring-iouring: mode="));
  return strstr(stats, "mode=poll") != NULL;
}

static void count_enters(const char *kind, const char *mask)
{
  int poll_mode = mask_gives_poll_mode(mask);
  char out[64];
  const char *const env[] = { "EVRING_IOURING_STRACE_CHILD", kind, "EVRING_IOURING_DISABLE", mask,
                              NULL };
  const char *const flags[] = { "-f", NULL };
  int status = test_trace_self(out, sizeof out, env, flags);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char line[4096], others[256] = "";
  int region = 0, clock_region = 0, clock_calls = 0, begin = 0, end = 0, near = 0;
  long enters = 0, epoll_waits = 0, other = 0;
  while (fgets(line, sizeof line, f)) {
    char *s = line;
    while (*s >= '0' && *s <= '9')
      s++; /* -f prefixes the pid */
    while (*s == ' ')
      s++;
    if (strstr(s, MARK_CLOCK)) { clock_region = 1; continue; }
    if (strstr(s, MARK_BEGIN)) { clock_region = 0; region = begin = 1; continue; }
    if (strstr(s, MARK_END)) { region = 0; end = 1; continue; }
    const char *nd = strstr(s, MARK_NEAR_DUE);
    if (nd) { near = atoi(nd + strlen(MARK_NEAR_DUE)); continue; }
    if (clock_region)
      clock_calls++;
    if (!region)
      continue;
    char name[64] = "";
    sscanf(s, "%63[a-z0-9_]", name);
    if (!strcmp(name, "io_uring_enter"))
      enters++;
    else if (!strcmp(name, "epoll_wait") || !strcmp(name, "epoll_pwait"))
      epoll_waits++;
    else if (other++ < 6 && strlen(others) + strlen(name) + 2 < sizeof others)
      strcat(strcat(others, " "), name);
  }
  fclose(f);
  if (!WIFEXITED(status) || WEXITSTATUS(status) || !begin || !end) {
    printf("# traced child: status %#x, markers %d/%d, trace kept in %s\n", status, begin, end,
           out);
    fail();
  }
  unlink(out);
  if (clock_calls) {
    printf("# skipped: clock reads are system calls here\n");
    return;
  }
  printf("# %s, mask \"%s\": %d iterations (%d with the timer due within 1 ms), %ld "
         "io_uring_enter, %ld epoll_wait, %ld other:%s\n", kind, mask, STRACE_ITERATIONS, near,
         enters, epoll_waits, other, others);
  long waits = enters + epoll_waits;
  assert_int_equal(other, 0);
  assert_true(waits <= STRACE_ITERATIONS);
  assert_true(waits >= STRACE_ITERATIONS - near);
  if (poll_mode)
    assert_int_equal(epoll_waits, 0); /* per-fd polls: everything through the ring */
  else if (!strcmp(kind, "busy"))
    assert_int_equal(epoll_waits, STRACE_ITERATIONS); /* nothing changed: a plain wait */
  else if (!strcmp(kind, "churn"))
    assert_int_equal(enters, STRACE_ITERATIONS); /* the change and the wait in one enter */
}

static void one_wait_per_iteration_unchanged_set_waits_like_epoll(void **state)
{
  if (!iouring_only())
    return;
  if (system("command -v strace >/dev/null 2>&1") != 0 || !have_strace()) {
    printf("# skipped: strace missing or not permitted\n");
    return;
  }
  for (int m = 0; m < NMASKS; m++) {
    count_enters("busy", masks[m]);
    count_enters("churn", masks[m]);
    count_enters("idle", masks[m]);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Armed polls pin their file: a stopped watcher lets it go at once, a closed one in bounded
 * time */

static void stopped_watcher_releases_file_next_iteration(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    int sv[2];
    test_sockpair(sv);
    struct probe p;
    probe_init(&p, sv[0], EV_READ);
    ev_io_start(loop, &p.io);
    test_run_nowait(loop, 2);
    ev_io_stop(loop, &p.io);
    test_run_nowait(loop, 1);
    close(sv[0]);
    int hup = test_peer_sees_eof(sv[1], 0);
    if (!hup)
      printf("# mask \"%s\": the peer still sees an open socket\n", masks[m]);
    assert_true(hup);
    ev_loop_destroy(loop);
    close(sv[1]);
  }
  reset_env();
}

static void closed_while_armed_peer_sees_hangup(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    setenv("EVRING_IOURING_SWEEP_MS", m == 1 ? "1000" : "100", 1);
    struct ev_loop *loop = test_loop(0);
    int sv[2];
    test_sockpair(sv);
    struct probe p, peer;
    probe_init(&p, sv[0], EV_READ);
    probe_init(&peer, sv[1], EV_READ);
    ev_io_start(loop, &p.io);
    ev_io_start(loop, &peer.io);
    test_run_nowait(loop, 2);
    close(sv[0]); /* wrong by libev's rules, harmless on epoll */
    ev_tstamp start = ev_time();
    ev_timer tick;
    ev_timer_init(&tick, nop_timer_cb, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    while (!peer.calls && ev_time() - start < 5.)
      ev_run(loop, EVRUN_ONCE);
    ev_tstamp took = ev_time() - start;
    printf("# mask \"%s\": peer saw the hang-up after %.3f s; closed fd's watcher: %d calls, "
           "%d EV_ERROR\n",
           masks[m], took, p.calls, p.errors);
    assert_int_equal(peer.calls, 1);
    assert_true(took < (m == 1 ? 3.0 : 0.5)); /* two sweep periods */
    assert_int_equal(p.calls, p.errors); /* nothing but EV_ERROR for a closed fd */
    ev_timer_stop(loop, &tick);
    if (p.io.active)
      ev_io_stop(loop, &p.io);
    ev_io_stop(loop, &peer.io);
    ev_loop_destroy(loop);
    close(sv[1]);
  }
  reset_env();
}

/* The number of a closed fd reused by another file and watched again (ev_io_set) at once */
static void fd_number_reused_while_armed(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    int a[2], b[2];
    test_sockpair(a);
    struct probe p;
    probe_init(&p, a[0], EV_READ);
    p.read_all = 1;
    ev_io_start(loop, &p.io);
    test_run_nowait(loop, 2);
    int num = a[0];
    close(a[0]);
    test_sockpair(b);
    if (b[0] != num) { /* make the new socket take the old number */
      assert_int_equal(dup2(b[0], num), num);
      close(b[0]);
      b[0] = num;
    }
    ev_io_stop(loop, &p.io);
    ev_io_set(&p.io, num, EV_READ);
    ev_io_start(loop, &p.io);
    test_run_nowait(loop, 2);
    assert_int_equal(p.calls, 0);
    assert_true(test_peer_sees_eof(a[1], 0)); /* the old file is gone */
    test_put(b[1], "y");
    test_run_nowait(loop, 1);
    assert_int_equal(p.calls, 1);
    ev_io_stop(loop, &p.io);
    ev_loop_destroy(loop);
    close(a[1]), close(b[0]), close(b[1]);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* fork: ev_loop_fork in the child, both loops keep working */

static void fork_both_loops_work(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    int pa[2], pc[2];
    assert_int_equal(pipe2(pa, O_NONBLOCK), 0);
    assert_int_equal(pipe2(pc, O_NONBLOCK), 0);
    struct probe a, c;
    probe_init(&a, pa[0], EV_READ);
    probe_init(&c, pc[0], EV_READ);
    a.read_all = c.read_all = 1;
    ev_io_start(loop, &a.io);
    ev_io_start(loop, &c.io);
    test_run_nowait(loop, 2);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      ev_loop_fork(loop);
      ev_io_stop(loop, &a.io);
      int bad = 0;
      for (int i = 0; i < 50 && !bad; i++) {
        c.calls = 0;
        bad = write(pc[1], "c", 1) != 1;
        ev_run(loop, EVRUN_ONCE);
        bad = bad || c.calls != 1;
      }
      ev_io_stop(loop, &c.io);
      ev_loop_destroy(loop);
      _exit(bad ? 1 : 0);
    }
    ev_io_stop(loop, &c.io);
    for (int i = 0; i < 50; i++) {
      a.calls = 0;
      test_put(pa[1], "p");
      ev_run(loop, EVRUN_ONCE);
      assert_int_equal(a.calls, 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    a.calls = 0;
    test_put(pa[1], "q");
    ev_run(loop, EVRUN_ONCE);
    assert_int_equal(a.calls, 1);
    ev_io_stop(loop, &a.io);
    ev_loop_destroy(loop);
    close(pa[0]), close(pa[1]), close(pc[0]), close(pc[1]);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* A loop created in one thread, run in others (SINGLE_ISSUER must not get in the way) */

struct hop {
  struct ev_loop *loop;
  struct probe *p;
  int wfd, ok;
};

static void *hop_thread(void *arg)
{
  struct hop *h = arg;
  h->ok = 1;
  for (int i = 0; i < 5; i++) {
    h->p->calls = 0;
    if (write(h->wfd, "t", 1) != 1)
      h->ok = 0;
    ev_run(h->loop, EVRUN_ONCE);
    if (h->p->calls != 1)
      h->ok = 0;
  }
  return NULL;
}

static void loop_moves_between_threads(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    int pp[2];
    assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    struct probe p;
    probe_init(&p, pp[0], EV_READ);
    p.read_all = 1;
    ev_io_start(loop, &p.io);
    struct hop h = {loop, &p, pp[1], 0};
    for (int t = 0; t < 3; t++) {
      pthread_t th;
      assert_int_equal(pthread_create(&th, NULL, hop_thread, &h), 0);
      pthread_join(th, NULL);
      assert_true(h.ok);
    }
    hop_thread(&h);
    assert_true(h.ok);
    ev_io_stop(loop, &p.io);
    ev_loop_destroy(loop);
    close(pp[0]), close(pp[1]);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* Many timers spread over a short time: timeouts rounded to milliseconds, no spinning */

static int timers_fired;
static void count_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  timers_fired++;
}

static unsigned int spread_timers_iterations(struct ev_loop *loop, ev_timer *t, int n)
{
  timers_fired = 0;
  for (int i = 0; i < n; i++) {
    ev_timer_init(&t[i], count_timer_cb, 0.0005 + 0.25 * i / n, 0.);
    ev_timer_start(loop, &t[i]);
  }
  unsigned int before = ev_iteration(loop);
  while (timers_fired < n)
    ev_run(loop, EVRUN_ONCE);
  return ev_iteration(loop) - before;
}

static void spread_timers_do_not_spin(void **state)
{
  if (!iouring_only())
    return;
  enum { N = 20000 };
  ev_timer *t = calloc(N, sizeof *t);
  assert_non_null(t);
  struct ev_loop *ep = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
  unsigned int epoll_its = ep ? spread_timers_iterations(ep, t, N) : 250;
  if (ep)
    ev_loop_destroy(ep);
  for (int m = 0; m < NMASKS; m += 2) {
    use_mask(masks[m]);
    struct ev_loop *loop = test_loop(0);
    unsigned int its = spread_timers_iterations(loop, t, N);
    printf("# mask \"%s\": %d timers over 0.25 s in %u iterations (epoll: %u)\n", masks[m], N,
           its, epoll_its);
    /* about one per millisecond like epoll, not one per timer */
    assert_in_range(its, 1, epoll_its + epoll_its / 2 + 50);
    ev_loop_destroy(loop);
  }
  free(t);
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */
/* ev_embed: the io_uring loop inside an epoll loop */

static void embedded_in_epoll_loop(void **state)
{
  if (!iouring_only())
    return;
  for (int m = 0; m < NMASKS; m++) {
    use_mask(masks[m]);
    struct ev_loop *inner = test_loop(0);
    struct ev_loop *outer = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    assert_non_null(outer);
    ev_embed e;
    ev_embed_init(&e, NULL, inner);
    ev_embed_start(outer, &e);
    int pp[2];
    assert_int_equal(pipe2(pp, O_NONBLOCK), 0);
    struct probe p;
    probe_init(&p, pp[0], EV_READ);
    p.read_per_call = 1;
    ev_io_start(inner, &p.io);
    ev_timer guard;
    ev_timer_init(&guard, nop_timer_cb, 0.05, 0.05);
    ev_timer_start(outer, &guard);
    int ok = 1;
    for (int i = 0; i < 5 && ok; i++) {
      int want = p.calls + 1;
      test_put(pp[1], "e");
      for (int j = 0; j < 40 && p.calls < want; j++)
        ev_run(outer, EVRUN_ONCE);
      ok = p.calls == want;
    }
    if (!ok)
      printf("# mask \"%s\": embedded loop not woken (%d calls)\n", masks[m], p.calls);
    assert_true(ok);
    ev_timer_stop(outer, &guard);
    ev_embed_stop(outer, &e);
    ev_io_stop(inner, &p.io);
    ev_loop_destroy(outer);
    ev_loop_destroy(inner);
    close(pp[0]), close(pp[1]);
  }
  reset_env();
}

/* ---------------------------------------------------------------------------------------- */

int main(void)
{
  const char *child = getenv("EVRING_IOURING_STRACE_CHILD");
  if (child)
    _exit(strace_child(child));
  child = getenv("EVRING_IOURING_SECCOMP_CHILD");
  if (child)
    _exit(seccomp_exec_child(child));
  signal(SIGPIPE, SIG_IGN);
  reset_env();

  const struct CMUnitTest tests[] = {
    cmocka_unit_test(masks_take_effect),
    cmocka_unit_test(destroy_cancels_polls_at_once_where_the_kernel_can),
    cmocka_unit_test(iouring_is_supported_but_not_the_default),
    cmocka_unit_test(level_triggered_every_mask),
    cmocka_unit_test(rearm_10000_watchers_20_rounds),
    cmocka_unit_test(more_ready_fds_than_ring_entries),
    cmocka_unit_test(tiny_ring_cq_overflow_loses_nothing),
    cmocka_unit_test(seccomp_forbids_io_uring_falls_back_to_epoll),
    cmocka_unit_test(every_fd_type_same_events_as_epoll),
    cmocka_unit_test(one_wait_per_iteration_unchanged_set_waits_like_epoll),
    cmocka_unit_test(stopped_watcher_releases_file_next_iteration),
    cmocka_unit_test(closed_while_armed_peer_sees_hangup),
    cmocka_unit_test(fd_number_reused_while_armed),
    cmocka_unit_test(fork_both_loops_work),
    cmocka_unit_test(loop_moves_between_threads),
    cmocka_unit_test(spread_timers_do_not_spin),
    cmocka_unit_test(embedded_in_epoll_loop),
  };
  return TEST_MAIN("iouring", tests);
}
