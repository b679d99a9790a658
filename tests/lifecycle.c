/* lifecycle.c - the backend's kernel objects at the edges: a set grown at the fd limit or
 * refused by the kernel, ev_loop_fork in the process that owns the loop, a stopped watcher's
 * fd closed at once, a forked child holding an old ring, loops run by threads whose ids the C
 * library recycles, a reused fd number whose registration needs a second request.
 *
 * Every test is a behaviour any backend must show; make check runs the program on each
 * backend and tests/iouring-masks.sh on io_uring under each kernel feature mask. Bodies that
 * change process-wide limits (RLIMIT_NOFILE, seccomp) run in a forked child and report with
 * their exit status: 0, or the line of the failed check on stderr. */
#include "test.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>

struct rec {
  ev_io io;
  int calls, revents;
};

static void rec_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct rec *r = (struct rec *)w;
  r->calls++;
  r->revents |= revents;
}

/* Initialise and start a recording watcher. */
static void rec_start(struct ev_loop *loop, struct rec *r, int fd, int events)
{
  ev_io_init(&r->io, rec_cb, fd, events);
  r->calls = r->revents = 0;
  ev_io_start(loop, &r->io);
}

static void expect_child_ok(void (*body)(void *), void *arg, const char *what)
{
  char how[64];
  int status = test_run_child(body, arg, 2);
  test_describe_status(status, how, sizeof how);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("%s: child %s", what, how);
}

/* ---------------------------------------------------------------------------------------- */
/* A watched set that outgrows the kernel objects the loop has, when the kernel will not give
 * it new ones: every fd is still reported, in every later iteration too. */

#define GROW_PIPES 90

struct grow {
  int refuse_errno; /* 0: RLIMIT_NOFILE exhausted; else io_uring_setup answers this */
};

static int pipes[GROW_PIPES][2];
static struct rec recs[GROW_PIPES];

/* A loop (in a child) with one pipe watched and polled once: its kernel objects are sized
 * for a small set. The other pipes are made, not yet watched. */
static struct ev_loop *small_set(void)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHILD_CHECK(loop && ev_backend(loop) == test_backend());
  for (int i = 0; i < GROW_PIPES; i++) {
    CHILD_CHECK(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC) == 0);
    ev_io_init(&recs[i].io, rec_cb, pipes[i][0], EV_READ);
  }
  ev_io_start(loop, &recs[0].io);
  ev_run(loop, EVRUN_NOWAIT);
  return loop;
}

static void grow_body(void *arg)
{
  const struct grow *g = arg;
  struct rlimit rl = {256, 256};
  CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);

  struct ev_loop *loop = small_set();
  if (g->refuse_errno)
    CHILD_CHECK(test_forbid_syscall(SYS_io_uring_setup, g->refuse_errno) == 0);
  else
    while (dup(0) >= 0) /* every remaining fd number taken */
      ;

  for (int i = 1; i < GROW_PIPES; i++)
    ev_io_start(loop, &recs[i].io);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < GROW_PIPES; i++) {
      recs[i].calls = 0;
      CHILD_CHECK(write(pipes[i][1], "x", 1) == 1);
    }
    for (int it = 0; it < 10; it++)
      ev_run(loop, EVRUN_NOWAIT);
    for (int i = 0; i < GROW_PIPES; i++) {
      if (recs[i].calls < 1)
        fprintf(stderr, "round %d: pipe %d (fd %d) never reported\n", round, i, pipes[i][0]);
      CHILD_CHECK(recs[i].calls >= 1);
      char c;
      CHILD_CHECK(read(pipes[i][0], &c, 1) == 1);
    }
    ev_run(loop, EVRUN_NOWAIT); /* drained: nobody is called */
    for (int i = 0; i < GROW_PIPES; i++)
      recs[i].calls = 0;
    ev_run(loop, EVRUN_NOWAIT);
    for (int i = 0; i < GROW_PIPES; i++)
      CHILD_CHECK(recs[i].calls == 0);
  }
}

static void grown_set_at_fd_limit_loses_nothing(void **state)
{
  struct grow g = {0};
  expect_child_ok(grow_body, &g, "RLIMIT_NOFILE exhausted");
}

static void grown_set_refused_by_kernel_loses_nothing(void **state)
{
  static const int errs[] = {ENOMEM, ENFILE, EMFILE, EPERM};
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    struct grow g = {errs[i]};
    char what[64];
    snprintf(what, sizeof what, "io_uring_setup answers %s", strerror(errs[i]));
    expect_child_ok(grow_body, &g, what);
  }
}

/* A refusal is remembered: 200 iterations with one fd always ready cost about one system call
 * and one request each, not a new attempt at a bigger ring every time. */
static void refused_growth_body(void *arg)
{
  struct ev_loop *loop = small_set();
  CHILD_CHECK(test_forbid_syscall(SYS_io_uring_setup, ENOMEM) == 0);
  for (int i = 1; i < GROW_PIPES; i++)
    ev_io_start(loop, &recs[i].io);
  CHILD_CHECK(write(pipes[0][1], "x", 1) == 1); /* never read: ready in every iteration */
  for (int it = 0; it < 200; it++)
    ev_run(loop, EVRUN_NOWAIT);
  CHILD_CHECK(recs[0].calls == 200);
  char stats[512];
  test_destroy_with_stats(loop, stats, sizeof stats);
  if (test_backend() != EVBACKEND_IOURING)
    return;
  unsigned long enters = test_stat_field(stats, "enters");
  unsigned long sqes = test_stat_field(stats, "sqes");
  fprintf(stderr, "# 200 iterations after the refusal: %s", stats);
  CHILD_CHECK(enters <= 230);
  CHILD_CHECK(sqes <= 2 * 200 + GROW_PIPES + 40);
}

static void refused_growth_is_not_retried_every_iteration(void **state)
{
  setenv("EVRING_IOURING_STATS", "1", 1);
  expect_child_ok(refused_growth_body, NULL, "io_uring_setup answers ENOMEM");
  unsetenv("EVRING_IOURING_STATS");
}

/* ---------------------------------------------------------------------------------------- */
/* ev_loop_fork in the process that owns the loop (libev allows it anywhere) */

static void fork_in_owner_then_stop_and_close_peer_sees_eof(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int sv[2], pp[2];
  test_sockpair(sv);
  make_pipe(pp);
  struct rec s, p;
  rec_start(loop, &s, sv[0], EV_READ);
  rec_start(loop, &p, pp[0], EV_READ);
  test_run_nowait(loop, 2);
  ev_loop_fork(loop);
  test_run_nowait(loop, 2);
  test_put(pp[1], "x");
  test_run_nowait(loop, 1);
  assert_int_equal(p.calls, 1); /* the loop still works after ev_loop_fork */
  ev_io_stop(loop, &s.io);
  close(sv[0]);
  test_run_nowait(loop, 1);
  assert_true(test_peer_sees_eof(sv[1], 0));
  ev_io_stop(loop, &p.io);
  ev_loop_destroy(loop);
  close(sv[1]), close(pp[0]), close(pp[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* A watcher stopped, then its fd closed: the file is gone at once, as on epoll */

static void stopped_then_closed_pipe_is_gone_at_once(void **state)
{
  signal(SIGPIPE, SIG_IGN);
  struct ev_loop *loop = test_loop(0);
  int pp[2];
  make_pipe(pp);
  struct rec r;
  rec_start(loop, &r, pp[0], EV_READ);
  test_run_nowait(loop, 2);
  ev_io_stop(loop, &r.io);
  close(pp[0]);
  errno = 0;
  assert_int_equal(write(pp[1], "x", 1), -1);
  assert_int_equal(errno, EPIPE);
  ev_loop_destroy(loop);
  close(pp[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* A forked child stops a watcher it inherited before its loop noticed the fork (libev lets it
 * call ev_loop_fork and only then run the loop): the parent's watcher keeps working. */

static void child_stopping_an_inherited_watcher_leaves_the_parent_alone(void **state)
{
  struct ev_loop *loop = test_loop(0);
  int pp[2];
  make_pipe(pp);
  struct rec r;
  rec_start(loop, &r, pp[0], EV_READ);
  test_run_nowait(loop, 2);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    ev_loop_fork(loop);
    ev_io_stop(loop, &r.io);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  test_put(pp[1], "x");
  for (int i = 0; i < 10 && !r.calls; i++)
    ev_run(loop, EVRUN_NOWAIT);
  assert_int_equal(r.calls, 1);
  ev_io_stop(loop, &r.io);
  ev_loop_destroy(loop);
  close(pp[0]), close(pp[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* A forked child that keeps the loop's kernel objects open (no exec, no ev_loop_fork) does
 * not keep the parent's closed sockets alive, whether the parent's loop replaced them (a
 * grown set) or was destroyed. */

static void forked_child_does_not_pin_closed_sockets(void **state)
{
  struct ev_loop *loop = test_loop(0);
  test_run_nowait(loop, 1);
  int hold[2];
  assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork(); /* the child holds the loop's descriptors and nothing made later */
  assert_true(pid >= 0);
  if (pid == 0) {
    char c;
    close(hold[1]);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR)
      ;
    _exit(0);
  }
  close(hold[0]);

  int s1[2], s2[2];
  test_sockpair(s1);
  test_sockpair(s2);
  struct rec a, b;
  rec_start(loop, &a, s1[0], EV_READ);
  rec_start(loop, &b, s2[0], EV_READ);
  test_run_nowait(loop, 2);

  /* Grow the set well past what the loop started with. */
  for (int i = 0; i < GROW_PIPES; i++) {
    assert_int_equal(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC), 0);
    ev_io_init(&recs[i].io, rec_cb, pipes[i][0], EV_READ);
    ev_io_start(loop, &recs[i].io);
  }
  test_run_nowait(loop, 2);
  ev_io_stop(loop, &a.io);
  close(s1[0]);
  test_run_nowait(loop, 1);
  int eof_after_growth = test_peer_sees_eof(s1[1], 0);

  for (int i = 0; i < GROW_PIPES; i++) {
    ev_io_stop(loop, &recs[i].io);
    close(pipes[i][0]), close(pipes[i][1]);
  }
  ev_loop_destroy(loop); /* b is still active: its request goes with the loop */
  close(s2[0]);
  int eof_after_destroy = test_peer_sees_eof(s2[1], 0);

  close(hold[1]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(eof_after_growth);
  assert_true(eof_after_destroy);
  close(s1[1]), close(s2[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Threads: the C library hands a new thread the id of one that exited; a loop that thread
 * runs is still entered as its own. */

struct tloop {
  struct ev_loop *loop;
  int pp[2];
  struct rec r;
  int ok;
  pthread_t self;
};

static void tloop_init(struct tloop *t)
{
  memset(t, 0, sizeof *t);
  t->loop = test_loop(0);
  make_pipe(t->pp);
  ev_io_init(&t->r.io, rec_cb, t->pp[0], EV_READ);
  ev_io_start(t->loop, &t->r.io);
}

/* One round: data in, exactly one callback, drained. */
static int tloop_round(struct tloop *t)
{
  char c;
  t->r.calls = 0;
  if (write(t->pp[1], "x", 1) != 1)
    return 0;
  for (int i = 0; i < 5 && !t->r.calls; i++)
    ev_run(t->loop, EVRUN_NOWAIT);
  return t->r.calls == 1 && read(t->pp[0], &c, 1) == 1;
}

static void *run_first(void *arg)
{
  struct tloop *t = arg;
  t->self = pthread_self();
  t->ok = tloop_round(t) && tloop_round(t);
  return NULL;
}

struct both {
  struct tloop *first, *second;
  int ok_second, ok_first;
  pthread_t self;
};

static void *run_both(void *arg)
{
  struct both *b = arg;
  b->self = pthread_self();
  b->ok_second = tloop_round(b->second) && tloop_round(b->second);
  b->ok_first = tloop_round(b->first) && tloop_round(b->first);
  return NULL;
}

static void loops_on_recycled_thread_ids_keep_their_own_events(void **state)
{
  int recycled = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    struct tloop one, two;
    tloop_init(&one);
    tloop_init(&two);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_first, &one), 0);
    pthread_join(th, NULL);
    assert_true(one.ok);
    struct both b = {&one, &two, 0, 0, 0};
    assert_int_equal(pthread_create(&th, NULL, run_both, &b), 0);
    pthread_join(th, NULL);
    recycled += pthread_equal(one.self, b.self) != 0;
    assert_true(b.ok_second);
    assert_true(b.ok_first);
    struct tloop *ts[] = {&one, &two};
    for (int i = 0; i < 2; i++) {
      ev_io_stop(ts[i]->loop, &ts[i]->r.io);
      ev_loop_destroy(ts[i]->loop);
      close(ts[i]->pp[0]), close(ts[i]->pp[1]);
    }
  }
  printf("# thread ids recycled in %d of 5 attempts\n", recycled);
  assert_true(recycled > 0); /* otherwise this test proves nothing here */
}

/* ---------------------------------------------------------------------------------------- */
/* A closed fd number reused by a new file and watched with another mask: the kernel refuses
 * the first request for it (a MOD of a registration that went with the old file), and the fd
 * is still reported in the same iteration as an fd that was ready already. */

static void reused_fd_with_new_mask_reported_in_same_iteration(void **state)
{
  struct ev_loop *loop = test_loop(0);
  for (int round = 0; round < 20; round++) {
    int a[2], b[2], pp[2];
    test_sockpair(a);
    make_pipe(pp);
    struct rec x, y;
    rec_start(loop, &x, a[0], EV_READ);
    rec_start(loop, &y, pp[0], EV_READ);
    test_run_nowait(loop, 2);
    int num = a[0];
    ev_io_stop(loop, &x.io);
    close(a[0]);
    close(a[1]);
    test_sockpair(b);
    if (b[0] != num) {
      assert_int_equal(dup2(b[0], num), num);
      close(b[0]);
      b[0] = num;
    }
    test_put(pp[1], "y"); /* another fd ready in the same iteration */
    rec_start(loop, &x, num, EV_WRITE);
    ev_run(loop, EVRUN_NOWAIT);
    if (x.calls != 1 || y.calls != 1)
      printf("# round %d: reused fd %d called %d times, ready pipe %d times\n", round, num,
             x.calls, y.calls);
    assert_int_equal(y.calls, 1);
    assert_int_equal(x.calls, 1);
    ev_io_stop(loop, &x.io);
    ev_io_stop(loop, &y.io);
    close(b[0]), close(b[1]), close(pp[0]), close(pp[1]);
  }
  ev_loop_destroy(loop);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(grown_set_at_fd_limit_loses_nothing),
    cmocka_unit_test(grown_set_refused_by_kernel_loses_nothing),
    cmocka_unit_test(refused_growth_is_not_retried_every_iteration),
    cmocka_unit_test(fork_in_owner_then_stop_and_close_peer_sees_eof),
    cmocka_unit_test(stopped_then_closed_pipe_is_gone_at_once),
    cmocka_unit_test(child_stopping_an_inherited_watcher_leaves_the_parent_alone),
    cmocka_unit_test(forked_child_does_not_pin_closed_sockets),
    cmocka_unit_test(loops_on_recycled_thread_ids_keep_their_own_events),
    cmocka_unit_test(reused_fd_with_new_mask_reported_in_same_iteration),
  };
  return TEST_MAIN("lifecycle", tests);
}
