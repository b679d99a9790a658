/* clockjump.c - wall-clock jumps: ev_timer runs on the monotonic clock and does not move;
 * ev_now follows the wall clock; interval periodics are rescheduled, absolute ones fire.
 *
 * The test program defines clock_gettime() itself. The library's calls resolve to it (an
 * executable's definition interposes on libc's for every shared object), so the wall clock
 * the library sees can jump without touching the machine's real clock. The first test makes
 * sure the interposition really happens, otherwise the others would prove nothing. */
#include "test.h"

#include <sys/syscall.h>
#include <sys/time.h>

static long long jump_ns; /* added to CLOCK_REALTIME */

int clock_gettime(clockid_t id, struct timespec *ts)
{
  if (syscall(SYS_clock_gettime, id, ts) < 0)
    return -1;
  if (id == CLOCK_REALTIME && jump_ns) {
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + jump_ns;
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
  }
  return 0;
}

/* Debian's libev reads the wall clock with gettimeofday(): shift that too, so that the same
 * test can run against it. */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
    return -1;
  (void)tz;
  tv->tv_sec = ts.tv_sec;
  tv->tv_usec = ts.tv_nsec / 1000;
  return 0;
}

static double real_time(void)
{
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fired;
static void count_timer(struct ev_loop *l, ev_timer *w, int rev)
{
  fired++;
}
static void count_periodic(struct ev_loop *l, ev_periodic *w, int rev)
{
  fired++;
}

static void count_nothing(struct ev_loop *l, ev_timer *w, int rev)
{
}

static int reset(void **state)
{
  jump_ns = 0;
  fired = 0;
  return 0;
}

static void library_sees_the_shifted_wall_clock(void **state)
{
  jump_ns = 3600LL * 1000000000LL;
  assert_near(ev_time() - real_time(), 3600., 0.5);
  jump_ns = 0;
  assert_near(ev_time() - real_time(), 0., 0.5);
}

/* Run until the timer fired, at most `limit` seconds; return the time it took. */
static double run_until_fired(struct ev_loop *l, double limit)
{
  double t0 = mono();
  while (!fired && mono() - t0 < limit)
    ev_run(l, EVRUN_ONCE);
  return mono() - t0;
}

static void timer_ignores_a_wall_clock_jump_forward(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 0.7, 0.);
  ev_timer_start(l, &t);
  jump_ns = 3600LL * 1000000000LL;
  double took = run_until_fired(l, 5.);
  assert_int_equal(fired, 1);
  assert_between(took, 0.65, 2.);
  /* More than half a second passed: ev_now has caught up with the new wall time. */
  assert_near(ev_now(l) - real_time(), 3600., 1.);
  ev_loop_destroy(l);
}

static void timer_ignores_a_wall_clock_jump_backward(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 0.7, 0.);
  ev_timer_start(l, &t);
  jump_ns = -3600LL * 1000000000LL;
  double took = run_until_fired(l, 5.);
  assert_int_equal(fired, 1);
  assert_between(took, 0.65, 2.);
  assert_near(ev_now(l) - real_time(), -3600., 1.);
  ev_loop_destroy(l);
}

/* An interval periodic skips the intervals the jump went past: it is rescheduled to the next
 * multiple after the new time instead of firing for the old one. */
static void interval_periodic_is_rescheduled_after_a_jump(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, 0., 7200., NULL);
  ev_periodic_start(l, &p);
  double before = ev_periodic_at(&p);
  assert_true(before > ev_now(l));

  jump_ns = 7200LL * 1000000000LL + 1000000000LL; /* past the next multiple */
  ev_timer guard;
  ev_timer_init(&guard, count_timer, 0.7, 0.);
  ev_timer_start(l, &guard);
  run_until_fired(l, 5.);
  assert_int_equal(fired, 1); /* the guard timer only */
  assert_true(ev_periodic_at(&p) > ev_now(l));
  assert_true(ev_periodic_at(&p) > before);
  ev_periodic_stop(l, &p);
  ev_loop_destroy(l);
}

/* An absolute periodic fires once the wall clock has passed its time, however it got there. */
static void absolute_periodic_fires_when_a_jump_passes_its_time(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, ev_now(l) + 1800., 0., NULL);
  ev_periodic_start(l, &p);
  jump_ns = 3600LL * 1000000000LL;
  /* A faked jump does not reach the kernel's timerfd: a short repeating timer wakes the loop,
   * whose next wall-clock resynchronisation (every half second) finds the jump. */
  ev_timer wake;
  ev_timer_init(&wake, count_nothing, 0.1, 0.1);
  ev_timer_start(l, &wake);
  double took = run_until_fired(l, 5.);
  assert_int_equal(fired, 1);
  assert_false(ev_is_active(&p));
  assert_true(took < 2.);
  ev_timer_stop(l, &wake);
  ev_loop_destroy(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(library_sees_the_shifted_wall_clock, reset),
    cmocka_unit_test_setup(timer_ignores_a_wall_clock_jump_forward, reset),
    cmocka_unit_test_setup(timer_ignores_a_wall_clock_jump_backward, reset),
    cmocka_unit_test_setup(interval_periodic_is_rescheduled_after_a_jump, reset),
    cmocka_unit_test_setup(absolute_periodic_fires_when_a_jump_passes_its_time, reset),
  };
  return TEST_MAIN("clockjump", tests);
}
