/* memlock.c - loops when the kernel counts io_uring rings against RLIMIT_MEMLOCK.
 *
 * Linux before 5.12 (Debian 11's 5.10) charges each ring's memory to the user's locked
 * memory, limited by RLIMIT_MEMLOCK (64 KiB for a Debian login) for every process of that
 * user together: a few rings of the backend's minimum size use it up. A program must still
 * get working loops (ev_loop_new(0) falls back to epoll; asking for io_uring alone gives
 * NULL or a working loop, never a broken one), and a loop whose ring cannot grow must still
 * deliver every event. On kernels that do not count rings, and on the other backends, the
 * same tests pass trivially, which is the point: the behaviour must not depend on it.
 *
 * tests/kernels/run-suite runs it like the behaviour programs, once per backend, as root
 * and as uid 1000 with a 64 KiB RLIMIT_MEMLOCK. */
#include "../test.h"

#include <sys/resource.h>

#define LOOPS 40
#define FDS 3000

struct rec {
  ev_io io;
  int calls;
};

static void rec_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct rec *r = (struct rec *)w;
  r->calls++;
}

/* Does `loop` report a ready pipe within a few iterations? */
static int loop_works(struct ev_loop *loop)
{
  int p[2];
  make_pipe(p);
  test_put(p[1], "x");
  struct rec r = {.calls = 0};
  ev_io_init(&r.io, rec_cb, p[0], EV_READ);
  ev_io_start(loop, &r.io);
  for (int i = 0; i < 5 && !r.calls; i++)
    ev_run(loop, EVRUN_NOWAIT);
  ev_io_stop(loop, &r.io);
  close(p[0]);
  close(p[1]);
  return r.calls > 0;
}

static const char *backend_name(unsigned int b)
{
  return b == EVBACKEND_IOURING ? "iouring" : b == EVBACKEND_EPOLL ? "epoll"
       : b == EVBACKEND_POLL    ? "poll"    : b == EVBACKEND_SELECT ? "select" : "other";
}

/* LOOPS loops at once with the library's own choice of backend, what ev_loop_new(0) gives a
 * program (the same on every backend under test): every one of them works. */
static void many_default_loops_all_work(void **state)
{
  struct ev_loop *loops[LOOPS];
  int on_iouring = 0, on_epoll = 0;
  for (int i = 0; i < LOOPS; i++) {
    loops[i] = ev_loop_new(EVFLAG_NOENV);
    assert_non_null(loops[i]);
    on_iouring += ev_backend(loops[i]) == EVBACKEND_IOURING;
    on_epoll += ev_backend(loops[i]) == EVBACKEND_EPOLL;
    if (!loop_works(loops[i]))
      fail_msg("loop %d (%s) does not report a ready pipe", i,
               backend_name(ev_backend(loops[i])));
  }
  printf("# %d loops: %d on iouring, %d on epoll\n", LOOPS, on_iouring, on_epoll);
  for (int i = 0; i < LOOPS; i++)
    ev_loop_destroy(loops[i]);
}

/* A loop of the backend under test. A ring's locked memory is given back when the kernel
 * frees the closed ring, asynchronously (about 100 ms later measured on 6.18), so a loop
 * made right after others were destroyed may have to wait for it: up to 3 s here. */
static struct ev_loop *patient_loop(void)
{
  for (int i = 0; i < 30; i++) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_NOENV | test_backend());
    if (loop)
      return loop;
    usleep(100000);
  }
  return test_loop(0);
}

/* Asking for the backend under test alone: NULL when it cannot be set up, else a loop of that
 * backend that works. The first one must come (the previous test's rings may still be
 * counted for a moment). */
static void many_loops_of_one_backend_work_or_are_null(void **state)
{
  struct ev_loop *loops[LOOPS];
  int made = 0;
  for (int i = 0; i < LOOPS; i++) {
    loops[i] = i ? ev_loop_new(EVFLAG_NOENV | test_backend()) : patient_loop();
    if (!loops[i])
      continue;
    made++;
    assert_int_equal(ev_backend(loops[i]), test_backend());
    if (!loop_works(loops[i]))
      fail_msg("loop %d does not report a ready pipe", i);
  }
  printf("# %d of %d loops created\n", made, LOOPS);
  assert_true(made > 0);
  for (int i = 0; i < LOOPS; i++)
    if (loops[i])
      ev_loop_destroy(loops[i]);
}

/* FDS ready pipes on one loop while three other loops hold their rings: the ring wants to
 * grow (where RLIMIT_MEMLOCK counts rings, the kernel refuses), and every watcher is still
 * called within a few iterations. */
static void ring_that_cannot_grow_delivers_every_event(void **state)
{
  if (test_backend() == EVBACKEND_SELECT) {
    printf("# skipped: select handles only fds below FD_SETSIZE\n");
    return;
  }
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * FDS + 64) {
    printf("# skipped: RLIMIT_NOFILE hard limit %lu < %d\n", (unsigned long)rl.rlim_max,
           2 * FDS + 64);
    return;
  }
  struct rlimit saved = rl;
  rl.rlim_cur = 2 * FDS + 64;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);

  struct ev_loop *loop = patient_loop();
  struct ev_loop *others[3];
  for (int i = 0; i < 3; i++)
    others[i] = ev_loop_new(EVFLAG_NOENV | test_backend());
  static struct rec recs[FDS];
  static int fds[FDS][2];
  for (int i = 0; i < FDS; i++) {
    make_pipe(fds[i]);
    test_put(fds[i][1], "x");
    recs[i].calls = 0;
    ev_io_init(&recs[i].io, rec_cb, fds[i][0], EV_READ);
    ev_io_start(loop, &recs[i].io);
  }
  int missing = FDS;
  int iterations = 0;
  for (; iterations < 20 && missing; iterations++) {
    ev_run(loop, EVRUN_NOWAIT);
    missing = 0;
    for (int i = 0; i < FDS; i++)
      missing += !recs[i].calls;
  }
  printf("# %d watchers on %s: %d never called after %d iterations\n", FDS,
         test_backend_name(), missing, iterations);
  assert_int_equal(missing, 0);
  for (int i = 0; i < FDS; i++) {
    ev_io_stop(loop, &recs[i].io);
    close(fds[i][0]);
    close(fds[i][1]);
  }
  ev_loop_destroy(loop);
  for (int i = 0; i < 3; i++)
    if (others[i])
      ev_loop_destroy(others[i]);
  setrlimit(RLIMIT_NOFILE, &saved);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(many_default_loops_all_work),
    cmocka_unit_test(many_loops_of_one_backend_work_or_are_null),
    cmocka_unit_test(ring_that_cannot_grow_delivers_every_event),
  };
  return TEST_MAIN("memlock", tests);
}
