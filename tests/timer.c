/* timer.c - ev_timer and ev_periodic: expiry, repeat, relative/absolute `at`, remaining time,
 * ev_timer_again, heap bookkeeping, expiry order, periodic modes, ev_now_update in callbacks. */
#include "test.h"

#include <time.h>

/* Distance of x (>= 0) from the nearest multiple of m. */
static double dist_to_multiple(double x, double m)
{
  double d = x - m * (double)(long long)(x / m + 0.5);
  return d < 0 ? -d : d;
}

static int ncalls, last_rev;
static double now_in_cb, mono_in_cb;
static void count_timer(struct ev_loop *l, ev_timer *w, int rev)
{
  ncalls++;
  last_rev = rev;
  now_in_cb = ev_now(l);
  mono_in_cb = mono();
}
static void count_periodic(struct ev_loop *l, ev_periodic *w, int rev)
{
  ncalls++;
  last_rev = rev;
  now_in_cb = ev_now(l);
}

/* Stops the loop if a test hangs. */
static int guard_fired;
static void guard_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  guard_fired = 1;
  ev_break(l, EVBREAK_ALL);
}

/* ------------------------------------------------------------------------------------------ */
/* expiry                                                                                     */

static void timer_fires_only_after_more_than_its_delay(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  /* m0 is read before the loop's clock, so the timer's delay is a lower bound of the wait
   * measured from it whatever the scheduler does between the two reads. */
  double m0 = mono();
  ev_now_update(l);
  double n0 = ev_now(l);
  ev_timer_init(&t, count_timer, 0.05, 0.);
  ev_timer_start(l, &t);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_TIMER);
  assert_between(now_in_cb - n0, 0.05 + 1e-9, 2.);
  assert_between(mono_in_cb - m0, 0.05 + 1e-9, 2.);
  ev_loop_destroy(l);
}

static void timer_does_not_fire_before_its_delay(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  ev_now_update(l);
  ev_timer_init(&t, count_timer, 0.2, 0.);
  ev_timer_start(l, &t);
  usleep(100000);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 0);
  assert_true(ev_is_active(&t));
  assert_between(ev_timer_remaining(l, &t), 0.01, 0.1);
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

static void timer_delay_counts_from_the_cached_now(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  ev_now_update(l);
  usleep(60000); /* ev_now is now 60 ms stale */
  ev_timer_init(&t, count_timer, 0.05, 0.);
  ev_timer_start(l, &t);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_loop_destroy(l);
}

static int cb_active, cb_pending;
static void oneshot_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  ncalls++;
  last_rev = rev;
  cb_active = ev_is_active(w);
  cb_pending = ev_is_pending(w);
}

static void one_shot_timer_is_stopped_before_its_callback(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  cb_active = cb_pending = -1;
  ev_timer_init(&t, oneshot_cb, 0.01, 0.);
  ev_timer_start(l, &t);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_TIMER);
  assert_int_equal(cb_active, 0);
  assert_int_equal(cb_pending, 0);
  assert_false(ev_is_active(&t));
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* repeat                                                                                     */

static double rep_first, rep_last;
static int rep_active_in_cb;
static void repeat_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  if (!ncalls)
    rep_first = ev_now(l);
  rep_last = ev_now(l);
  rep_active_in_cb &= ev_is_active(w) != 0;
  usleep(15000); /* slow callback: must not delay later expiries */
  if (++ncalls == 8)
    ev_timer_stop(l, w);
}

static void repeating_timer_is_rearmed_without_drift(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  rep_active_in_cb = 1;
  ev_now_update(l);
  double n0 = ev_now(l);
  ev_timer_init(&t, repeat_cb, 0.03, 0.03);
  ev_timer_start(l, &t);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(ncalls, 8);
  assert_int_equal(rep_active_in_cb, 1);
  /* 8 expiries at 0.03 s steps: 0.24 s; with 15 ms drift per callback it would be >= 0.36 s */
  assert_between(rep_last - n0, 0.24, 0.30);
  assert_between(rep_first - n0, 0.03, 0.08);
  ev_loop_destroy(l);
}

static void repeating_timer_fires_at_most_once_per_iteration(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  ev_now_update(l);
  ev_timer_init(&t, count_timer, 0.01, 0.01);
  ev_timer_start(l, &t);
  usleep(100000); /* ten periods overdue */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  assert_true(ev_is_active(&t));
  assert_between(ev_timer_remaining(l, &t), -0.001, latency(0.01));
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* at / remaining                                                                             */

static void at_is_relative_while_inactive(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 3., 0.);
  assert_true(t.at == 3.);
  ev_timer_set(&t, 5., 7.);
  assert_true(t.at == 5.);
  assert_true(t.repeat == 7.);
  assert_true(ev_timer_remaining(l, &t) == 5.);
  ev_loop_destroy(l);
}

static void stop_converts_at_back_to_the_remaining_time(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_now_update(l);
  ev_timer_init(&t, count_timer, 10., 0.);
  ev_timer_start(l, &t);
  usleep(200000);
  ev_now_update(l);
  ev_timer_stop(l, &t);
  assert_between(t.at, 9.7, 9.8001);
  double left = t.at;
  ev_timer_start(l, &t); /* continues with the remainder */
  assert_near(ev_timer_remaining(l, &t), left, 1e-6);
  ev_timer_stop(l, &t);
  assert_near(t.at, left, 1e-6);
  ev_loop_destroy(l);
}

static void remaining_is_time_left_when_active_and_at_when_inactive(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 10., 0.);
  assert_true(ev_timer_remaining(l, &t) == 10.);
  ev_timer_start(l, &t);
  assert_near(ev_timer_remaining(l, &t), 10., 1e-6);
  usleep(100000);
  assert_near(ev_timer_remaining(l, &t), 10., 1e-6); /* ev_now not updated yet */
  ev_now_update(l);
  assert_between(ev_timer_remaining(l, &t), 9.7, 9.9001);
  ev_timer_stop(l, &t);
  ev_timer_set(&t, 5., 7.);
  assert_true(ev_timer_remaining(l, &t) == 5.);
  ev_loop_destroy(l);
}

static void expired_one_shot_restarted_fires_immediately(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  ev_timer_init(&t, count_timer, 0.01, 0.);
  ev_timer_start(l, &t);
  ev_run(l, 0);
  assert_int_equal(ncalls, 1);
  assert_true(t.at <= 0.);
  ev_timer_start(l, &t);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 2);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_timer_again                                                                             */

static void again_on_inactive_timer_without_repeat_leaves_it_inactive(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 3., 0.);
  ev_timer_again(l, &t);
  assert_false(ev_is_active(&t));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);
}

static void again_on_inactive_timer_with_repeat_starts_it_with_repeat(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 3., 4.);
  ev_timer_again(l, &t);
  assert_true(ev_is_active(&t));
  assert_near(ev_timer_remaining(l, &t), 4., 1e-6);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

static void again_on_active_timer_restarts_it_with_repeat(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 10., 3.);
  ev_timer_start(l, &t);
  usleep(50000);
  ev_now_update(l);
  ev_timer_again(l, &t);
  assert_true(ev_is_active(&t));
  assert_near(ev_timer_remaining(l, &t), 3., 1e-6);
  assert_true(t.repeat == 3.);
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

static void again_on_active_timer_without_repeat_stops_it(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ev_timer_init(&t, count_timer, 3., 4.);
  ev_timer_again(l, &t);
  assert_true(ev_is_active(&t));
  t.repeat = 0.;
  ev_timer_again(l, &t);
  assert_false(ev_is_active(&t));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);
}

static void again_clears_pending(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  ncalls = 0;
  ev_timer_init(&t, count_timer, 3., 0.);
  ev_feed_event(l, &t, EV_TIMER);
  assert_true(ev_is_pending(&t));
  ev_timer_again(l, &t); /* inactive, repeat 0 */
  assert_false(ev_is_pending(&t));
  assert_false(ev_is_active(&t));

  ev_timer_init(&t, count_timer, 3., 5.);
  ev_timer_start(l, &t);
  ev_feed_event(l, &t, EV_TIMER);
  ev_timer_again(l, &t); /* active, repeat 5 */
  assert_false(ev_is_pending(&t));
  assert_true(ev_is_active(&t));
  assert_near(ev_timer_remaining(l, &t), 5., 1e-6);
  ev_invoke_pending(l);
  assert_int_equal(ncalls, 0);
  ev_timer_stop(l, &t);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* heap and expiry order                                                                      */

static void timer_active_values_follow_the_4ary_heap(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t1, t2, t3;
  ev_timer_init(&t1, count_timer, 10., 0.);
  ev_timer_init(&t2, count_timer, 20., 0.);
  ev_timer_init(&t3, count_timer, 5., 0.);
  ev_timer_start(l, &t1);
  assert_int_equal(t1.active, 3);
  ev_timer_start(l, &t2);
  ev_timer_start(l, &t3);
  assert_int_equal(t1.active, 5);
  assert_int_equal(t2.active, 4);
  assert_int_equal(t3.active, 3);
  ev_timer_stop(l, &t1);
  ev_timer_stop(l, &t2);
  ev_timer_stop(l, &t3);
  assert_int_equal(t1.active | t2.active | t3.active, 0);
  ev_loop_destroy(l);
}

enum { NMANY = 2000 };
static ev_timer many[NMANY];
static double many_delay[NMANY];
static int many_order[NMANY], nmany;
static void many_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  if (nmany < NMANY)
    many_order[nmany++] = (int)(w - many);
}

static void many_timers_fire_in_expiry_order(void **state)
{
  struct ev_loop *l = test_loop(0);
  srand(1234);
  nmany = 0;
  for (int i = 0; i < NMANY; i++) {
    many_delay[i] = (rand() % 50000) / 1e6;
    ev_timer_init(&many[i], many_cb, many_delay[i], 0.);
    ev_timer_start(l, &many[i]);
  }
  /* stop a few again, so that removal from the middle of the heap is exercised too */
  for (int i = 0; i < NMANY; i += 7)
    ev_timer_stop(l, &many[i]);
  int expected = NMANY - (NMANY + 6) / 7;
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(nmany, expected);
  for (int k = 1; k < nmany; k++)
    if (many_delay[many_order[k]] < many_delay[many_order[k - 1]])
      fail_msg("timer %d (%.6f s) ran after timer %d (%.6f s)", many_order[k],
               many_delay[many_order[k]], many_order[k - 1], many_delay[many_order[k - 1]]);
  for (int k = 0; k < nmany; k++)
    assert_int_not_equal(many_order[k] % 7, 0);
  ev_loop_destroy(l);
}

static const char *order[8];
static unsigned int order_iter[8];
static int norder;
static void order_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  if (norder < 8) {
    order_iter[norder] = ev_iteration(l);
    order[norder++] = w->data;
  }
}

static void timers_expiring_together_run_earliest_first(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer a, b, c;
  norder = 0;
  ev_timer_init(&a, order_cb, 0.03, 0.);
  a.data = "30ms";
  ev_timer_init(&b, order_cb, 0.01, 0.);
  b.data = "10ms";
  ev_timer_init(&c, order_cb, 0.02, 0.);
  c.data = "20ms";
  ev_timer_start(l, &a);
  ev_timer_start(l, &b);
  ev_timer_start(l, &c);
  usleep(50000);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(norder, 3);
  assert_string_equal(order[0], "10ms");
  assert_string_equal(order[1], "20ms");
  assert_string_equal(order[2], "30ms");
  assert_int_equal(order_iter[0], 1);
  assert_int_equal(order_iter[2], 1);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_periodic                                                                                */

static int pcb_active = -1;
static void periodic_oneshot_cb(struct ev_loop *l, ev_periodic *w, int rev)
{
  ncalls++;
  last_rev = rev;
  now_in_cb = ev_now(l);
  pcb_active = ev_is_active(w);
}

static void periodic_absolute_fires_once_at_offset(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ncalls = 0;
  ev_now_update(l);
  double at = ev_now(l) + 0.05;
  ev_periodic_init(&p, periodic_oneshot_cb, at, 0., 0);
  ev_periodic_start(l, &p);
  assert_true(ev_periodic_at(&p) == at);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_PERIODIC);
  assert_int_equal(pcb_active, 0);
  assert_true(now_in_cb > at);
  assert_true(ev_time() >= at);
  ev_loop_destroy(l);
}

static void periodic_absolute_at_equals_offset(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, 1e10, 0., 0);
  ev_periodic_start(l, &p);
  assert_true(ev_periodic_at(&p) == 1e10);
  assert_true(p.offset == 1e10);
  ev_periodic_stop(l, &p);
  ev_loop_destroy(l);
}

static void periodic_interval_next_time_is_future_and_congruent_to_offset(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, 1800.5, 3600., 0);
  ev_periodic_start(l, &p);
  double at = ev_periodic_at(&p), n = ev_now(l);
  assert_true(at > n);
  assert_true(at <= n + 3600.);
  assert_near(dist_to_multiple(at - 1800.5, 3600.), 0., 1e-3);
  assert_true(p.offset == 1800.5);
  assert_true(p.interval == 3600.);
  ev_periodic_stop(l, &p);
  ev_loop_destroy(l);
}

static ev_tstamp resched_1000(ev_periodic *w, ev_tstamp now) { return now + 1000.; }

static void periodic_reschedule_cb_sets_the_next_time(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, 0., 0., resched_1000);
  ev_periodic_start(l, &p);
  assert_near(ev_periodic_at(&p) - ev_now(l), 1000., 1e-6);
  ev_periodic_stop(l, &p);
  ev_loop_destroy(l);
}

static int resched_calls;
static ev_tstamp resched_20ms(ev_periodic *w, ev_tstamp now)
{
  resched_calls++;
  return now + 0.02;
}
static int periodic_future_in_cb;
static void periodic_repeat_cb(struct ev_loop *l, ev_periodic *w, int rev)
{
  ncalls++;
  last_rev = rev;
  periodic_future_in_cb &= ev_periodic_at(w) > ev_now(l) && ev_is_active(w);
  if (ncalls == 5)
    ev_periodic_stop(l, w);
}

static void periodic_with_reschedule_cb_fires_repeatedly(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_timer guard;
  ncalls = resched_calls = guard_fired = 0;
  periodic_future_in_cb = 1;
  ev_periodic_init(&p, periodic_repeat_cb, 0., 0., resched_20ms);
  ev_periodic_start(l, &p);
  ev_timer_init(&guard, guard_cb, 3., 0.);
  ev_timer_start(l, &guard);
  ev_unref(l);
  double t0 = mono();
  ev_run(l, 0);
  ev_ref(l);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(ncalls, 5);
  assert_int_equal(last_rev, EV_PERIODIC);
  assert_int_equal(periodic_future_in_cb, 1);
  assert_true(resched_calls >= 6); /* at start, then once per expiry */
  assert_between(mono() - t0, 0.09, 2.);
  ev_timer_stop(l, &guard);
  ev_loop_destroy(l);
}

static int periodic_congruent_in_cb;
static void periodic_interval_cb(struct ev_loop *l, ev_periodic *w, int rev)
{
  ncalls++;
  last_rev = rev;
  periodic_future_in_cb &= ev_periodic_at(w) > ev_now(l) && ev_is_active(w);
  periodic_congruent_in_cb &= dist_to_multiple(ev_periodic_at(w), 0.02) < 1e-4;
  if (ncalls == 5)
    ev_periodic_stop(l, w);
}

static void short_interval_periodic_fires_repeatedly(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_timer guard;
  ncalls = guard_fired = 0;
  periodic_future_in_cb = periodic_congruent_in_cb = 1;
  ev_periodic_init(&p, periodic_interval_cb, 0., 0.02, 0);
  ev_periodic_start(l, &p);
  ev_timer_init(&guard, guard_cb, 3., 0.);
  ev_timer_start(l, &guard);
  ev_unref(l);
  double t0 = mono();
  ev_run(l, 0);
  ev_ref(l);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(ncalls, 5);
  assert_int_equal(last_rev, EV_PERIODIC);
  assert_int_equal(periodic_future_in_cb, 1);
  assert_int_equal(periodic_congruent_in_cb, 1);
  assert_between(mono() - t0, 0.07, 2.);
  ev_timer_stop(l, &guard);
  ev_loop_destroy(l);
}

static void periodic_again_recomputes_the_next_time(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_periodic p;
  ev_periodic_init(&p, count_periodic, 1e10, 0., 0);
  ev_periodic_again(l, &p); /* inactive: starts it */
  assert_true(ev_is_active(&p));
  assert_true(ev_periodic_at(&p) == 1e10);
  p.offset = 2e10;
  ev_periodic_again(l, &p);
  assert_true(ev_is_active(&p));
  assert_true(ev_periodic_at(&p) == 2e10);
  ev_periodic_set(&p, 0., 3600., 0);
  ev_periodic_again(l, &p);
  double at = ev_periodic_at(&p);
  assert_true(at > ev_now(l) && at <= ev_now(l) + 3600.);
  assert_near(dist_to_multiple(at, 3600.), 0., 1e-3);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  ev_periodic_stop(l, &p);
  ev_loop_destroy(l);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_now_update in callbacks                                                                 */

static ev_timer second_t;
static double now_at_second_start, second_now;
static unsigned int first_iter, second_iter;
static void second_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  second_now = ev_now(l);
  second_iter = ev_iteration(l);
}
static void first_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  first_iter = ev_iteration(l);
  usleep(30000);
  ev_now_update(l);
  now_at_second_start = ev_now(l);
  ev_timer_start(l, &second_t);
}

static void timer_started_after_now_update_waits_its_full_delay(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  second_now = 0.;
  ev_timer_init(&t, first_cb, 0., 0.);
  ev_timer_init(&second_t, second_cb, 0.02, 0.);
  ev_timer_start(l, &t);
  ev_run(l, 0);
  assert_true(second_now - now_at_second_start > 0.02);
  assert_true(second_iter > first_iter);
  ev_loop_destroy(l);
}

static int upd_calls;
static double upd_now[4];
static void update_repeat_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  usleep(10000);
  ev_now_update(l);
  upd_now[upd_calls++] = ev_now(l);
  if (upd_calls == 4)
    ev_timer_stop(l, w);
  else
    ev_timer_again(l, w);
}

static void timer_again_after_now_update_counts_from_the_updated_now(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_timer t;
  upd_calls = 0;
  ev_timer_init(&t, update_repeat_cb, 0., 0.03);
  ev_timer_start(l, &t);
  ev_run(l, 0);
  assert_int_equal(upd_calls, 4);
  /* each restart after the update: gaps >= 0.03 + 0.01 (callback's own sleep) */
  for (int i = 1; i < 4; i++)
    assert_between(upd_now[i] - upd_now[i - 1], 0.04, 1.);
  ev_loop_destroy(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(timer_fires_only_after_more_than_its_delay),
    cmocka_unit_test(timer_does_not_fire_before_its_delay),
    cmocka_unit_test(timer_delay_counts_from_the_cached_now),
    cmocka_unit_test(one_shot_timer_is_stopped_before_its_callback),
    cmocka_unit_test(repeating_timer_is_rearmed_without_drift),
    cmocka_unit_test(repeating_timer_fires_at_most_once_per_iteration),
    cmocka_unit_test(at_is_relative_while_inactive),
    cmocka_unit_test(stop_converts_at_back_to_the_remaining_time),
    cmocka_unit_test(remaining_is_time_left_when_active_and_at_when_inactive),
    cmocka_unit_test(expired_one_shot_restarted_fires_immediately),
    cmocka_unit_test(again_on_inactive_timer_without_repeat_leaves_it_inactive),
    cmocka_unit_test(again_on_inactive_timer_with_repeat_starts_it_with_repeat),
    cmocka_unit_test(again_on_active_timer_restarts_it_with_repeat),
    cmocka_unit_test(again_on_active_timer_without_repeat_stops_it),
    cmocka_unit_test(again_clears_pending),
    cmocka_unit_test(timer_active_values_follow_the_4ary_heap),
    cmocka_unit_test(many_timers_fire_in_expiry_order),
    cmocka_unit_test(timers_expiring_together_run_earliest_first),
    cmocka_unit_test(periodic_absolute_fires_once_at_offset),
    cmocka_unit_test(periodic_absolute_at_equals_offset),
    cmocka_unit_test(periodic_interval_next_time_is_future_and_congruent_to_offset),
    cmocka_unit_test(periodic_reschedule_cb_sets_the_next_time),
    cmocka_unit_test(periodic_with_reschedule_cb_fires_repeatedly),
    cmocka_unit_test(short_interval_periodic_fires_repeatedly),
    cmocka_unit_test(periodic_again_recomputes_the_next_time),
    cmocka_unit_test(timer_started_after_now_update_waits_its_full_delay),
    cmocka_unit_test(timer_again_after_now_update_counts_from_the_updated_now),
  };
  return TEST_MAIN("timer", tests);
}
