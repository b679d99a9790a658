/* timer.c - ev_timer (monotonic clock) and ev_periodic (wall clock).
 *
 * Both live in 4-ary min-heaps ordered by expiry time. The root sits at index EV__HEAP_ROOT
 * (3), so a timer's `active` is its heap index and the first timer started reads 3, as
 * clients of libev observe. Each heap slot caches the expiry time next to the watcher, so
 * sifting touches only the heap array. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Periodic intervals below this are raised to it, so that rescheduling always moves. */
#define MIN_INTERVAL 1e-4

static int heap_parent(int k)
{
  return (k - EV__HEAP_ROOT - 1) / EV__HEAP_ARITY + EV__HEAP_ROOT;
}

static int heap_first_child(int k)
{
  return EV__HEAP_ARITY * (k - EV__HEAP_ROOT) + EV__HEAP_ROOT + 1;
}

static void heap_place(struct ev_heap_node *h, int k, struct ev_heap_node node)
{
  h[k] = node;
  node.w->active = k;
}

static void heap_up(struct ev_heap_node *h, int k)
{
  struct ev_heap_node node = h[k];
  while (k > EV__HEAP_ROOT) {
    int p = heap_parent(k);
    if (h[p].at <= node.at)
      break;
    heap_place(h, k, h[p]);
    k = p;
  }
  heap_place(h, k, node);
}

static void heap_down(struct ev_heap_node *h, int end, int k)
{
  struct ev_heap_node node = h[k];
  for (;;) {
    int c = heap_first_child(k);
    if (c >= end)
      break;
    int last = c + EV__HEAP_ARITY < end ? c + EV__HEAP_ARITY : end;
    int min = c;
    for (int i = c + 1; i < last; i++)
      if (h[i].at < h[min].at)
        min = i;
    if (h[min].at >= node.at)
      break;
    heap_place(h, k, h[min]);
    k = min;
  }
  heap_place(h, k, node);
}

static void heap_adjust(struct ev_heap_node *h, int end, int k)
{
  if (k > EV__HEAP_ROOT && h[heap_parent(k)].at > h[k].at)
    heap_up(h, k);
  else
    heap_down(h, end, k);
}

static void heap_insert(struct ev_heap_node **h, int *count, int *cap, ev_watcher_time *w)
{
  int k = EV__HEAP_ROOT + (*count)++;
  EV__GROW(*h, *cap, k + 1);
  (*h)[k].at = w->at;
  (*h)[k].w = w;
  heap_up(*h, k);
}

static void heap_remove(struct ev_heap_node *h, int *count, ev_watcher_time *w)
{
  int k = w->active;
  EV__REQUIRE(h[k].w == w, "timer heap corrupted");
  int last = EV__HEAP_ROOT + --(*count);
  if (k < last) {
    h[k] = h[last];
    heap_adjust(h, last, k);
  }
}

static void heap_verify(struct ev_heap_node *h, int count)
{
  for (int k = EV__HEAP_ROOT; k < EV__HEAP_ROOT + count; k++) {
    EV__REQUIRE(h[k].w->active == k, "ev_verify: heap index mismatch");
    EV__REQUIRE(h[k].at == h[k].w->at, "ev_verify: heap time cache mismatch");
    if (k > EV__HEAP_ROOT)
      EV__REQUIRE(h[heap_parent(k)].at <= h[k].at, "ev_verify: heap order violated");
  }
}

/* ------------------------------------------------------------------------------------------ */
/* ev_timer: `at` is relative while inactive, absolute (monotonic) while active. */

void ev_timer_start(struct ev_loop *loop, ev_timer *w)
{
  if (w->active)
    return;
  EV__REQUIRE(w->repeat >= 0., "ev_timer_start called with negative timer repeat value");
  w->at += loop->mn_now;
  ev__start(loop, (ev_watcher *)w, 0);
  heap_insert(&loop->timers, &loop->timer_n, &loop->timer_cap, (ev_watcher_time *)w);
}

void ev_timer_stop(struct ev_loop *loop, ev_timer *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  heap_remove(loop->timers, &loop->timer_n, (ev_watcher_time *)w);
  w->at -= loop->mn_now;
  ev__stop(loop, (ev_watcher *)w);
}

void ev_timer_again(struct ev_loop *loop, ev_timer *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (w->active) {
    if (w->repeat != 0.) {
      w->at = loop->mn_now + w->repeat;
      loop->timers[w->active].at = w->at;
      heap_adjust(loop->timers, EV__HEAP_ROOT + loop->timer_n, w->active);
    } else {
      ev_timer_stop(loop, w);
    }
  } else if (w->repeat != 0.) {
    w->at = w->repeat;
    ev_timer_start(loop, w);
  }
}

ev_tstamp ev_timer_remaining(struct ev_loop *loop, ev_timer *w)
{
  return w->active ? w->at - loop->mn_now : w->at;
}

void ev__timers_reify(struct ev_loop *loop)
{
  while (loop->timer_n && loop->timers[EV__HEAP_ROOT].at < loop->mn_now) {
    ev_timer *w = (ev_timer *)loop->timers[EV__HEAP_ROOT].w;
    if (w->repeat > 0.) {
      /* Re-armed from its scheduled time (no drift), but at most once per iteration. */
      w->at += w->repeat;
      if (w->at < loop->mn_now)
        w->at = loop->mn_now;
      loop->timers[EV__HEAP_ROOT].at = w->at;
      heap_down(loop->timers, EV__HEAP_ROOT + loop->timer_n, EV__HEAP_ROOT);
    } else {
      ev_timer_stop(loop, w);
    }
    ev__feed_reverse(loop, (ev_watcher *)w);
  }
  ev__feed_reverse_done(loop, EV_TIMER);
}

void ev__timers_shift(struct ev_loop *loop, ev_tstamp delta)
{
  for (int k = EV__HEAP_ROOT; k < EV__HEAP_ROOT + loop->timer_n; k++) {
    loop->timers[k].w->at += delta;
    loop->timers[k].at = loop->timers[k].w->at;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* ev_periodic */

static ev_tstamp floor_tstamp(ev_tstamp x)
{
  /* floor() without libm: libev.so.4 clients expect no extra NEEDED entries. */
  if (x >= 9.2e18 || x <= -9.2e18)
    return x;
  long long i = (long long)x;
  return (ev_tstamp)(i - ((ev_tstamp)i > x));
}

static ev_tstamp periodic_next(struct ev_loop *loop, ev_periodic *w)
{
  if (w->reschedule_cb)
    return w->reschedule_cb(w, loop->now);
  if (w->interval == 0.)
    return w->offset;

  /* The first offset + k * interval strictly after now. */
  ev_tstamp interval = w->interval > MIN_INTERVAL ? w->interval : MIN_INTERVAL;
  ev_tstamp at = w->offset + interval * floor_tstamp((loop->now - w->offset) / interval);
  while (at <= loop->now) {
    ev_tstamp next = at + interval;
    if (next == at) { /* beyond the precision of a double */
      at = loop->now;
      break;
    }
    at = next;
  }
  return at;
}

/* A timerfd armed on CLOCK_REALTIME with TFD_TIMER_CANCEL_ON_SET becomes readable (read
 * fails with ECANCELED) whenever the wall clock is set: periodics are rescheduled at once
 * instead of at the next resynchronisation. */
static void timerfd_arm(struct ev_loop *loop)
{
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)loop->now + 365L * 86400L;
  timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void timerfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)w;
  (void)revents;
  uint64_t expirations;
  loop->stats.sys_other++;
  if (read(loop->timerfd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
    return;
  loop->stats.sys_other++; /* timerfd_settime */
  timerfd_arm(loop);
  ev__time_resync(loop);
  ev__periodics_reschedule(loop);
}

static void timerfd_open(struct ev_loop *loop)
{
  if (loop->timerfd >= 0 || (loop->flags & EVFLAG_NOTIMERFD))
    return;
  int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0)
    return; /* without it, jumps are still found by the periodic resynchronisation */
  loop->timerfd = fd;
  timerfd_arm(loop);
  ev_io_init(&loop->timerfd_w, timerfd_cb, fd, EV_READ);
  ev_set_priority(&loop->timerfd_w, EV_MAXPRI);
  ev__io_start_internal(loop, &loop->timerfd_w);
}

void ev__timerfd_close(struct ev_loop *loop)
{
  if (loop->timerfd < 0)
    return;
  ev__io_stop_internal(loop, &loop->timerfd_w);
  close(loop->timerfd);
  loop->timerfd = -1;
}

void ev__timerfd_fork(struct ev_loop *loop)
{
  /* The timerfd itself is private enough (the child may share it harmlessly), but re-arming
   * keeps parent and child from consuming each other's notifications. */
  if (loop->timerfd < 0)
    return;
  ev__timerfd_close(loop);
  timerfd_open(loop);
}

void ev_periodic_start(struct ev_loop *loop, ev_periodic *w)
{
  if (w->active)
    return;
  timerfd_open(loop);
  if (!w->reschedule_cb && w->interval != 0.)
    EV__REQUIRE(w->interval > 0., "ev_periodic_start called with negative interval value");
  w->at = periodic_next(loop, w);
  ev__start(loop, (ev_watcher *)w, 0);
  heap_insert(&loop->periodics, &loop->periodic_n, &loop->periodic_cap, (ev_watcher_time *)w);
}

void ev_periodic_stop(struct ev_loop *loop, ev_periodic *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  heap_remove(loop->periodics, &loop->periodic_n, (ev_watcher_time *)w);
  ev__stop(loop, (ev_watcher *)w);
}

void ev_periodic_again(struct ev_loop *loop, ev_periodic *w)
{
  ev_periodic_stop(loop, w);
  ev_periodic_start(loop, w);
}

void ev__periodics_reify(struct ev_loop *loop)
{
  while (loop->periodic_n && loop->periodics[EV__HEAP_ROOT].at < loop->now) {
    ev_periodic *w = (ev_periodic *)loop->periodics[EV__HEAP_ROOT].w;
    if (w->reschedule_cb || w->interval != 0.) {
      w->at = periodic_next(loop, w);
      EV__REQUIRE(w->at >= loop->now, "ev_periodic reschedule callback returned a time in the past");
      loop->periodics[EV__HEAP_ROOT].at = w->at;
      heap_down(loop->periodics, EV__HEAP_ROOT + loop->periodic_n, EV__HEAP_ROOT);
    } else {
      ev_periodic_stop(loop, w);
    }
    ev__feed_reverse(loop, (ev_watcher *)w);
  }
  ev__feed_reverse_done(loop, EV_PERIODIC);
}

void ev__periodics_reschedule(struct ev_loop *loop)
{
  /* After a wall-clock jump every periodic gets a new time; rebuild the heap bottom-up. */
  int end = EV__HEAP_ROOT + loop->periodic_n;
  for (int k = EV__HEAP_ROOT; k < end; k++) {
    ev_periodic *w = (ev_periodic *)loop->periodics[k].w;
    w->at = periodic_next(loop, w);
    loop->periodics[k].at = w->at;
  }
  for (int k = end - 1; k >= EV__HEAP_ROOT; k--)
    heap_down(loop->periodics, end, k);
}

/* ------------------------------------------------------------------------------------------ */

ev_tstamp ev__next_timeout(struct ev_loop *loop, ev_tstamp max)
{
  ev_tstamp t = max;
  if (loop->timer_n) {
    ev_tstamp d = loop->timers[EV__HEAP_ROOT].at - loop->mn_now;
    if (d < t)
      t = d;
  }
  if (loop->periodic_n) {
    ev_tstamp d = loop->periodics[EV__HEAP_ROOT].at - loop->now;
    if (d < t)
      t = d;
  }
  return t;
}

void ev__timers_free(struct ev_loop *loop)
{
  ev__free(loop->timers);
  ev__free(loop->periodics);
  loop->timers = loop->periodics = NULL;
  loop->timer_n = loop->timer_cap = loop->periodic_n = loop->periodic_cap = 0;
}

void ev__timers_verify(struct ev_loop *loop)
{
  heap_verify(loop->timers, loop->timer_n);
  heap_verify(loop->periodics, loop->periodic_n);
}
