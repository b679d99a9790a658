/* test.h - shared helpers of evring's behaviour tests (cmocka, TAP output, run by prove).
 *
 * Every test program runs once per backend: tests/run-one sets EVRING_TEST_BACKEND to
 * select, poll, epoll or iouring, and test_loop() creates loops on that backend only.
 * A program whose backend the kernel does not offer prints "1..0 # SKIP" and exits 0. */
#ifndef EVRING_TEST_H
#define EVRING_TEST_H

#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ev.h>

static inline unsigned int test_backend(void)
{
  const char *b = getenv("EVRING_TEST_BACKEND");
  if (!b || !strcmp(b, "epoll"))
    return EVBACKEND_EPOLL;
  if (!strcmp(b, "select"))
    return EVBACKEND_SELECT;
  if (!strcmp(b, "poll"))
    return EVBACKEND_POLL;
  if (!strcmp(b, "iouring"))
    return EVBACKEND_IOURING;
  fprintf(stderr, "unknown EVRING_TEST_BACKEND %s\n", b);
  exit(2);
}

static inline const char *test_backend_name(void)
{
  const char *b = getenv("EVRING_TEST_BACKEND");
  return b ? b : "epoll";
}

/* A new loop on the backend under test. */
static inline struct ev_loop *test_loop(unsigned int extra_flags)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV | extra_flags);
  assert_non_null(loop);
  assert_int_equal(ev_backend(loop), test_backend());
  return loop;
}

/* Run a group of cmocka tests with TAP output, or skip the whole program when the backend
 * under test is not available on this kernel. */
static inline int test_run(const char *group, const struct CMUnitTest *tests, size_t n)
{
  if (!(ev_supported_backends() & test_backend())) {
    printf("1..0 # SKIP backend %s not supported here\n", test_backend_name());
    return 0;
  }
  cmocka_set_message_output(CM_OUTPUT_TAP);
  return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}
#define TEST_MAIN(group, tests) test_run(group, tests, sizeof(tests) / sizeof((tests)[0]))

/* cmocka has no floating-point comparisons with a tolerance; these print both values. */
#define assert_near(got, want, eps)                                                                \
  do {                                                                                             \
    double got_ = (got), want_ = (want);                                                           \
    if (!(got_ - want_ <= (eps) && want_ - got_ <= (eps)))                                         \
      fail_msg("%s = %.6f, expected %.6f +- %g", #got, got_, want_, (double)(eps));                \
  } while (0)

#define assert_between(got, lo, hi)                                                                \
  do {                                                                                             \
    double got_ = (got);                                                                           \
    if (!(got_ >= (lo) && got_ <= (hi)))                                                           \
      fail_msg("%s = %.6f, expected in [%g, %g]", #got, got_, (double)(lo), (double)(hi));         \
  } while (0)

/* The scheduling latency a timing bound tolerates beyond what the behaviour itself allows:
 * s seconds, times EVRING_TEST_TIME_SCALE where the machine is slower or stalls longer than
 * real hardware (tests/kernels/check-kernels sets 4 in its emulated guests). Only for the slack
 * of an upper bound; the bound a behaviour guarantees is never scaled. */
static inline double latency(double s)
{
  const char *scale = getenv("EVRING_TEST_TIME_SCALE");
  double k = scale ? atof(scale) : 1.;
  return s * (k >= 1. ? k : 1.);
}

/* Monotonic seconds, for measuring how long something took. */
static inline double mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Make a descriptor non-blocking. */
static inline void test_nonblock(int fd)
{
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* n non-blocking iterations. */
static inline void test_run_nowait(struct ev_loop *loop, int n)
{
  for (int i = 0; i < n; i++)
    ev_run(loop, EVRUN_NOWAIT);
}

/* Write a string completely (the tests' fds have room for it). */
static inline void test_put(int fd, const char *s)
{
  ssize_t len = (ssize_t)strlen(s);
  assert_int_equal(write(fd, s, (size_t)len), len);
}

/* In a forked child: a failed check says where on stderr and exits with status 1. */
#define CHILD_CHECK(cond)                                                                     \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      dprintf(2, "# child: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
      _exit(1);                                                                               \
    }                                                                                         \
  } while (0)

/* Fork; in the child: no core file, stderr to err_fd (or /dev/null when err_fd < 0), a 20 s
 * alarm, body(arg), exit 0. Returns the child's wait status. */
static inline int test_run_child(void (*body)(void *), void *arg, int err_fd)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    int fd = err_fd >= 0 ? err_fd : open("/dev/null", O_WRONLY);
    if (fd >= 0)
      dup2(fd, 2);
    alarm(20);
    body(arg);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

/* "killed by signal N" or "exit N". */
static inline void test_describe_status(int status, char *buf, size_t n)
{
  if (WIFSIGNALED(status))
    snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
  else
    snprintf(buf, n, "exit %d", WEXITSTATUS(status));
}

/* A usage error: body(arg) must make the library abort (SIGABRT). */
static inline void test_expect_abort(void (*body)(void *), void *arg)
{
  char how[64];
  int status = test_run_child(body, arg, -1);
  test_describe_status(status, how, sizeof how);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("child should die of SIGABRT, got %s", how);
}

/* Re-run this test program under strace, with the environment variables of `env` (name,
 * value, name, value, ..., NULL) set in the traced process; `flags` are extra strace options
 * (NULL-terminated). The trace goes to a new file whose name is written to out[size].
 * Returns the wait status of strace. */
static inline int test_trace_self(char *out, size_t size, const char *const *env,
                                  const char *const *flags)
{
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  assert_true(len > 0);
  exe[len] = 0;
  snprintf(out, size, "/tmp/evring-strace-XXXXXX");
  int ofd = mkstemp(out);
  assert_true(ofd >= 0);
  close(ofd);

  const char *argv[32] = { "strace", "-qq", "-o", out, "-e", "signal=none" };
  int argc = 6;
  for (; flags && *flags && argc < 30; flags++)
    argv[argc++] = *flags;
  argv[argc++] = exe;
  argv[argc] = NULL;

  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (; env && env[0] && env[1]; env += 2)
      setenv(env[0], env[1], 1);
    execvp("strace", (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

/* A non-blocking, close-on-exec AF_UNIX stream socketpair. */
static inline void test_sockpair(int sv[2])
{
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* The peer of fd's socket sees end-of-file within ms milliseconds (0: right now). */
static inline int test_peer_sees_eof(int fd, int ms)
{
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0)
    return 0;
  char c;
  return read(fd, &c, 1) == 0;
}

/* A non-blocking pipe. */
static inline void make_pipe(int p[2])
{
  assert_int_equal(pipe(p), 0);
  test_nonblock(p[0]);
  test_nonblock(p[1]);
}

/* From now on this process's system call `nr` fails with `err` (a seccomp filter; use it in a
 * forked child). 0, or -1 where seccomp filters are not available. */
static inline int test_forbid_syscall(long nr, int err)
{
#if defined(__x86_64__)
  const unsigned int arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  const unsigned int arch = AUDIT_ARCH_AARCH64;
#else
  return -1;
#endif
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Destroy a loop created with EVRING_IOURING_STATS=1 and return the statistics line the
 * io_uring backend writes to stderr then (empty on other backends). */
static inline void test_destroy_with_stats(struct ev_loop *loop, char *out, size_t size)
{
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(p[1], 2);
  ev_loop_destroy(loop);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(p[1]);
  ssize_t n = read(p[0], out, size - 1);
  out[n > 0 ? n : 0] = 0;
  close(p[0]);
}

/* The number after " name=" in a statistics line, or ULONG_MAX. */
static inline unsigned long test_stat_field(const char *stats, const char *name)
{
  char key[64];
  snprintf(key, sizeof key, " %s=", name);
  const char *s = strstr(stats, key);
  return s ? strtoul(s + strlen(key), NULL, 0) : (unsigned long)-1;
}

/* Raise this process's RLIMIT_NOFILE soft limit to at least `need` (as far as the hard limit
 * allows). */
static inline void test_raise_nofile(rlim_t need)
{
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur >= need)
    return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

#endif
