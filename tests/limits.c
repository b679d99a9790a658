/* limits.c - the kernel says no, run once per backend (see test.h).
 *
 * epoll_ctl refusing a registration (ENOSPC once fs.epoll.max_user_watches is reached,
 * ENOMEM), and a process at its RLIMIT_NOFILE while the backend renews its kernel state (the
 * rebuild of an epoll set that holds a stale registration, ev_loop_fork in a child). The
 * kernel's refusals are staged in a forked child without touching the machine's settings: a
 * seccomp filter makes one system call answer an errno, setrlimit lowers the fd limit. Child
 * bodies check with CHILD_CHECK (exit status), never with cmocka's assertions, which would
 * jump back into the runner inside the child. */
#include "test.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* body(arg) in a child whose stderr is ours; the test passes when it exits with 0. */
static void expect_child_success(void (*body)(void *), void *arg)
{
  char how[64];
  int status = test_run_child(body, arg, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child should exit 0, got %s", how);
}

static struct ev_loop *child_loop(void)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop != NULL);
  CHILD_CHECK(ev_backend(loop) == test_backend());
  return loop;
}

static void child_pipe(int p[2])
{
  CHILD_CHECK(pipe(p) == 0);
  test_nonblock(p[0]);
  test_nonblock(p[1]);
}

static void child_put(int fd, char c)
{
  CHILD_CHECK(write(fd, &c, 1) == 1);
}

/* An io watcher that reads one byte per callback and records what it saw. */
struct probe {
  ev_io io; /* first member: the callback casts its watcher back */
  int calls;
  int revents;
  int fd_seen;
  char last_byte;
};

static void probe_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct probe *p = (struct probe *)w;
  char c = 0;

  p->calls++;
  p->revents = revents;
  p->fd_seen = w->fd;
  if (!(revents & EV_ERROR) && read(w->fd, &c, 1) == 1)
    p->last_byte = c;
}

static void probe_init(struct probe *p, int fd)
{
  memset(p, 0, sizeof *p);
  ev_io_init(&p->io, probe_cb, fd, EV_READ);
}

static int async_calls;
static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
  async_calls++;
}

static int timer_calls;
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  timer_calls++;
}

static void break_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  timer_calls++;
  ev_break(loop, EVBREAK_ALL);
}

static int syserr_calls;
static char syserr_msg[256];
static void record_syserr(const char *msg)
{
  syserr_calls++;
  snprintf(syserr_msg, sizeof syserr_msg, "%s", msg ? msg : "(null)");
}

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static int install_filter(struct sock_filter *code, unsigned short len)
{
  struct sock_fprog prog = {len, code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* From now on in this process, system call nr fails with err. */
static int refuse_syscall(long nr, int err)
{
#ifndef TEST_AUDIT_ARCH
  return -1;
#else
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return install_filter(code, sizeof code / sizeof code[0]);
#endif
}

/* From now on in this process, epoll_ctl(any, op, fd, ...) fails with err. */
static int refuse_epoll_ctl(int op, int fd, int err)
{
#ifndef TEST_AUDIT_ARCH
  return -1;
#else
  /* The low halves of the arguments (little-endian): op and fd are ints. */
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 0, 7),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)SYS_epoll_ctl, 0, 5),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)op, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)fd, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return install_filter(code, sizeof code / sizeof code[0]);
#endif
}

/* Lower RLIMIT_NOFILE to `limit` and open /dev/null until no fd number is left. */
static void use_up_every_fd(rlim_t limit)
{
  struct rlimit rl;
  CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = limit;
  CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
    ;
  CHILD_CHECK(errno == EMFILE);
}

/* After use_up_every_fd and a renewal of the backend's kernel state: a descriptor free now was
 * leaked or closed by the backend. A backend that gave up and handed the loop to another one
 * (a visible fallback: ev_backend says so) may hold fewer descriptors than before. */
static void check_still_at_limit(struct ev_loop *loop)
{
  if (ev_backend(loop) != test_backend()) {
    dprintf(2, "# child: backend %s fell back to 0x%x at the fd limit\n", test_backend_name(),
            ev_backend(loop));
    return;
  }
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    dprintf(2, "# child: fd %d is free again after the backend renewed its state\n", fd);
  CHILD_CHECK(fd < 0 && errno == EMFILE);
}

/* ---------------------------------------------------------------------------------------- */
/* epoll_ctl refuses a registration: EV_ERROR to that fd's watchers, the loop carries on */

/* Where the backend registers fds with the epoll_ctl system call (epoll), the refused fd's
 * watchers are each called once with EV_ERROR|EV_READ|EV_WRITE and stopped, as Debian's libev
 * does; poll and select never call epoll_ctl, and io_uring submits its EPOLL_CTL through the
 * ring, which seccomp does not see, so there the fd works. On every backend, another fd keeps
 * working and starting the refused fd's watcher again is refused again, without an abort. */
static void body_epoll_ctl_refuses(void *arg)
{
  int err = *(const int *)arg;
  struct ev_loop *loop = child_loop();
  struct probe r1, r2, good;
  int v[2], g[2];

  child_pipe(v);
  child_pipe(g);
  CHILD_CHECK(refuse_epoll_ctl(EPOLL_CTL_ADD, v[0], err) == 0);

  probe_init(&r1, v[0]);
  probe_init(&r2, v[0]);
  probe_init(&good, g[0]);
  ev_io_start(loop, &r1.io);
  ev_io_start(loop, &r2.io);
  ev_io_start(loop, &good.io);
  child_put(v[1], 'v');
  child_put(g[1], 'g');
  ev_run(loop, EVRUN_NOWAIT);

  CHILD_CHECK(good.calls == 1 && good.revents == EV_READ && good.last_byte == 'g');
  CHILD_CHECK(r1.calls == 1);
  int refused = (r1.revents & EV_ERROR) != 0;
  if (test_backend() == EVBACKEND_EPOLL)
    CHILD_CHECK(refused);
  else if (test_backend() != EVBACKEND_IOURING)
    CHILD_CHECK(!refused);
  if (refused) {
    CHILD_CHECK(r1.revents == (EV_ERROR | EV_READ | EV_WRITE));
    CHILD_CHECK(r2.calls == 1 && r2.revents == (EV_ERROR | EV_READ | EV_WRITE));
    CHILD_CHECK(!ev_is_active(&r1.io) && !ev_is_active(&r2.io));
  } else {
    /* r1 read the byte; r2 ran in the same iteration (its read found nothing). */
    CHILD_CHECK(r1.revents == EV_READ && r2.calls == 1 && r2.revents == EV_READ);
    CHILD_CHECK(ev_is_active(&r1.io) && ev_is_active(&r2.io));
  }

  test_run_nowait(loop, 2);
  CHILD_CHECK(good.calls == 1);
  CHILD_CHECK(r1.calls == 1 && r2.calls == 1);
  child_put(g[1], 'h');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(good.calls == 2 && good.last_byte == 'h');

  if (refused) {
    ev_io_start(loop, &r1.io);
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(r1.calls == 2 && r1.revents == (EV_ERROR | EV_READ | EV_WRITE));
    CHILD_CHECK(!ev_is_active(&r1.io));
    child_put(g[1], 'i');
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(good.calls == 3 && good.last_byte == 'i');
  }
  ev_io_stop(loop, &r1.io);
  ev_io_stop(loop, &r2.io);
  ev_io_stop(loop, &good.io);
  ev_loop_destroy(loop);
}

static void epoll_ctl_enospc_reports_ev_error_and_the_loop_carries_on(void **state)
{
  int err = ENOSPC;
  expect_child_success(body_epoll_ctl_refuses, &err);
}

static void epoll_ctl_enomem_reports_ev_error_and_the_loop_carries_on(void **state)
{
  int err = ENOMEM;
  expect_child_success(body_epoll_ctl_refuses, &err);
}

/* ---------------------------------------------------------------------------------------- */
/* At RLIMIT_NOFILE: renewing the backend's kernel state needs no spare descriptor */

#define FD_LIMIT 64

/* The watcher moves from fd a to b = dup(a) and a is closed: epoll keeps a's registration,
 * which now reports events for a file nobody watches through that number, and the number
 * itself is taken by another file. Only a new epoll set removes it. At the fd limit the new
 * set must still be made: every watcher (both pipes, the async) keeps working, and the process
 * is still at the limit afterwards (no descriptor leaked or closed). */
static void body_rebuild_at_fd_limit(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe moved, other;
  ev_async async;
  int a[2], c[2];

  child_pipe(a);
  child_pipe(c);
  probe_init(&moved, a[0]);
  probe_init(&other, c[0]);
  ev_async_init(&async, async_cb);
  ev_io_start(loop, &moved.io);
  ev_io_start(loop, &other.io);
  ev_async_start(loop, &async);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(moved.calls == 0 && other.calls == 0);

  int b = dup(a[0]);
  CHILD_CHECK(b >= 0);
  ev_io_stop(loop, &moved.io);
  close(a[0]);
  use_up_every_fd(FD_LIMIT); /* a[0]'s number now names /dev/null */
  ev_io_set(&moved.io, b, EV_READ);
  ev_io_start(loop, &moved.io);

  child_put(a[1], 'A');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(moved.calls == 1 && moved.revents == EV_READ && moved.last_byte == 'A');
  CHILD_CHECK(moved.fd_seen == b);
  test_run_nowait(loop, 3);
  CHILD_CHECK(moved.calls == 1 && other.calls == 0);

  child_put(c[1], 'C');
  ev_async_send(loop, &async);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(other.calls == 1 && other.revents == EV_READ && other.last_byte == 'C');
  CHILD_CHECK(async_calls == 1);
  child_put(a[1], 'B');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(moved.calls == 2 && moved.last_byte == 'B');
  test_run_nowait(loop, 2);
  CHILD_CHECK(moved.calls == 2 && other.calls == 1 && async_calls == 1);
  check_still_at_limit(loop);
}

static void rebuild_at_the_fd_limit_keeps_every_watcher_working(void **state)
{
  expect_child_success(body_rebuild_at_fd_limit, NULL);
}

/* The same stale registration, but no new epoll set can be made (epoll_create1 answers
 * ENOMEM): the epoll backend reports it through the syserr callback and keeps its old set,
 * so the watchers keep working. */
static void body_rebuild_without_new_set(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe moved, other;
  int a[2], c[2];

  child_pipe(a);
  child_pipe(c);
  probe_init(&moved, a[0]);
  probe_init(&other, c[0]);
  ev_io_start(loop, &moved.io);
  ev_io_start(loop, &other.io);
  ev_run(loop, EVRUN_NOWAIT);

  int b = dup(a[0]);
  CHILD_CHECK(b >= 0);
  ev_io_stop(loop, &moved.io);
  close(a[0]);
  ev_io_set(&moved.io, b, EV_READ);
  ev_io_start(loop, &moved.io);
  CHILD_CHECK(refuse_syscall(SYS_epoll_create1, ENOMEM) == 0);
  ev_set_syserr_cb(record_syserr);

  child_put(a[1], 'A');
  test_run_nowait(loop, 2);
  CHILD_CHECK(moved.calls == 1 && moved.revents == EV_READ && moved.last_byte == 'A');
  if (test_backend() == EVBACKEND_EPOLL)
    CHILD_CHECK(syserr_calls > 0 && strstr(syserr_msg, "epoll"));
  else if (test_backend() != EVBACKEND_IOURING)
    CHILD_CHECK(syserr_calls == 0);
  child_put(c[1], 'C');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(other.calls == 1 && other.last_byte == 'C');
}

static void rebuild_without_a_new_epoll_set_reports_syserr_and_keeps_working(void **state)
{
  expect_child_success(body_rebuild_without_new_set, NULL);
}

/* The loop runs with two pipe watchers, an async and a timer; a child of that process, with
 * every fd number used up, calls ev_loop_fork: all four work in the child, the child is still
 * at the limit, and the parent's loop works after the child is gone. */
static void body_loop_fork_at_fd_limit(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe p1, p2;
  ev_async async;
  ev_timer timer;
  int a[2], c[2];

  child_pipe(a);
  child_pipe(c);
  probe_init(&p1, a[0]);
  probe_init(&p2, c[0]);
  ev_async_init(&async, async_cb);
  ev_timer_init(&timer, timer_cb, 0.001, 0.);
  ev_io_start(loop, &p1.io);
  ev_io_start(loop, &p2.io);
  ev_async_start(loop, &async);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(p1.calls == 0 && p2.calls == 0);

  fflush(NULL);
  pid_t pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0) {
    alarm(20); /* not inherited from test_run_child */
    use_up_every_fd(FD_LIMIT);
    ev_loop_fork(loop);
    child_put(a[1], 'a');
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(p1.calls == 1 && p1.revents == EV_READ && p1.last_byte == 'a');
    CHILD_CHECK(p2.calls == 0);
    child_put(c[1], 'c');
    ev_async_send(loop, &async);
    ev_run(loop, EVRUN_NOWAIT);
    CHILD_CHECK(p2.calls == 1 && p2.revents == EV_READ && p2.last_byte == 'c');
    CHILD_CHECK(async_calls == 1);
    ev_timer_start(loop, &timer);
    ev_run(loop, EVRUN_ONCE);
    CHILD_CHECK(timer_calls == 1);
    test_run_nowait(loop, 2);
    CHILD_CHECK(p1.calls == 1 && p2.calls == 1 && async_calls == 1);
    check_still_at_limit(loop);
    _exit(0);
  }
  int status = 0;
  CHILD_CHECK(waitpid(pid, &status, 0) == pid);
  CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  child_put(a[1], 'p');
  ev_async_send(loop, &async);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(p1.calls == 1 && p1.last_byte == 'p');
  CHILD_CHECK(async_calls == 1);
}

static void loop_fork_at_the_fd_limit_keeps_every_watcher_working(void **state)
{
  expect_child_success(body_loop_fork_at_fd_limit, NULL);
}

/* The child of a running loop cannot make a new epoll set (epoll_create1 answers ENOMEM):
 * ev_loop_fork reports it through the syserr callback, and whatever the child then does with
 * the loop (re-registering the inherited watcher, stopping it) must not reach the epoll set it
 * shares with its parent: the parent's watcher still works after the child is gone. */
static void body_fork_without_new_set(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe p;
  int a[2];

  child_pipe(a);
  probe_init(&p, a[0]);
  ev_io_start(loop, &p.io);
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(p.calls == 0);

  fflush(NULL);
  pid_t pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0) {
    alarm(20); /* not inherited from test_run_child */
    CHILD_CHECK(refuse_syscall(SYS_epoll_create1, ENOMEM) == 0);
    ev_set_syserr_cb(record_syserr);
    ev_loop_fork(loop);
    test_run_nowait(loop, 2);
    ev_io_stop(loop, &p.io);
    test_run_nowait(loop, 2);
    if (test_backend() == EVBACKEND_EPOLL)
      CHILD_CHECK(syserr_calls > 0);
    _exit(0);
  }
  int status = 0;
  CHILD_CHECK(waitpid(pid, &status, 0) == pid);
  CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  child_put(a[1], 'p');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(p.calls == 1 && p.revents == EV_READ && p.last_byte == 'p');
}

static void loop_fork_without_a_new_epoll_set_leaves_the_parents_watchers_alone(void **state)
{
  expect_child_success(body_fork_without_new_set, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Descriptors the kernel cannot poll */

/* An O_PATH descriptor is open (fcntl accepts it) but cannot be polled: its watcher gets
 * EV_ERROR|EV_READ|EV_WRITE once and stops, another fd keeps working, and a blocking run
 * stopped by a 50 ms timer takes a handful of iterations (no spinning on the refusal). */
static void body_o_path(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe bad, good;
  ev_timer t;
  int g[2];

  int fd = open("/", O_PATH | O_CLOEXEC);
  CHILD_CHECK(fd >= 0);
  child_pipe(g);
  probe_init(&bad, fd);
  probe_init(&good, g[0]);
  ev_io_start(loop, &bad.io);
  ev_io_start(loop, &good.io);
  child_put(g[1], 'g');
  test_run_nowait(loop, 2);
  CHILD_CHECK(bad.calls == 1 && bad.revents == (EV_ERROR | EV_READ | EV_WRITE));
  CHILD_CHECK(!ev_is_active(&bad.io));
  CHILD_CHECK(good.calls == 1 && good.last_byte == 'g');

  ev_timer_init(&t, break_cb, 0.05, 0.);
  ev_timer_start(loop, &t);
  unsigned int before = ev_iteration(loop);
  ev_run(loop, 0);
  unsigned int iterations = ev_iteration(loop) - before;
  if (iterations > 5)
    dprintf(2, "# child: %u iterations in 50 ms\n", iterations);
  CHILD_CHECK(timer_calls == 1);
  CHILD_CHECK(iterations <= 5);
  child_put(g[1], 'h');
  ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(good.calls == 2 && good.last_byte == 'h' && bad.calls == 1);
}

static void o_path_fd_reports_ev_error_and_the_loop_carries_on(void **state)
{
  expect_child_success(body_o_path, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Timeouts the kernel would refuse */

/* A timer 1e20 s away (beyond time_t) while an fd is ready: the backend waits with a timeout
 * the kernel accepts (select(2) answers EINVAL to a negative one), so the fd is reported and
 * nothing goes to the syserr callback. */
static void body_far_timer(void *arg)
{
  struct ev_loop *loop = child_loop();
  struct probe p;
  ev_timer far;
  int a[2];

  ev_set_syserr_cb(record_syserr);
  child_pipe(a);
  probe_init(&p, a[0]);
  ev_timer_init(&far, timer_cb, 1e20, 0.);
  ev_timer_start(loop, &far);
  ev_io_start(loop, &p.io);
  child_put(a[1], 'x');
  ev_run(loop, EVRUN_ONCE);
  if (syserr_calls)
    dprintf(2, "# child: syserr: %s\n", syserr_msg);
  CHILD_CHECK(syserr_calls == 0);
  CHILD_CHECK(p.calls == 1 && p.revents == EV_READ && p.last_byte == 'x');
  CHILD_CHECK(timer_calls == 0);
}

static void timer_beyond_time_t_still_lets_the_loop_wait(void **state)
{
  expect_child_success(body_far_timer, NULL);
}

/* ---------------------------------------------------------------------------------------- */

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(epoll_ctl_enospc_reports_ev_error_and_the_loop_carries_on),
    cmocka_unit_test(epoll_ctl_enomem_reports_ev_error_and_the_loop_carries_on),
    cmocka_unit_test(rebuild_at_the_fd_limit_keeps_every_watcher_working),
    cmocka_unit_test(rebuild_without_a_new_epoll_set_reports_syserr_and_keeps_working),
    cmocka_unit_test(loop_fork_at_the_fd_limit_keeps_every_watcher_working),
    cmocka_unit_test(loop_fork_without_a_new_epoll_set_leaves_the_parents_watchers_alone),
    cmocka_unit_test(timer_beyond_time_t_still_lets_the_loop_wait),
    cmocka_unit_test(o_path_fd_reports_ev_error_and_the_loop_carries_on),
  };
  return TEST_MAIN("limits", tests);
}
