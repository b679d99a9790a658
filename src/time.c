/* time.c - the loop's clocks.
 *
 * Timers run on CLOCK_MONOTONIC (loop->mn_now), so wall-clock jumps do not move them.
 * ev_now() is monotonic time plus an offset (loop->rtmn_diff) that is re-measured against the
 * wall clock at most every half second; both clocks are read through the vDSO, so keeping
 * them current costs no system call per iteration. */
#include "internal.h"

#include <math.h>
#include <time.h>

/* Re-measure the wall-clock offset this often; a change bigger than this is a time jump. */
#define RESYNC_INTERVAL 0.5
#define MIN_TIMEJUMP 1.

static ev_tstamp timespec_to_tstamp(const struct timespec *ts)
{
  return (ev_tstamp)ts->tv_sec + (ev_tstamp)ts->tv_nsec * 1e-9;
}

ev_tstamp ev_time(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return timespec_to_tstamp(&ts);
}

ev_tstamp ev__monotonic(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return timespec_to_tstamp(&ts);
}

void ev_sleep(ev_tstamp delay)
{
  if (delay <= 0.)
    return;
  struct timespec ts;
  ts.tv_sec = (time_t)delay;
  ts.tv_nsec = (long)((delay - (ev_tstamp)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L)
    ts.tv_nsec = 999999999L;
  /* One sleep, as in libev: a caught signal (EINTR) ends it early. */
  nanosleep(&ts, NULL);
}

void ev__time_init(struct ev_loop *loop)
{
  loop->mn_now = ev__monotonic();
  loop->now = ev_time();
  loop->now_floor = loop->mn_now;
  loop->rtmn_diff = loop->now - loop->mn_now;
}

void ev__time_resync(struct ev_loop *loop)
{
  /* Forces the next update to re-measure the wall clock against the monotonic one. */
  loop->now_floor = loop->mn_now - 2 * RESYNC_INTERVAL;
  ev__time_update(loop);
}

void ev__time_update(struct ev_loop *loop)
{
  loop->mn_now = ev__monotonic();

  if (loop->mn_now - loop->now_floor < RESYNC_INTERVAL) {
    loop->now = loop->rtmn_diff + loop->mn_now;
    return;
  }

  ev_tstamp old_diff = loop->rtmn_diff;
  loop->now_floor = loop->mn_now;
  loop->now = ev_time();
  loop->rtmn_diff = loop->now - loop->mn_now;

  /* The wall clock moved against the monotonic one: periodics are wall-clock based. */
  if (fabs(loop->rtmn_diff - old_diff) >= MIN_TIMEJUMP)
    ev__periodics_reschedule(loop);
}

ev_tstamp ev_now(struct ev_loop *loop)
{
  return loop->now;
}

void ev_now_update(struct ev_loop *loop)
{
  ev__time_update(loop);
}

void ev_suspend(struct ev_loop *loop)
{
  ev_now_update(loop);
}

void ev_resume(struct ev_loop *loop)
{
  /* Time spent suspended does not count against relative timers. */
  ev_tstamp before = loop->mn_now;
  ev_now_update(loop);
  ev__timers_shift(loop, loop->mn_now - before);
  ev__periodics_reschedule(loop);
}
