/* fork.c - loops across fork(): EVFLAG_FORKCHECK, ev_loop_fork on the default and on a new
 * loop, fork watchers (only when a fork was noticed, before prepare), the parent's loop left
 * intact, async/signal wake-ups in the child (eventfd recreated), many sequential children
 * and a parent loop running while children run theirs.
 *
 * Child processes must not return into cmocka: their checks print a message and _exit(1);
 * the parent asserts that every child exited with 0. Each child has a 20 s alarm. */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
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

static pid_t fork_child(void)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    alarm(20);
  return pid;
}

static void assert_child_ok(pid_t pid)
{
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
    ;
  assert_int_equal(r, pid);
  if (WIFSIGNALED(status))
    fail_msg("child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void close2(int p[2])
{
  close(p[0]);
  close(p[1]);
}

/* Callback order as a string of watcher names (w->data). */
static char trace[256];
static void trace_reset(void) { trace[0] = 0; }
static void trace_add(const char *s)
{
  if (strlen(trace) + strlen(s) + 2 < sizeof trace) {
    strcat(trace, s);
    strcat(trace, " ");
  }
}

static int nforks;
static void fork_cb(struct ev_loop *l, ev_fork *w, int rev)
{
  nforks++;
  trace_add("fork");
}
static void prepare_cb(struct ev_loop *l, ev_prepare *w, int rev) { trace_add("prepare"); }
static void check_cb(struct ev_loop *l, ev_check *w, int rev) { trace_add("check"); }

/* An io watcher that reads everything available and counts the bytes. */
static int io_calls, io_bytes;
static void read_cb(struct ev_loop *l, ev_io *w, int rev)
{
  char buf[64];
  ssize_t r;
  io_calls++;
  while ((r = read(w->fd, buf, sizeof buf)) > 0)
    io_bytes += (int)r;
}

static int timed_out;
static void timeout_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  timed_out = 1;
  ev_break(l, EVBREAK_ALL);
}

/* Run until *counter >= want, at most `limit` seconds; returns 0 on time-out. */
static int run_until(struct ev_loop *l, int *counter, int want, double limit)
{
  ev_timer guard;
  ev_timer_init(&guard, timeout_cb, limit, 0.);
  ev_timer_start(l, &guard);
  timed_out = 0;
  while (*counter < want && !timed_out)
    ev_run(l, EVRUN_ONCE);
  ev_timer_stop(l, &guard);
  return !timed_out;
}

static void put_byte(int fd)
{
  if (write(fd, "x", 1) != 1)
    abort();
}

/* ------------------------------------------------------------------------------------------ */
/* EVFLAG_FORKCHECK                                                                           */

/* The ways to make a child process that does not share memory with its parent. Only fork()
 * runs glibc's pthread_atfork handlers; EVFLAG_FORKCHECK must notice every one of them. */
enum fork_kind { FORK_GLIBC, FORK_SYSCALL, FORK_UNDERSCORE, FORK_CLONE };

static pid_t fork_child_by(enum fork_kind kind)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = -1;
  switch (kind) {
  case FORK_GLIBC: pid = fork(); break;
  case FORK_SYSCALL: pid = (pid_t)syscall(SYS_fork); break;
  case FORK_UNDERSCORE: pid = _Fork(); break;
  case FORK_CLONE: pid = (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L); break;
  }
  assert_true(pid >= 0);
  if (pid == 0)
    alarm(20);
  return pid;
}

static void forkcheck_in_a_child_made_by(enum fork_kind kind)
{
  struct ev_loop *l = test_loop(EVFLAG_FORKCHECK);
  ev_fork fw;
  ev_prepare pw;
  ev_io iw;
  int p[2];
  make_pipe(p);
  ev_fork_init(&fw, fork_cb);
  ev_prepare_init(&pw, prepare_cb);
  ev_io_init(&iw, read_cb, p[0], EV_READ);
  ev_fork_start(l, &fw);
  ev_prepare_start(l, &pw);
  ev_io_start(l, &iw);
  ev_run(l, EVRUN_NOWAIT); /* the pipe is registered with the kernel now */
  nforks = io_calls = io_bytes = 0;

  pid_t pid = fork_child_by(kind);
  if (pid == 0) {
    trace_reset();
    put_byte(p[1]);
    CHILD_CHECK(run_until(l, &io_calls, 1, 5.)); /* no ev_loop_fork call */
    CHILD_CHECK(nforks == 1);
    CHILD_CHECK(!strncmp(trace, "fork prepare ", 13)); /* before prepare of that iteration */
    CHILD_CHECK(io_bytes == 1);
    ev_run(l, EVRUN_NOWAIT);
    CHILD_CHECK(nforks == 1); /* once per fork */
    put_byte(p[1]);
    CHILD_CHECK(run_until(l, &io_calls, 2, 5.));
    _exit(0);
  }
  assert_child_ok(pid);

  /* The parent noticed no fork and its loop works. */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(nforks, 0);
  assert_int_equal(io_calls, 0);
  put_byte(p[1]);
  assert_true(run_until(l, &io_calls, 1, 5.));
  assert_int_equal(io_bytes, 1);
  assert_int_equal(nforks, 0);

  ev_io_stop(l, &iw);
  ev_prepare_stop(l, &pw);
  ev_fork_stop(l, &fw);
  ev_loop_destroy(l);
  close2(p);
}

static void forkcheck_runs_fork_watchers_in_the_child_automatically(void **state)
{
  forkcheck_in_a_child_made_by(FORK_GLIBC);
}

static void forkcheck_notices_a_child_made_by_the_fork_syscall(void **state)
{
  forkcheck_in_a_child_made_by(FORK_SYSCALL);
}

static void forkcheck_notices_a_child_made_by_underscore_fork(void **state)
{
  forkcheck_in_a_child_made_by(FORK_UNDERSCORE);
}

static void forkcheck_notices_a_child_made_by_clone_without_clone_vm(void **state)
{
  forkcheck_in_a_child_made_by(FORK_CLONE);
}

static void without_forkcheck_or_loop_fork_no_fork_watcher_runs(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_fork fw;
  ev_timer tw;
  ev_fork_init(&fw, fork_cb);
  ev_fork_start(l, &fw);
  ev_run(l, EVRUN_NOWAIT);
  nforks = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    ev_timer_init(&tw, timeout_cb, 0., 0.);
    ev_timer_start(l, &tw);
    for (int i = 0; i < 3; i++)
      ev_run(l, EVRUN_NOWAIT);
    CHILD_CHECK(!ev_is_active(&tw)); /* the loop ran: the timer expired */
    CHILD_CHECK(nforks == 0);
    _exit(0);
  }
  assert_child_ok(pid);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(nforks, 0);
  ev_fork_stop(l, &fw);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_loop_fork                                                                               */

static void check_loop_fork_order(struct ev_loop *l)
{
  ev_fork fw;
  ev_prepare pw;
  ev_check cw;
  ev_fork_init(&fw, fork_cb);
  ev_prepare_init(&pw, prepare_cb);
  ev_check_init(&cw, check_cb);
  ev_fork_start(l, &fw);
  ev_prepare_start(l, &pw);
  ev_check_start(l, &cw);
  ev_run(l, EVRUN_NOWAIT);
  nforks = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    trace_reset();
    ev_loop_fork(l);
    CHILD_CHECK(nforks == 0); /* ev_loop_fork only flags the loop */
    ev_run(l, EVRUN_NOWAIT);
    CHILD_CHECK(!strcmp(trace, "fork prepare check "));
    trace_reset();
    ev_run(l, EVRUN_NOWAIT);
    CHILD_CHECK(!strcmp(trace, "prepare check "));
    _exit(0);
  }
  assert_child_ok(pid);

  trace_reset();
  ev_run(l, EVRUN_NOWAIT);
  assert_string_equal(trace, "prepare check ");
  assert_int_equal(nforks, 0);
  ev_fork_stop(l, &fw);
  ev_prepare_stop(l, &pw);
  ev_check_stop(l, &cw);
}

static void loop_fork_on_a_new_loop_runs_fork_watchers_before_prepare(void **state)
{
  struct ev_loop *l = test_loop(0);
  check_loop_fork_order(l);
  ev_loop_destroy(l);
}

static void loop_fork_on_the_default_loop_runs_fork_watchers_before_prepare(void **state)
{
  struct ev_loop *l = ev_default_loop(test_backend() | EVFLAG_NOENV);
  assert_non_null(l);
  assert_int_equal(ev_backend(l), test_backend());
  check_loop_fork_order(l);
  ev_loop_destroy(l);
}

static void parent_is_unaffected_by_the_child_using_the_loop(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2], q[2];
  make_pipe(p);
  make_pipe(q);
  ev_io iw;
  ev_io_init(&iw, read_cb, p[0], EV_READ);
  ev_io_start(l, &iw);
  ev_run(l, EVRUN_NOWAIT);
  io_calls = io_bytes = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    /* The child drops the inherited watcher and watches a pipe of its own. */
    ev_loop_fork(l);
    ev_run(l, EVRUN_NOWAIT);
    ev_io_stop(l, &iw);
    ev_io cw;
    ev_io_init(&cw, read_cb, q[0], EV_READ);
    ev_io_start(l, &cw);
    put_byte(q[1]);
    CHILD_CHECK(run_until(l, &io_calls, 1, 5.));
    ev_io_stop(l, &cw);
    ev_run(l, EVRUN_NOWAIT);
    ev_loop_destroy(l);
    _exit(0);
  }
  assert_child_ok(pid);

  /* The parent's registration of p[0] survived all that. */
  put_byte(p[1]);
  assert_true(run_until(l, &io_calls, 1, 5.));
  assert_int_equal(io_bytes, 1);
  ev_io_stop(l, &iw);
  ev_loop_destroy(l);
  close2(p);
  close2(q);
}

/* ------------------------------------------------------------------------------------------ */
/* async and signals in the child                                                             */

struct sender {
  int ms;
  ev_async *async; /* ev_async_send when set */
  int signum;      /* else kill(getpid(), signum) */
  struct ev_loop *loop;
};

static void *sender_thread(void *arg)
{
  struct sender *s = arg;
  sleep_ms(s->ms);
  if (s->async)
    ev_async_send(s->loop, s->async);
  else
    kill(getpid(), s->signum);
  return NULL;
}

static int async_calls;
static void async_cb(struct ev_loop *l, ev_async *w, int rev)
{
  async_calls++;
  ev_async_stop(l, w);
}

static int sig_calls;
static void signal_cb(struct ev_loop *l, ev_signal *w, int rev)
{
  sig_calls++;
  ev_signal_stop(l, w);
}

/* The eventfd-id values (from /proc/self/fdinfo, kernels >= 6.8) of all open eventfds;
 * returns the count or -1 when the kernel does not show ids. */
static int eventfd_ids(long *ids, int max)
{
  int n = 0, shown = 1;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d));) {
    char path[300], target[64];
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0)
      continue;
    target[len] = 0;
    if (!strstr(target, "[eventfd]"))
      continue;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
    FILE *f = fopen(path, "r");
    long id = -1;
    char line[128];
    while (f && fgets(line, sizeof line, f))
      if (sscanf(line, "eventfd-id: %ld", &id) == 1)
        break;
    if (f)
      fclose(f);
    if (id < 0)
      shown = 0;
    else if (n < max)
      ids[n++] = id;
  }
  closedir(d);
  return shown ? n : -1;
}

static void async_works_in_the_child_after_loop_fork(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_async aw;
  ev_async_init(&aw, async_cb);
  ev_async_start(l, &aw);
  ev_run(l, EVRUN_NOWAIT);
  long parent_ids[16];
  int nparent = eventfd_ids(parent_ids, 16);
  async_calls = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    ev_loop_fork(l);
    ev_run(l, EVRUN_NOWAIT);
    if (nparent > 0) {
      /* The wake-up eventfd is the child's own now. */
      long ids[16];
      int n = eventfd_ids(ids, 16), fresh = 0;
      for (int i = 0; i < n; i++) {
        int inherited = 0;
        for (int k = 0; k < nparent; k++)
          inherited |= ids[i] == parent_ids[k];
        fresh += !inherited;
      }
      CHILD_CHECK(fresh >= 1);
    }
    struct sender s = { .ms = 100, .async = &aw, .loop = l };
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, sender_thread, &s) == 0);
    ev_timer guard;
    ev_timer_init(&guard, timeout_cb, 5., 0.);
    ev_timer_start(l, &guard);
    ev_unref(l);
    timed_out = 0;
    ev_run(l, 0); /* blocked until the async arrives; its callback stops it */
    pthread_join(t, NULL);
    CHILD_CHECK(!timed_out);
    CHILD_CHECK(async_calls == 1);
    _exit(0);
  }
  if (nparent < 0)
    printf("# kernel shows no eventfd-id: eventfd recreation not checked\n");
  assert_child_ok(pid);

  /* The parent's async still works. */
  ev_async_send(l, &aw);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(async_calls, 1);
  ev_loop_destroy(l);
}

static void signal_works_in_the_child_after_loop_fork(void **state)
{
  signal(SIGUSR1, SIG_DFL);
  struct ev_loop *l = test_loop(0);
  ev_signal sw;
  ev_signal_init(&sw, signal_cb, SIGUSR1);
  ev_signal_start(l, &sw);
  ev_run(l, EVRUN_NOWAIT);
  sig_calls = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    ev_loop_fork(l);
    struct sender s = { .ms = 100, .signum = SIGUSR1 };
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, sender_thread, &s) == 0);
    ev_timer guard;
    ev_timer_init(&guard, timeout_cb, 5., 0.);
    ev_timer_start(l, &guard);
    ev_unref(l);
    timed_out = 0;
    ev_run(l, 0); /* blocked until the signal arrives; its callback stops the watcher */
    pthread_join(t, NULL);
    CHILD_CHECK(!timed_out);
    CHILD_CHECK(sig_calls == 1);
    _exit(0);
  }
  assert_child_ok(pid);

  assert_int_equal(sig_calls, 0);
  raise(SIGUSR1);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(sig_calls, 1);
  assert_false(ev_is_active(&sw));
  ev_loop_destroy(l);
  signal(SIGUSR1, SIG_DFL);
}

static int stat_calls;
static void stat_cb(struct ev_loop *l, ev_stat *w, int rev) { stat_calls++; }

static void stat_works_in_the_child_after_loop_fork(void **state)
{
  char dir[] = "/tmp/evring-fork.XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/f", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  close(fd);
  struct ev_loop *l = test_loop(0);
  ev_stat sw;
  ev_stat_init(&sw, stat_cb, path, 0.5);
  ev_stat_start(l, &sw);
  ev_run(l, EVRUN_NOWAIT);
  stat_calls = 0;

  pid_t pid = fork_child();
  if (pid == 0) {
    ev_loop_fork(l);
    ev_run(l, EVRUN_NOWAIT);
    int f = open(path, O_WRONLY | O_APPEND);
    CHILD_CHECK(f >= 0 && write(f, "x", 1) == 1);
    close(f);
    CHILD_CHECK(run_until(l, &stat_calls, 1, 5.));
    CHILD_CHECK(sw.attr.st_size == 1);
    _exit(0);
  }
  assert_child_ok(pid);

  /* The parent sees the change as well, on its own. */
  assert_true(run_until(l, &stat_calls, 1, 5.));
  assert_int_equal(sw.attr.st_size, 1);
  ev_stat_stop(l, &sw);
  ev_loop_destroy(l);
  unlink(path);
  rmdir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* many children                                                                              */

static void ten_sequential_children_use_the_inherited_loop_after_loop_fork(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  ev_io iw;
  ev_fork fw;
  ev_io_init(&iw, read_cb, p[0], EV_READ);
  ev_fork_init(&fw, fork_cb);
  ev_io_start(l, &iw);
  ev_fork_start(l, &fw);
  ev_run(l, EVRUN_NOWAIT);
  nforks = io_calls = io_bytes = 0;

  for (int i = 0; i < 10; i++) {
    pid_t pid = fork_child();
    if (pid == 0) {
      ev_loop_fork(l);
      put_byte(p[1]);
      CHILD_CHECK(run_until(l, &io_calls, 1, 5.));
      CHILD_CHECK(io_bytes == 1);
      CHILD_CHECK(nforks == 1);
      _exit(0);
    }
    assert_child_ok(pid);
    /* A child that changed the parent's kernel state would show up here. */
    ev_run(l, EVRUN_NOWAIT);
    assert_int_equal(io_calls, 0);
  }

  assert_int_equal(nforks, 0);
  put_byte(p[1]);
  assert_true(run_until(l, &io_calls, 1, 5.));
  assert_int_equal(io_bytes, 1);
  ev_io_stop(l, &iw);
  ev_fork_stop(l, &fw);
  ev_loop_destroy(l);
  close2(p);
}

static int ticks;
static void tick_cb(struct ev_loop *l, ev_timer *w, int rev) { ticks++; }

static int child_timer_fired;
static int report_fd;
static void child_timer_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  child_timer_fired++;
  put_byte(report_fd);
}

static void parent_loop_keeps_working_while_children_run_theirs(void **state)
{
  struct ev_loop *l = test_loop(0);
  int r[2];
  make_pipe(r);
  ev_io iw;
  ev_timer tick;
  ev_io_init(&iw, read_cb, r[0], EV_READ);
  ev_timer_init(&tick, tick_cb, 0.02, 0.02);
  ev_io_start(l, &iw);
  ev_timer_start(l, &tick);
  ev_run(l, EVRUN_NOWAIT);
  io_calls = io_bytes = ticks = 0;

  enum { N = 3 };
  pid_t pids[N];
  for (int i = 0; i < N; i++) {
    pids[i] = fork_child();
    if (pids[i] == 0) {
      /* Keep the parent's watchers out of this process, run a loop of its own. */
      ev_loop_fork(l);
      ev_io_stop(l, &iw);
      ev_timer_stop(l, &tick);
      report_fd = r[1];
      child_timer_fired = 0;
      ev_timer ct;
      ev_timer_init(&ct, child_timer_cb, 0.1 + 0.05 * i, 0.);
      ev_timer_start(l, &ct);
      ev_run(l, 0); /* returns when the timer has fired */
      CHILD_CHECK(child_timer_fired == 1);
      CHILD_CHECK(io_bytes == 0);
      _exit(0);
    }
  }
  /* Meanwhile the parent's loop runs: ticks and the children's reports. */
  assert_true(run_until(l, &io_bytes, N, 5.));
  assert_true(ticks >= 3);
  for (int i = 0; i < N; i++)
    assert_child_ok(pids[i]);
  int before = ticks;
  double t0 = ev_now(l);
  while (ev_now(l) - t0 < 0.1)
    ev_run(l, EVRUN_ONCE);
  assert_true(ticks > before);
  ev_io_stop(l, &iw);
  ev_timer_stop(l, &tick);
  ev_loop_destroy(l);
  close2(r);
}

/* EVFLAG_FORKCHECK costs no system call per iteration: in a marked run of iterations the
 * traced program makes no getpid() call, neither before a fork nor in the child (made by the
 * fork system call) once its loop has noticed the fork. The program re-runs itself under
 * strace. */
#define MARK_PARENT_BEGIN "evring-fork-mark-parent-begin"
#define MARK_PARENT_END "evring-fork-mark-parent-end"
#define MARK_CHILD_BEGIN "evring-fork-mark-child-begin"
#define MARK_CHILD_END "evring-fork-mark-child-end"
#define TRACED_ITERATIONS 200

static void mark(const char *s)
{
  if (write(-1, s, strlen(s)) != -1)
    _exit(4);
}

static int forkcheck_traced_program(void)
{
  struct ev_loop *l = ev_loop_new(test_backend() | EVFLAG_NOENV | EVFLAG_FORKCHECK);
  if (!l)
    return 3;
  ev_fork fw;
  ev_fork_init(&fw, fork_cb);
  ev_fork_start(l, &fw);
  test_run_nowait(l, 10);
  mark(MARK_PARENT_BEGIN);
  test_run_nowait(l, TRACED_ITERATIONS);
  mark(MARK_PARENT_END);
  pid_t pid = (pid_t)syscall(SYS_fork);
  if (pid < 0)
    return 3;
  if (pid == 0) {
    test_run_nowait(l, 10); /* notices the fork and renews the kernel state */
    mark(MARK_CHILD_BEGIN);
    test_run_nowait(l, TRACED_ITERATIONS);
    mark(MARK_CHILD_END);
    _exit(nforks == 1 ? 0 : 6);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
    return 7;
  return nforks == 0 ? 0 : 8;
}

static void forkcheck_costs_no_system_call_per_iteration(void **state)
{
  fflush(NULL);
  if (system("strace -qq -o /dev/null true >/dev/null 2>&1") != 0) {
    printf("# skipped: strace not installed or cannot trace here\n");
    return;
  }
  char out[64];
  const char *const env[] = { "EVRING_FORK_TRACED_PROGRAM", "1", NULL };
  const char *const flags[] = { "-f", "-e", "trace=getpid,write", NULL };
  int status = test_trace_self(out, sizeof out, env, flags);

  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char line[4096];
  int region = 0, marks = 0, in_parent = 0, in_child = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, MARK_PARENT_BEGIN)) { region = 1; marks++; continue; }
    if (strstr(line, MARK_CHILD_BEGIN)) { region = 2; marks++; continue; }
    if (strstr(line, MARK_PARENT_END) || strstr(line, MARK_CHILD_END)) { region = 0; marks++; continue; }
    if (!strstr(line, "getpid("))
      continue;
    if (region == 1)
      in_parent++;
    if (region == 2)
      in_child++;
  }
  fclose(f);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || marks != 4)
    fail_msg("traced program: status 0x%x, %d of 4 marks, trace kept in %s", status, marks, out);
  unlink(out);
  printf("# getpid calls: %d in %d iterations, %d in %d iterations of the child\n", in_parent,
         TRACED_ITERATIONS, in_child, TRACED_ITERATIONS);
  assert_int_equal(in_parent, 0);
  assert_int_equal(in_child, 0);
}

int main(void)
{
  if (getenv("EVRING_FORK_TRACED_PROGRAM"))
    _exit(forkcheck_traced_program()); /* no exit handlers: LeakSanitizer refuses ptrace */

  const struct CMUnitTest tests[] = {
    cmocka_unit_test(forkcheck_runs_fork_watchers_in_the_child_automatically),
    cmocka_unit_test(forkcheck_notices_a_child_made_by_the_fork_syscall),
    cmocka_unit_test(forkcheck_notices_a_child_made_by_underscore_fork),
    cmocka_unit_test(forkcheck_notices_a_child_made_by_clone_without_clone_vm),
    cmocka_unit_test(forkcheck_costs_no_system_call_per_iteration),
    cmocka_unit_test(without_forkcheck_or_loop_fork_no_fork_watcher_runs),
    cmocka_unit_test(loop_fork_on_a_new_loop_runs_fork_watchers_before_prepare),
    cmocka_unit_test(loop_fork_on_the_default_loop_runs_fork_watchers_before_prepare),
    cmocka_unit_test(parent_is_unaffected_by_the_child_using_the_loop),
    cmocka_unit_test(async_works_in_the_child_after_loop_fork),
    cmocka_unit_test(signal_works_in_the_child_after_loop_fork),
    cmocka_unit_test(stat_works_in_the_child_after_loop_fork),
    cmocka_unit_test(ten_sequential_children_use_the_inherited_loop_after_loop_fork),
    cmocka_unit_test(parent_loop_keeps_working_while_children_run_theirs),
  };
  return TEST_MAIN("fork", tests);
}
