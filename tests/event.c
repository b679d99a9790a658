/* event.c - the libevent emulation (event.h): event_set/add/del/pending and ev_flags, timer,
 * fd and signal events, event_active, event_once, event_loopexit, explicit bases, versions.
 *
 * The libevent API has no backend choice, so main() sets LIBEV_FLAGS to the backend under
 * test before the first base is created; event_init and event_base_new then use it. */
#include "test.h"

#include <dlfcn.h>
#include <signal.h>
#include <event.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

static int ncalls, last_fd;
static short last_events;
static void *last_arg;

static void count_cb(int fd, short events, void *arg)
{
  ncalls++;
  last_fd = fd;
  last_events = events;
  last_arg = arg;
}

static void reset_calls(void)
{
  ncalls = 0;
  last_fd = -100;
  last_events = 0;
  last_arg = NULL;
}

/* What a callback saw of its own event. */
static int seen_flags, seen_pending;
static void inspect_cb(int fd, short events, void *arg)
{
  struct event *ev = arg;

  count_cb(fd, events, arg);
  seen_flags = ev->ev_flags;
  seen_pending = event_pending(ev, EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL, NULL);
}

/* The base of the first event_init call: the default loop. Tests call event_init only through
 * here, except later_event_init_calls_create_new_current_bases, which runs last. */
static struct event_base *base(void)
{
  static struct event_base *first;

  if (!first)
    first = event_init();
  return first;
}

static void close_pipe(int p[2])
{
  close(p[0]);
  close(p[1]);
}

/* Run the current base one blocking iteration at a time until *counter reaches want; EVLOOP_ONCE
 * may return after an internal wake-up without calling anything. */
static void run_until(const int *counter, int want)
{
  for (int i = 0; i < 200 && *counter < want; i++)
    event_loop(EVLOOP_ONCE);
  assert_int_equal(*counter, want);
}

static struct timeval msec(long ms)
{
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return tv;
}

/* ------------------------------------------------------------------------------------------ */
/* versions and bases                                                                         */

static void versions_and_method_strings(void **state)
{
  assert_string_equal(event_get_version(), "4.33");
  assert_string_equal(event_get_method(), "libev");
  assert_string_equal(event_base_get_method(base()), "libev");
}

static void event_init_first_returns_the_default_loop(void **state)
{
  struct ev_loop *loop = (struct ev_loop *)base();

  assert_non_null(loop);
  assert_ptr_equal(loop, ev_default_loop(0));
  assert_true(ev_is_default_loop(loop));
  assert_int_equal(ev_backend(loop), test_backend());
}

static void event_base_new_creates_a_separate_loop_and_free_destroys_it(void **state)
{
  struct event_base *nb = event_base_new();
  struct event ev;
  struct timeval tv = msec(10);

  assert_non_null(nb);
  assert_ptr_not_equal(nb, base());
  assert_false(ev_is_default_loop((struct ev_loop *)nb));
  assert_int_equal(ev_backend((struct ev_loop *)nb), test_backend());
  assert_string_equal(event_base_get_method(nb), "libev");

  /* An event bound to the new base runs there, not in the current base. */
  reset_calls();
  evtimer_set(&ev, count_cb, &ev);
  assert_ptr_equal(ev.ev_base, base());
  assert_int_equal(event_base_set(nb, &ev), 0);
  assert_ptr_equal(ev.ev_base, nb);
  assert_int_equal(evtimer_add(&ev, &tv), 0);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 0);
  assert_int_equal(event_base_dispatch(nb), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_events, EV_TIMEOUT);

  /* event_base_once and event_base_loopexit on the explicit base. */
  reset_calls();
  assert_int_equal(event_base_once(nb, -1, EV_TIMEOUT, count_cb, &tv, &tv), 0);
  assert_int_equal(event_base_loop(nb, 0), 1);
  assert_int_equal(ncalls, 1);
  assert_ptr_equal(last_arg, &tv);
  assert_int_equal(event_base_loopexit(nb, NULL), 0);
  assert_int_equal(event_base_loop(nb, 0), 1);

  event_base_free(nb);
}

static void event_base_free_keeps_the_default_loop(void **state)
{
  struct event_base *b = base();

  event_base_free(b);
  assert_ptr_equal(ev_default_loop_uc_(), (struct ev_loop *)b);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
}

static void priorities_are_accepted_and_only_stored(void **state)
{
  struct event ev;

  assert_int_equal(event_priority_init(3), 0);
  assert_int_equal(event_base_priority_init(base(), 3), 0);
  event_set(&ev, -1, 0, count_cb, NULL);
  assert_int_equal(event_priority_set(&ev, 2), 0);
  assert_int_equal(ev.ev_pri, 2);
  event_set(&ev, -1, 0, count_cb, NULL);
  assert_int_equal(ev.ev_pri, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* event_set / event_add / event_del and ev_flags                                             */

static void event_set_initialises_the_event(void **state)
{
  struct event ev;
  int p[2];

  make_pipe(p);
  memset(&ev, 0x55, sizeof ev);
  event_set(&ev, p[0], EV_READ, count_cb, &ev);
  assert_int_equal(ev.ev_flags, EVLIST_INIT);
  assert_int_equal(ev.ev_flags, 0x80);
  assert_true(event_initialized(&ev));
  assert_int_equal(ev.ev_fd, p[0]);
  assert_int_equal(EVENT_FD(&ev), p[0]);
  assert_int_equal(ev.ev_events, EV_READ);
  assert_int_equal(ev.ev_pri, 0);
  assert_int_equal(ev.ev_res, 0);
  assert_ptr_equal(ev.ev_arg, &ev);
  assert_ptr_equal(ev.ev_base, base());
  assert_true(event_get_callback(&ev) == count_cb);
  assert_int_equal(event_pending(&ev, EV_READ | EV_WRITE | EV_TIMEOUT, NULL), 0);
  close_pipe(p);
}

static void event_add_of_an_fd_event_sets_inserted_and_active(void **state)
{
  struct event ev;
  int p[2];

  make_pipe(p);
  event_set(&ev, p[0], EV_READ, count_cb, NULL);
  assert_int_equal(event_add(&ev, NULL), 0);
  assert_int_equal(ev.ev_flags, EVLIST_INIT | EVLIST_ACTIVE | EVLIST_INSERTED);
  assert_int_equal(ev.ev_flags, 0x8a);
  assert_int_equal(event_pending(&ev, EV_READ | EV_WRITE | EV_TIMEOUT, NULL), EV_READ);
  assert_int_equal(event_pending(&ev, EV_WRITE, NULL), 0);
  assert_int_equal(event_del(&ev), 0);
  close_pipe(p);
}

static void event_add_with_a_timeout_sets_evlist_timeout(void **state)
{
  struct event ev;
  struct timeval tv = msec(1500), at;
  struct ev_loop *loop = (struct ev_loop *)base();
  int p[2];

  make_pipe(p);
  event_set(&ev, p[0], EV_READ, count_cb, NULL);
  assert_int_equal(event_add(&ev, &tv), 0);
  assert_int_equal(ev.ev_flags, 0x8b);
  assert_int_equal(event_pending(&ev, EV_READ | EV_WRITE | EV_TIMEOUT, &at), EV_READ | EV_TIMEOUT);

  double now = ev_now(loop);

  /* Adding again without a timeout removes it. */
  assert_int_equal(event_add(&ev, NULL), 0);
  assert_int_equal(ev.ev_flags, 0x8a);
  assert_int_equal(event_pending(&ev, EV_READ | EV_TIMEOUT, NULL), EV_READ);
  assert_int_equal(event_del(&ev), 0);
  close_pipe(p);

  /* tv received ev_now(), not the expiry time (libev's emulation, unlike libevent). */
  assert_true(at.tv_usec >= 0 && at.tv_usec < 1000000);
  assert_near(at.tv_sec + at.tv_usec * 1e-6, now, 2e-6);
}

static void event_add_of_a_timer_and_a_signal_event(void **state)
{
  struct event t, s;
  struct timeval tv = msec(1000);

  evtimer_set(&t, count_cb, NULL);
  assert_int_equal(t.ev_fd, -1);
  assert_int_equal(t.ev_events, 0);
  assert_int_equal(evtimer_add(&t, &tv), 0);
  assert_int_equal(t.ev_flags, EVLIST_INIT | EVLIST_ACTIVE | EVLIST_TIMEOUT);
  assert_int_equal(evtimer_pending(&t, NULL), EV_TIMEOUT);
  assert_int_equal(evtimer_del(&t), 0);
  assert_int_equal(t.ev_flags, EVLIST_INIT);

  /* A timer event added without a timeout is "active" but waits for nothing. */
  assert_int_equal(evtimer_add(&t, NULL), 0);
  assert_int_equal(t.ev_flags, EVLIST_INIT | EVLIST_ACTIVE);
  assert_int_equal(evtimer_pending(&t, NULL), 0);
  assert_int_equal(evtimer_del(&t), 0);

  signal_set(&s, SIGUSR1, count_cb, NULL);
  assert_int_equal(s.ev_events, EV_SIGNAL | EV_PERSIST);
  assert_int_equal(EVENT_SIGNAL(&s), SIGUSR1);
  assert_int_equal(signal_add(&s, NULL), 0);
  assert_int_equal(s.ev_flags, EVLIST_INIT | EVLIST_ACTIVE | EVLIST_SIGNAL);
  assert_int_equal(signal_pending(&s, NULL), EV_SIGNAL);
  assert_int_equal(signal_del(&s), 0);
  assert_int_equal(s.ev_flags, EVLIST_INIT);
  assert_int_equal(signal_pending(&s, NULL), 0);
}

static void event_del_returns_to_the_initial_state(void **state)
{
  struct event ev;
  struct timeval tv = msec(1000);
  int p[2];

  make_pipe(p);
  event_set(&ev, p[0], EV_READ, count_cb, NULL);
  assert_int_equal(event_del(&ev), 0); /* not added: fine */
  assert_int_equal(ev.ev_flags, 0x80);
  assert_int_equal(event_add(&ev, &tv), 0);
  assert_int_equal(event_del(&ev), 0);
  assert_int_equal(ev.ev_flags, 0x80);
  assert_int_equal(event_pending(&ev, EV_READ | EV_WRITE | EV_TIMEOUT, NULL), 0);
  assert_int_equal(event_del(&ev), 0);
  assert_int_equal(ev.ev_flags, 0x80);

  /* Nothing is left in the loop. */
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  close_pipe(p);
}

/* libev's event_pending: EV_TIMEOUT whenever the event was set with EV_TIMEOUT in its events,
 * added or not, or has an armed timeout; tv then receives ev_now(). */
static void event_pending_timeout_follows_ev_events_and_reports_ev_now(void **state)
{
  struct event ev;
  struct timeval tv;
  struct ev_loop *loop = (struct ev_loop *)base();
  int p[2];

  make_pipe(p);
  event_set(&ev, p[0], EV_READ | EV_TIMEOUT, count_cb, NULL);
  memset(&tv, 0, sizeof tv);
  assert_int_equal(event_pending(&ev, EV_READ | EV_TIMEOUT, &tv), EV_TIMEOUT);
  assert_near(tv.tv_sec + tv.tv_usec * 1e-6, ev_now(loop), 2e-6);

  /* Without EV_TIMEOUT in its events, a timer event that is not added waits for nothing. */
  evtimer_set(&ev, count_cb, NULL);
  assert_int_equal(event_pending(&ev, EV_TIMEOUT, NULL), 0);
  close_pipe(p);
}

/* ------------------------------------------------------------------------------------------ */
/* events firing                                                                              */

static void timer_event_fires_once_with_ev_timeout(void **state)
{
  struct event ev;
  struct timeval tv = msec(20);

  reset_calls();
  evtimer_set(&ev, count_cb, &ev);
  evtimer_add(&ev, &tv);
  /* event_loop returns 1 once no event is left. */
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_fd, -1);
  assert_int_equal(last_events, EV_TIMEOUT);
  assert_ptr_equal(last_arg, &ev);
  assert_int_equal(ev.ev_res, EV_TIMEOUT);
  assert_int_equal(ev.ev_flags, 0x80);
}

static void zero_timeout_fires_in_the_next_iteration(void **state)
{
  struct event ev;
  struct timeval zero = {0, 0};

  reset_calls();
  evtimer_set(&ev, count_cb, NULL);
  evtimer_add(&ev, &zero);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 1);
}

static void fd_event_fires_and_is_deleted_unless_persistent(void **state)
{
  struct event ev;
  struct timeval tv = msec(5000);
  int p[2];

  make_pipe(p);
  reset_calls();
  event_set(&ev, p[0], EV_READ, inspect_cb, &ev);
  event_add(&ev, &tv);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_fd, p[0]);
  assert_int_equal(last_events, EV_READ);
  assert_int_equal(ev.ev_res, EV_READ);
  /* Deleted (timeout included) before the callback ran. */
  assert_int_equal(seen_flags, 0x80);
  assert_int_equal(seen_pending, 0);
  close_pipe(p);
}

static void persistent_fd_event_stays_added(void **state)
{
  struct event ev;
  struct timeval tv = msec(5000);
  int p[2];

  make_pipe(p);
  reset_calls();
  event_set(&ev, p[0], EV_READ | EV_PERSIST, inspect_cb, &ev);
  event_add(&ev, &tv);
  assert_int_equal(write(p[1], "x", 1), 1);
  run_until(&ncalls, 1);
  assert_int_equal(seen_flags, 0x8b);
  assert_int_equal(seen_pending, EV_READ | EV_TIMEOUT);
  /* Still readable: called again. */
  run_until(&ncalls, 2);
  assert_int_equal(ev.ev_flags, 0x8b);
  assert_int_equal(event_del(&ev), 0);
  close_pipe(p);
}

static void timeout_deletes_a_persistent_fd_event(void **state)
{
  struct event ev;
  struct timeval tv = msec(20);
  int p[2];

  make_pipe(p);
  reset_calls();
  event_set(&ev, p[0], EV_READ | EV_PERSIST, inspect_cb, &ev);
  event_add(&ev, &tv);
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_events, EV_TIMEOUT);
  assert_int_equal(seen_flags, 0x80);
  assert_int_equal(ev.ev_flags, 0x80);
  close_pipe(p);
}

static void write_event_ignores_ev_et(void **state)
{
  struct event ev;
  int p[2];

  make_pipe(p);
  reset_calls();
  event_set(&ev, p[1], EV_WRITE | EV_ET, count_cb, NULL);
  event_add(&ev, NULL);
  assert_int_equal(ev.ev_flags, 0x8a);
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_events, EV_WRITE);
  close_pipe(p);
}

static void signal_event_fires_and_stays_added(void **state)
{
  struct event ev;

  reset_calls();
  signal_set(&ev, SIGUSR1, count_cb, &ev);
  signal_add(&ev, NULL);
  raise(SIGUSR1);
  run_until(&ncalls, 1);
  assert_int_equal(last_fd, SIGUSR1);
  assert_int_equal(last_events, EV_SIGNAL);
  assert_int_equal(ev.ev_flags, 0x8c);

  /* Without EV_PERSIST too, as in libev. */
  signal_del(&ev);
  event_set(&ev, SIGUSR2, EV_SIGNAL, count_cb, &ev);
  event_add(&ev, NULL);
  raise(SIGUSR2);
  run_until(&ncalls, 2);
  assert_int_equal(last_fd, SIGUSR2);
  assert_int_equal(ev.ev_flags, 0x8c);
  event_del(&ev);
  assert_int_equal(ev.ev_flags, 0x80);
}

static void event_active_feeds_the_given_events(void **state)
{
  struct event ev;
  int p[2];

  make_pipe(p);
  reset_calls();
  event_set(&ev, p[0], EV_READ, inspect_cb, &ev);
  event_active(&ev, EV_WRITE, 1);
  /* Not added, but now pending. */
  assert_int_equal(ev.ev_flags, 0x80);
  assert_int_equal(event_pending(&ev, EV_READ | EV_WRITE, NULL), EV_READ);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_events, EV_WRITE);
  assert_int_equal(ev.ev_res, EV_WRITE);

  /* event_del takes back a fed fd event. */
  event_active(&ev, EV_READ, 1);
  event_del(&ev);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 1);

  /* A timeout is delivered separately from the fd events. */
  event_active(&ev, EV_READ | EV_WRITE | EV_TIMEOUT, 1);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 3);
  close_pipe(p);
}

/* ------------------------------------------------------------------------------------------ */
/* event_once and event_loopexit                                                              */

static void event_once_timer_fires_once(void **state)
{
  struct timeval tv = msec(10);
  int arg;

  reset_calls();
  assert_int_equal(event_once(-1, EV_TIMEOUT, count_cb, &arg, &tv), 0);
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_fd, -1);
  assert_int_equal(last_events, EV_TIMEOUT);
  assert_ptr_equal(last_arg, &arg);
}

static void event_once_fd_fires_once(void **state)
{
  int p[2];

  make_pipe(p);
  reset_calls();
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(event_once(p[0], EV_READ, count_cb, NULL, NULL), 0);
  assert_int_equal(event_loop(0), 1);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_fd, p[0]);
  assert_int_equal(last_events, EV_READ);
  close_pipe(p);
}

static void event_once_without_fd_or_timeout_never_fires(void **state)
{
  reset_calls();
  assert_int_equal(event_once(-1, EV_TIMEOUT, count_cb, NULL, NULL), 0);
  assert_int_equal(event_loop(EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 0);
}

static void event_loopexit_ends_the_loop(void **state)
{
  struct event ev;
  struct timeval tv = msec(20), lng = msec(5000);
  double t0 = ev_time();

  reset_calls();
  evtimer_set(&ev, count_cb, NULL);
  evtimer_add(&ev, &lng);
  assert_int_equal(event_loopexit(&tv), 0);
  /* An event is still added, so event_loop reports 0. */
  assert_int_equal(event_loop(0), 0);
  assert_true(ev_time() - t0 < 2.);
  assert_int_equal(ncalls, 0);
  assert_int_equal(ev.ev_flags, 0x89);

  assert_int_equal(event_loopexit(NULL), 0);
  assert_int_equal(event_dispatch(), 0);
  assert_true(ev_time() - t0 < 2.);
  evtimer_del(&ev);
}

/* event_loopexit inside a nested event_loop ends that loop only; the outer one goes on
 * (libev's emulation breaks one level). */
static int nested_result = -1;
static void nested_loop_cb(int fd, short events, void *arg)
{
  struct timeval tv = msec(10);
  assert_int_equal(event_loopexit(&tv), 0);
  nested_result = event_loop(0);
}

static void event_loopexit_in_a_nested_loop_ends_only_that_loop(void **state)
{
  struct event nest, late;
  struct timeval t_nest = msec(20), t_late = msec(100);

  reset_calls();
  nested_result = -1;
  evtimer_set(&nest, nested_loop_cb, NULL);
  evtimer_add(&nest, &t_nest);
  evtimer_set(&late, count_cb, NULL);
  evtimer_add(&late, &t_late);
  int r = event_loop(0);
  evtimer_del(&late);
  assert_int_equal(nested_result, 0); /* the late timer was still added */
  assert_int_equal(ncalls, 1);        /* the outer loop went on until the late timer */
  assert_int_equal(r, 1);
}

/* Changes the current base for good, so it runs last. */
static void later_event_init_calls_create_new_current_bases(void **state)
{
  struct event_base *first = base();
  struct event_base *second = event_init();
  struct event_base *third = event_init();
  struct event ev;
  struct timeval tv = msec(10);

  assert_non_null(second);
  assert_ptr_not_equal(second, first);
  assert_ptr_not_equal(third, second);
  assert_false(ev_is_default_loop((struct ev_loop *)second));
  assert_int_equal(ev_backend((struct ev_loop *)third), test_backend());

  /* The newest one is the current base. */
  reset_calls();
  evtimer_set(&ev, count_cb, NULL);
  assert_ptr_equal(ev.ev_base, third);
  evtimer_add(&ev, &tv);
  assert_int_equal(event_base_loop(second, EVLOOP_NONBLOCK), 1);
  assert_int_equal(event_base_loop(first, EVLOOP_NONBLOCK), 1);
  assert_int_equal(ncalls, 0);
  assert_int_equal(event_dispatch(), 1);
  assert_int_equal(ncalls, 1);

  event_base_free(second);
  event_base_free(third);
}

/* ------------------------------------------------------------------------------------------ */
/* exports                                                                                    */

static void event_functions_are_exported_except_the_log_callback(void **state)
{
  static const char *const names[] = {
    "event_active", "event_add", "event_base_dispatch", "event_base_free",
    "event_base_get_method", "event_base_loop", "event_base_loopexit", "event_base_new",
    "event_base_once", "event_base_priority_init", "event_base_set", "event_del",
    "event_dispatch", "event_get_callback", "event_get_method", "event_get_version",
    "event_init", "event_loop", "event_loopexit", "event_once", "event_pending",
    "event_priority_init", "event_priority_set", "event_set",
  };

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!dlsym(RTLD_DEFAULT, names[i]))
      fail_msg("%s is not exported", names[i]);
  assert_null(dlsym(RTLD_DEFAULT, "event_set_log_callback"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(versions_and_method_strings),
    cmocka_unit_test(event_init_first_returns_the_default_loop),
    cmocka_unit_test(event_base_new_creates_a_separate_loop_and_free_destroys_it),
    cmocka_unit_test(event_base_free_keeps_the_default_loop),
    cmocka_unit_test(priorities_are_accepted_and_only_stored),
    cmocka_unit_test(event_set_initialises_the_event),
    cmocka_unit_test(event_add_of_an_fd_event_sets_inserted_and_active),
    cmocka_unit_test(event_add_with_a_timeout_sets_evlist_timeout),
    cmocka_unit_test(event_add_of_a_timer_and_a_signal_event),
    cmocka_unit_test(event_del_returns_to_the_initial_state),
    cmocka_unit_test(event_pending_timeout_follows_ev_events_and_reports_ev_now),
    cmocka_unit_test(timer_event_fires_once_with_ev_timeout),
    cmocka_unit_test(zero_timeout_fires_in_the_next_iteration),
    cmocka_unit_test(fd_event_fires_and_is_deleted_unless_persistent),
    cmocka_unit_test(persistent_fd_event_stays_added),
    cmocka_unit_test(timeout_deletes_a_persistent_fd_event),
    cmocka_unit_test(write_event_ignores_ev_et),
    cmocka_unit_test(signal_event_fires_and_stays_added),
    cmocka_unit_test(event_active_feeds_the_given_events),
    cmocka_unit_test(event_once_timer_fires_once),
    cmocka_unit_test(event_once_fd_fires_once),
    cmocka_unit_test(event_once_without_fd_or_timeout_never_fires),
    cmocka_unit_test(event_loopexit_ends_the_loop),
    cmocka_unit_test(event_loopexit_in_a_nested_loop_ends_only_that_loop),
    cmocka_unit_test(event_functions_are_exported_except_the_log_callback),
    cmocka_unit_test(later_event_init_calls_create_new_current_bases), /* must stay last */
  };
  char flags[16];

  /* Bases are created by the library with flags 0: steer them to the backend under test. */
  snprintf(flags, sizeof flags, "%u", test_backend());
  setenv("LIBEV_FLAGS", flags, 1);
  return TEST_MAIN("event", tests);
}
