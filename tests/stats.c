/* stats.c - the loop's statistics (evring_stats_get, EVRING_STATS): the counters say what
 * happened, system calls as strace sees them, and the printed blocks appear where and when
 * the environment asks, once per loop and process. */
#include "test.h"

#include <evring.h>
#include <sys/syscall.h>

static struct evring_stats stats_of(struct ev_loop *loop)
{
  struct evring_stats st;
  assert_int_equal(evring_stats_get(loop, &st, sizeof st), (int)sizeof st);
  return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Counters */

static void nowait_runs_count_one_iteration_each(void **state)
{
  struct ev_loop *loop = test_loop(0);
  struct evring_stats a = stats_of(loop);
  test_run_nowait(loop, 25);
  struct evring_stats b = stats_of(loop);
  assert_int_equal(b.iterations - a.iterations, 25);
  assert_int_equal(b.backend, test_backend());
  /* one wait per iteration; io_uring's per-fd poll mode skips the enter of an iteration
   * that has nothing to submit and nothing to wait for */
  if (test_backend() == EVBACKEND_IOURING)
    assert_true(b.syscalls_wait - a.syscalls_wait <= 25);
  else
    assert_int_equal(b.syscalls_wait - a.syscalls_wait, 25);
  ev_loop_destroy(loop);
}

static int calls;

static void count_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  char buf[16];
  calls++;
  if (revents & EV_READ)
    assert_true(recv(w->fd, buf, sizeof buf, 0) > 0);
}

static void count_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  calls++;
}

static void count_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
  calls++;
  ev_idle_stop(loop, w);
}

static void callbacks_count_every_callback_invoked(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  ev_io io;
  ev_io_init(&io, count_io_cb, sv[0], EV_READ);
  ev_io_start(loop, &io);
  ev_timer t;
  ev_timer_init(&t, count_timer_cb, 0., 0.);
  ev_idle idle;
  ev_idle_init(&idle, count_idle_cb);

  calls = 0;
  struct evring_stats a = stats_of(loop);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(send(sv[1], "x", 1, 0), 1);
    ev_timer_start(loop, &t); /* due at once */
    if (i % 3 == 0)
      ev_idle_start(loop, &idle);
    ev_run(loop, EVRUN_NOWAIT);
  }
  ev_run(loop, EVRUN_NOWAIT); /* nothing else pending: the idle watcher's turn */
  ev_feed_event(loop, &t, EV_CUSTOM);
  ev_invoke_pending(loop);
  ev_invoke(loop, &t, EV_CUSTOM);
  struct evring_stats b = stats_of(loop);
  printf("# %d callbacks invoked, counted %llu\n", calls,
         (unsigned long long)(b.callbacks - a.callbacks));
  assert_int_equal(calls, 10 + 10 + 1 + 2); /* io, timer, idle, fed and invoked */
  assert_int_equal(b.callbacks - a.callbacks, (uint64_t)calls);

  ev_io_stop(loop, &io);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* Each change of an fd's watched events is one change handed to the backend; epoll makes a
 * system call for it, io_uring queues a request, select and poll only change their arrays. */
static void fd_changes_are_counted_where_they_go(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  ev_io io;
  ev_io_init(&io, count_io_cb, sv[0], EV_READ);
  struct evring_stats a = stats_of(loop);
  for (int i = 0; i < 6; i++) {
    ev_io_stop(loop, &io);
    ev_io_set(&io, sv[0], i % 2 ? EV_READ : EV_WRITE);
    ev_io_start(loop, &io);
    ev_run(loop, EVRUN_NOWAIT);
  }
  struct evring_stats b = stats_of(loop);
  uint64_t changes = b.fd_changes - a.fd_changes;
  uint64_t ring = b.fd_changes_ring - a.fd_changes_ring;
  uint64_t sys = b.fd_changes_syscall - a.fd_changes_syscall;
  printf("# %s: %llu changes, %llu ring requests, %llu epoll_ctl\n", test_backend_name(),
         (unsigned long long)changes, (unsigned long long)ring, (unsigned long long)sys);
  assert_int_equal(changes, 6);
  switch (test_backend()) {
  case EVBACKEND_EPOLL:
    assert_true(sys >= 6);
    assert_int_equal(ring, 0);
    assert_int_equal(b.syscalls_fd - a.syscalls_fd, sys);
    break;
  case EVBACKEND_IOURING:
    assert_true(ring >= 6);
    assert_int_equal(sys, 0);
    break;
  default:
    assert_int_equal(ring, 0);
    assert_int_equal(sys, 0);
  }
  ev_io_stop(loop, &io);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

static void stats_get_fills_only_the_size_given(void **state)
{
  struct ev_loop *loop = test_loop(0);
  test_run_nowait(loop, 3);
  assert_int_equal(evring_stats_get(NULL, NULL, 0), -EINVAL);

  /* an older, shorter struct: its fields, nothing beyond */
  unsigned char buf[sizeof(struct evring_stats) + 64];
  memset(buf, 0xa5, sizeof buf);
  size_t old = offsetof(struct evring_stats, callbacks);
  assert_int_equal(evring_stats_get(loop, (struct evring_stats *)buf, old), (int)old);
  assert_int_equal(((struct evring_stats *)buf)->iterations, 3);
  for (size_t i = old; i < sizeof buf; i++)
    assert_int_equal(buf[i], 0xa5);

  /* a newer, longer struct: zeroes where this library has nothing */
  assert_int_equal(evring_stats_get(loop, (struct evring_stats *)buf, sizeof buf),
                   (int)sizeof(struct evring_stats));
  for (size_t i = sizeof(struct evring_stats); i < sizeof buf; i++)
    assert_int_equal(buf[i], 0);
  ev_loop_destroy(loop);
}

/* A loop that asked for io_uring or the backend under test, where io_uring is masked, runs on
 * the backend under test and says why. */
static void refused_backend_is_reported_as_fallback(void **state)
{
  if (test_backend() == EVBACKEND_IOURING) {
    printf("# not on io_uring: the backend under test is the one refused\n");
    return;
  }
  const char *mask = getenv("EVRING_IOURING_DISABLE");
  char *saved = mask ? strdup(mask) : NULL;
  setenv("EVRING_IOURING_DISABLE", "iouring", 1);
  struct ev_loop *loop = ev_loop_new(EVBACKEND_IOURING | test_backend() | EVFLAG_NOENV);
  if (saved)
    setenv("EVRING_IOURING_DISABLE", saved, 1);
  else
    unsetenv("EVRING_IOURING_DISABLE");
  free(saved);
  assert_non_null(loop);
  assert_int_equal(ev_backend(loop), test_backend());
  struct evring_stats st = stats_of(loop);
  assert_int_equal(st.fallbacks, EVRING_FALLBACK_BACKEND);
  assert_int_equal(st.backends_refused, EVBACKEND_IOURING);
  assert_int_equal(st.fallback_errno[0], ENOSYS);
  ev_loop_destroy(loop);

  loop = test_loop(0);
  assert_int_equal(stats_of(loop).fallbacks, 0);
  ev_loop_destroy(loop);
}

/* io_uring's per-fd poll mode wants a bigger ring for 100 fds; the kernel refuses it. */
static void refused_growth_body(void *arg)
{
  char mask[512];
  const char *outer = getenv("EVRING_IOURING_DISABLE"); /* tests/iouring-masks.sh */
  snprintf(mask, sizeof mask, "%s%sepoll_wait", outer ? outer : "", outer ? "," : "");
  setenv("EVRING_IOURING_DISABLE", mask, 1);
  struct ev_loop *loop = ev_loop_new(EVBACKEND_IOURING | EVFLAG_NOENV);
  CHILD_CHECK(loop);
  CHILD_CHECK(stats_of(loop).iouring_mode == EVRING_STATS_RING_POLL);
  CHILD_CHECK(stats_of(loop).sq_entries == 128);
  CHILD_CHECK(test_forbid_syscall(SYS_io_uring_setup, ENOMEM) == 0);
  static ev_io io[100];
  static int p[100][2];
  for (int i = 0; i < 100; i++) {
    CHILD_CHECK(pipe2(p[i], O_NONBLOCK | O_CLOEXEC) == 0);
    ev_io_init(&io[i], count_io_cb, p[i][0], EV_READ);
    ev_io_start(loop, &io[i]);
  }
  ev_run(loop, EVRUN_NOWAIT);
  struct evring_stats st = stats_of(loop);
  CHILD_CHECK(st.fallbacks & EVRING_FALLBACK_NO_GROWTH);
  CHILD_CHECK(st.fallback_errno[4] == ENOMEM);
  CHILD_CHECK(st.ring_growth_refused == 1);
  CHILD_CHECK(st.sq_entries == 128);
  CHILD_CHECK(st.backend == EVBACKEND_IOURING);
}

static void refused_ring_growth_is_reported(void **state)
{
  if (test_backend() != EVBACKEND_IOURING) {
    printf("# io_uring only\n");
    return;
  }
  char how[64];
  int status = test_run_child(refused_growth_body, NULL, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child %s", how);
}

/* evring.h operations: each start and each final result is counted, and each callback. */
static int op_calls;

static void op_cb(struct ev_loop *loop, evring_op *op, int revents)
{
  op_calls++;
  assert_int_equal(op->res, 5);
}

static void operations_count_starts_results_and_callbacks(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2];
  test_sockpair(sv);
  char in[5];
  evring_op send_op, read_op;
  evring_op_init(&send_op, op_cb);
  evring_op_init(&read_op, op_cb);
  struct evring_stats a = stats_of(loop);
  evring_send(loop, &send_op, sv[1], "hello", 5, 0);
  evring_read(loop, &read_op, sv[0], in, sizeof in, -1);
  op_calls = 0;
  ev_run(loop, 0); /* until both have ended */
  struct evring_stats b = stats_of(loop);
  assert_int_equal(op_calls, 2);
  assert_int_equal(b.ops_started - a.ops_started, 2);
  assert_int_equal(b.ops_completed - a.ops_completed, 2);
  /* on readiness, the read's own io watcher calls back too */
  assert_true(b.callbacks - a.callbacks >= 2);
  ev_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* System calls, as strace counts them. The traced process (this program, run again with
 * EVRING_STATS_TRACED set) runs a loop between two getppid() markers and writes its counters
 * for that stretch to a file; its own I/O uses send/recv, so every read, write, wait and
 * registration in between is the loop's. */

static void traced_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  char buf[64];
  if (revents & EV_READ)
    (void)!recv(w->fd, buf, sizeof buf, 0);
}

static void traced_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
}

static void traced_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Called right before the backend waits, when the loop has announced the wait: a send now
 * writes the eventfd (and the wait then reads it), as a send from another thread would. */
static ev_async *send_in_release;

static void traced_release_cb(struct ev_loop *loop)
{
  if (send_in_release)
    ev_async_send(loop, send_in_release);
  send_in_release = NULL;
}

static void traced_acquire_cb(struct ev_loop *loop)
{
}

static int traced_workload(const char *out)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  if (!loop)
    return 3;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return 3;
  ev_io io;
  ev_io_init(&io, traced_io_cb, sv[0], EV_READ);
  ev_io_start(loop, &io);
  ev_async as;
  ev_async_init(&as, traced_async_cb);
  ev_async_start(loop, &as);
  ev_timer t;
  ev_timer_init(&t, traced_timer_cb, 0.001, 0.);
  ev_set_loop_release_cb(loop, traced_release_cb, traced_acquire_cb);
  for (int i = 0; i < 3; i++) /* set-up done: rings enabled, registrations made */
    ev_run(loop, EVRUN_NOWAIT);

  struct evring_stats a, b;
  syscall(SYS_getppid);
  evring_stats_get(loop, &a, sizeof a);
  for (int i = 0; i < 40; i++) {
    if (i % 2 == 0)
      (void)!send(sv[1], "x", 1, 0);
    if (i % 5 == 0)
      send_in_release = &as;
    if (i % 8 == 0) { /* an fd change */
      ev_io_stop(loop, &io);
      ev_io_set(&io, sv[0], i % 16 ? EV_READ : EV_READ | EV_WRITE);
      ev_io_start(loop, &io);
    }
    if (i % 10 == 0) { /* a blocking wait that a timer ends */
      ev_timer_start(loop, &t);
      ev_run(loop, EVRUN_ONCE);
    } else
      ev_run(loop, EVRUN_NOWAIT);
  }
  evring_stats_get(loop, &b, sizeof b);
  syscall(SYS_getppid);

  FILE *f = fopen(out, "w");
  if (!f)
    return 3;
  fprintf(f, "wait=%llu fd=%llu ring=%llu wakeup=%llu other=%llu total=%llu\n",
          (unsigned long long)(b.syscalls_wait - a.syscalls_wait),
          (unsigned long long)(b.syscalls_fd - a.syscalls_fd),
          (unsigned long long)(b.syscalls_ring - a.syscalls_ring),
          (unsigned long long)(b.syscalls_wakeup - a.syscalls_wakeup),
          (unsigned long long)(b.syscalls_other - a.syscalls_other),
          (unsigned long long)(b.syscalls - a.syscalls));
  fclose(f);
  ev_loop_destroy(loop);
  return 0;
}

static int have_strace(void)
{
  fflush(NULL);
  return system("strace -qq -o /dev/null true >/dev/null 2>&1") == 0;
}

/* Number of trace lines between the markers whose system call is one of names (|-separated). */
static unsigned long traced_count(const char *trace, const char *names, unsigned long *all)
{
  FILE *f = fopen(trace, "r");
  assert_non_null(f);
  char line[4096];
  int inside = 0;
  unsigned long n = 0;
  *all = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "getppid(", 8)) {
      if (inside)
        break;
      inside = 1;
      continue;
    }
    if (!inside)
      continue;
    char name[64];
    if (sscanf(line, "%63[a-z0-9_](", name) != 1)
      continue;
    if (!strcmp(name, "sendto") || !strcmp(name, "recvfrom"))
      continue; /* the workload's own */
    if (!strcmp(name, "mmap") || !strcmp(name, "munmap") || !strcmp(name, "madvise") ||
        !strcmp(name, "mprotect") || !strcmp(name, "brk"))
      continue; /* the memory allocator's (a sanitizer's, say) */
    (*all)++;
    char want[256];
    snprintf(want, sizeof want, "|%s|", names);
    char key[70];
    snprintf(key, sizeof key, "|%s|", name);
    if (strstr(want, key))
      n++;
  }
  fclose(f);
  return n;
}

static void syscalls_counted_match_strace(void **state)
{
  if (!have_strace()) {
    printf("# strace not available: nothing to compare with\n");
    return;
  }
  char trace[64], out[64] = "/tmp/evring-stats-out-XXXXXX";
  int fd = mkstemp(out);
  assert_true(fd >= 0);
  close(fd);
  /* LeakSanitizer (make SAN=address) cannot work under ptrace: not in the traced run */
  const char *env[] = {"EVRING_STATS_TRACED", out, "ASAN_OPTIONS", "detect_leaks=0", NULL};
  int status = test_trace_self(trace, sizeof trace, env, NULL);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  unsigned long wait, fdc, ring, wakeup, other, total;
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, "wait=%lu fd=%lu ring=%lu wakeup=%lu other=%lu total=%lu", &wait,
                          &fdc, &ring, &wakeup, &other, &total),
                   6);
  fclose(f);
  printf("# counted: wait %lu fd %lu ring %lu wakeup %lu other %lu total %lu\n", wait, fdc, ring,
         wakeup, other, total);

  unsigned long all, n_wait, n_fd = 0;
  unsigned long n_wakeup = traced_count(trace, "read|write", &all);
  switch (test_backend()) {
  case EVBACKEND_EPOLL:
    n_wait = traced_count(trace, "epoll_wait|epoll_pwait", &all);
    n_fd = traced_count(trace, "epoll_ctl", &all);
    break;
  case EVBACKEND_POLL:
    n_wait = traced_count(trace, "poll|ppoll", &all);
    break;
  case EVBACKEND_SELECT:
    n_wait = traced_count(trace, "select|pselect6", &all);
    n_fd = traced_count(trace, "poll|ppoll", &all); /* the check of an fd (re)started */
    break;
  default:
    /* io_uring: waits (io_uring_enter, or epoll_wait in ring epoll mode) and the ring's
     * other calls are told apart by their place in the loop, not by their name */
    n_wait = traced_count(trace, "io_uring_enter|io_uring_register|epoll_wait|epoll_pwait", &all);
    wait += ring;
    break;
  }
  printf("# strace: wait %lu fd %lu wakeup %lu, %lu calls in all besides send/recv/mmap\n",
         n_wait, n_fd, n_wakeup, all);
  unlink(trace);
  unlink(out);
  assert_int_equal(wait, n_wait);
  assert_int_equal(fdc, n_fd);
  assert_int_equal(wakeup, n_wakeup);
  assert_int_equal(other, 0);
  assert_int_equal(total, all);
  assert_true(n_wait >= 40);
  assert_true(n_wakeup >= 8); /* 8 async sends: a write and a read each */
}

/* ---------------------------------------------------------------------------------------- */
/* EVRING_STATS: the printed blocks */

static char stats_path[64];

static void make_stats_path(void)
{
  snprintf(stats_path, sizeof stats_path, "/tmp/evring-stats-XXXXXX");
  int fd = mkstemp(stats_path);
  assert_true(fd >= 0);
  close(fd);
}

static char *slurp(const char *path)
{
  static char buf[16384];
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return buf;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* The block of `when` (destroy/exit) of the default loop or not, or NULL. */
static const char *find_block(const char *text, const char *when, int dflt)
{
  for (const char *p = strstr(text, "evring-stats:"); p; p = strstr(p + 1, "evring-stats:")) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    char head[256];
    snprintf(head, sizeof head, "%.*s", (int)len, p);
    char at[32];
    snprintf(at, sizeof at, " at=%s", when);
    if (strstr(head, at) && !!strstr(head, " default=1") == dflt)
      return p;
  }
  return NULL;
}

static int count_blocks(const char *text)
{
  int n = 0;
  for (const char *p = strstr(text, "evring-stats:"); p; p = strstr(p + 1, "evring-stats:"))
    n++;
  return n;
}

/* The value of " name=" within the block starting at block. */
static unsigned long block_field(const char *block, const char *name)
{
  char one[4096];
  const char *end = strstr(block + 1, "evring-stats:");
  int len = end ? (int)(end - block) : (int)strlen(block);
  snprintf(one, sizeof one, "%.*s", len, block);
  return test_stat_field(one, name);
}

static void exit_from_callback_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  exit(0); /* from inside ev_run: the destructor prints the default loop */
}

static void blocks_body(void *arg)
{
  setenv("EVRING_STATS", stats_path, 1);
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop);
  test_run_nowait(loop, 3);
  ev_loop_destroy(loop);

  struct ev_loop *dflt = ev_default_loop(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(dflt && ev_backend(dflt) == test_backend());
  test_run_nowait(dflt, 6);
  ev_timer t;
  ev_timer_init(&t, exit_from_callback_cb, 0., 0.);
  ev_timer_start(dflt, &t);
  ev_run(dflt, 0); /* iteration 7 calls exit() */
  _exit(2);
}

static void stats_file_gets_a_block_at_destroy_and_at_exit(void **state)
{
  make_stats_path();
  int status = test_run_child(blocks_body, NULL, 2);
  const char *text = slurp(stats_path);
  unlink(stats_path);
  printf("%s", text);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(count_blocks(text), 2);
  const char *destroyed = find_block(text, "destroy", 0);
  const char *at_exit = find_block(text, "exit", 1);
  assert_non_null(destroyed);
  assert_non_null(at_exit);
  assert_int_equal(block_field(destroyed, "iterations"), 3);
  assert_int_equal(block_field(at_exit, "iterations"), 7);
  assert_int_equal(block_field(at_exit, "callbacks"), 1);
  char backend[32];
  snprintf(backend, sizeof backend, "backend=%s",
           test_backend() == EVBACKEND_IOURING ? "io_uring" : test_backend_name());
  assert_non_null(strstr(destroyed, backend));
  assert_non_null(strstr(at_exit, backend));
}

static void quiet_body(void *arg)
{
  const char *value = arg;
  if (value)
    setenv("EVRING_STATS", value, 1);
  else
    unsetenv("EVRING_STATS");
  unsetenv("EVRING_IOURING_STATS");
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop);
  test_run_nowait(loop, 3);
  ev_loop_destroy(loop);
  struct ev_loop *dflt = ev_default_loop(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(dflt);
  test_run_nowait(dflt, 3);
  exit(0);
}

static void nothing_printed_when_unset(void **state)
{
  const char *values[] = {NULL, "", "0"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    make_stats_path();
    int fd = open(stats_path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    int status = test_run_child(quiet_body, (void *)values[i], fd);
    close(fd);
    const char *text = slurp(stats_path);
    unlink(stats_path);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (*text)
      fail_msg("EVRING_STATS=%s: stderr got \"%s\"", values[i] ? values[i] : "(unset)", text);
  }
  /* and EVRING_STATS=1 does print, on stderr: the check above can fail */
  make_stats_path();
  int fd = open(stats_path, O_WRONLY | O_APPEND);
  int status = test_run_child(quiet_body, "1", fd);
  close(fd);
  const char *text = slurp(stats_path);
  unlink(stats_path);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(count_blocks(text), 2);
}

/* A forked child prints the loops it re-created (ev_loop_fork), with its own counts only;
 * the parent's other loops are the parent's to print. */
static void fork_body(void *arg)
{
  setenv("EVRING_STATS", stats_path, 1);
  struct ev_loop *a = ev_loop_new(test_backend() | EVFLAG_NOENV);
  struct ev_loop *b = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(a && b);
  test_run_nowait(a, 2);
  test_run_nowait(b, 4);
  pid_t pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0) {
    ev_loop_fork(a);
    test_run_nowait(a, 5);
    exit(0);
  }
  int st;
  CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  test_run_nowait(a, 1);
  ev_loop_destroy(a);
  ev_loop_destroy(b);
  exit(0);
}

static void forked_child_prints_only_the_loops_it_recreated(void **state)
{
  make_stats_path();
  int status = test_run_child(fork_body, NULL, 2);
  const char *text = slurp(stats_path);
  unlink(stats_path);
  printf("%s", text);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(count_blocks(text), 3);
  const char *child = find_block(text, "exit", 0);
  assert_non_null(child);
  assert_int_equal(block_field(child, "iterations"), 5);
  /* the parent's two blocks, at destroy: a ran 2 + 1 iterations there, b 4 */
  const char *first = find_block(text, "destroy", 0);
  assert_non_null(first);
  const char *second = find_block(first + 1, "destroy", 0);
  assert_non_null(second);
  assert_int_equal(block_field(first, "iterations") + block_field(second, "iterations"), 7);
  assert_true(block_field(first, "pid") != block_field(child, "pid"));
}

int main(void)
{
  const char *traced = getenv("EVRING_STATS_TRACED");
  if (traced)
    return traced_workload(traced);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(nowait_runs_count_one_iteration_each),
    cmocka_unit_test(callbacks_count_every_callback_invoked),
    cmocka_unit_test(fd_changes_are_counted_where_they_go),
    cmocka_unit_test(stats_get_fills_only_the_size_given),
    cmocka_unit_test(operations_count_starts_results_and_callbacks),
    cmocka_unit_test(refused_backend_is_reported_as_fallback),
    cmocka_unit_test(refused_ring_growth_is_reported),
    cmocka_unit_test(syscalls_counted_match_strace),
    cmocka_unit_test(stats_file_gets_a_block_at_destroy_and_at_exit),
    cmocka_unit_test(nothing_printed_when_unset),
    cmocka_unit_test(forked_child_prints_only_the_loops_it_recreated),
  };
  return TEST_MAIN("stats", tests);
}
