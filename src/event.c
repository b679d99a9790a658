/* event.c - the libevent 1.4 emulation (event_* functions) on top of the public ev_* API.
 *
 * An event base is an ev loop. Each struct event carries an ev_io or ev_signal watcher and
 * an ev_timer for its timeout; their callbacks find the struct event again from the
 * watcher's address. The "current base" used by event_set, event_loop, event_once and
 * event_loopexit is the loop returned by the last event_init. */
#include "internal.h"

#include <stdlib.h>

#pragma GCC visibility push(default)
#include "event.h"
#pragma GCC visibility pop

/* The base selected by event_init, and whether event_init has been called before. */
static struct event_base *current_base;
static int init_called;

/* The events a libevent callback may see. */
#define EVENT_MASK (EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL)

static struct ev_loop *base_loop(const struct event_base *base)
{
  return (struct ev_loop *)base;
}

static ev_tstamp timeval_seconds(const struct timeval *tv)
{
  return (ev_tstamp)tv->tv_sec + (ev_tstamp)tv->tv_usec * 1e-6;
}

/* ------------------------------------------------------------------------------------------ */
/* Versions and bases                                                                         */

#define EVENT_STR_(x) #x
#define EVENT_STR(x) EVENT_STR_(x)

const char *event_get_version(void)
{
  return EVENT_STR(EV_VERSION_MAJOR) "." EVENT_STR(EV_VERSION_MINOR);
}

const char *event_get_method(void)
{
  return "libev";
}

const char *event_base_get_method(const struct event_base *base)
{
  (void)base;
  return "libev";
}

/* The first call selects the default loop; every later call creates a new loop and makes it
 * the current base (as libev's emulation does). */
void *event_init(void)
{
  if (init_called)
    current_base = (struct event_base *)ev_loop_new(EVFLAG_AUTO);
  else
    current_base = (struct event_base *)ev_default_loop(EVFLAG_AUTO);
  init_called = 1;
  return current_base;
}

struct event_base *event_base_new(void)
{
  return (struct event_base *)ev_loop_new(EVFLAG_AUTO);
}

void event_base_free(struct event_base *base)
{
  struct ev_loop *loop = base_loop(base);

  /* The default loop belongs to the whole process and outlives any base. */
  if (!loop || ev_is_default_loop(loop))
    return;
  if (base == current_base)
    current_base = NULL;
  ev_loop_destroy(loop);
}

int event_priority_init(int npri)
{
  (void)npri;
  return 0;
}

int event_base_priority_init(struct event_base *base, int npri)
{
  (void)base;
  (void)npri;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Running a base                                                                             */

int event_base_loop(struct event_base *base, int flags)
{
  /* ev_run returns the number of watchers still keeping the loop alive; libevent wants 1
   * when nothing was left to wait for. */
  return ev_run(base_loop(base), flags) ? 0 : 1;
}

int event_base_dispatch(struct event_base *base)
{
  return event_base_loop(base, 0);
}

int event_loop(int flags)
{
  return event_base_loop(current_base, flags);
}

int event_dispatch(void)
{
  return event_loop(0);
}

/* Ends the innermost running event_loop only, as libev's emulation does. */
static void loopexit_cb(int revents, void *arg)
{
  (void)revents;
  ev_break((struct ev_loop *)arg, EVBREAK_ONE);
}

int event_base_loopexit(struct event_base *base, struct timeval *tv)
{
  struct ev_loop *loop = base_loop(base);

  ev_once(loop, -1, 0, tv ? timeval_seconds(tv) : 0., loopexit_cb, loop);
  return 0;
}

int event_loopexit(struct timeval *tv)
{
  return event_base_loopexit(current_base, tv);
}

/* ------------------------------------------------------------------------------------------ */
/* Single events                                                                              */

/* Deliver revents to the application. The event may be freed by the callback, so it must
 * not be touched afterwards. */
static void event_deliver(struct event *ev, int revents)
{
  revents &= EVENT_MASK;
  ev->ev_res = revents;
  ev->ev_callback(ev->ev_fd, (short)revents, ev->ev_arg);
}

static void event_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct event *ev = EV__CONTAINER_OF(w, struct event, iosig.io);

  (void)loop;
  if (!(ev->ev_events & EV_PERSIST) || (revents & EV_ERROR))
    event_del(ev);
  event_deliver(ev, revents);
}

/* Signal events stay added when they fire, whether EV_PERSIST was given or not. */
static void event_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
  struct event *ev = EV__CONTAINER_OF(w, struct event, iosig.sig);

  (void)loop;
  if (revents & EV_ERROR)
    event_del(ev);
  event_deliver(ev, revents);
}

/* A timeout ends the event, persistent or not. */
static void event_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  struct event *ev = EV__CONTAINER_OF(w, struct event, to);

  (void)loop;
  event_del(ev);
  event_deliver(ev, revents);
}

void event_set(struct event *ev, int fd, short events, event_callback_fn cb, void *arg)
{
  if (events & EV_SIGNAL)
    ev_init(&ev->iosig.sig, event_signal_cb);
  else
    ev_init(&ev->iosig.io, event_io_cb);
  ev_init(&ev->to, event_timer_cb);

  ev->ev_base = current_base;
  ev->ev_callback = cb;
  ev->ev_arg = arg;
  ev->ev_fd = fd;
  ev->ev_pri = 0;
  ev->ev_res = 0;
  ev->ev_flags = EVLIST_INIT;
  ev->ev_events = events;
}

int event_base_set(struct event_base *base, struct event *ev)
{
  ev->ev_base = base;
  return 0;
}

int event_add(struct event *ev, struct timeval *tv)
{
  struct ev_loop *loop = base_loop(ev->ev_base);

  if (!loop)
    return -1;

  if (ev->ev_events & EV_SIGNAL) {
    if (!ev_is_active(&ev->iosig.sig)) {
      ev_signal_set(&ev->iosig.sig, ev->ev_fd);
      ev_signal_start(loop, &ev->iosig.sig);
      ev->ev_flags |= EVLIST_SIGNAL;
    }
  } else if (ev->ev_events & (EV_READ | EV_WRITE)) {
    if (!ev_is_active(&ev->iosig.io)) {
      ev_io_set(&ev->iosig.io, ev->ev_fd, ev->ev_events & (EV_READ | EV_WRITE));
      ev_io_start(loop, &ev->iosig.io);
      ev->ev_flags |= EVLIST_INSERTED;
    }
  }

  /* A new timeout replaces the old one; no timeout removes it. */
  ev_timer_stop(loop, &ev->to);
  if (tv) {
    ev_timer_set(&ev->to, timeval_seconds(tv), 0.);
    ev_timer_start(loop, &ev->to);
    ev->ev_flags |= EVLIST_TIMEOUT;
  } else {
    ev->ev_flags &= ~EVLIST_TIMEOUT;
  }

  ev->ev_flags |= EVLIST_ACTIVE;
  return 0;
}

int event_del(struct event *ev)
{
  struct ev_loop *loop = base_loop(ev->ev_base);

  if (!loop)
    return -1;

  /* Stopping also takes back an event_active of the descriptor or signal. A timeout fed by
   * event_active to an event without an armed timeout is left to run, as in libev. */
  if (ev->ev_events & EV_SIGNAL)
    ev_signal_stop(loop, &ev->iosig.sig);
  else
    ev_io_stop(loop, &ev->iosig.io);
  if (ev_is_active(&ev->to))
    ev_timer_stop(loop, &ev->to);

  ev->ev_flags &= ~(EVLIST_TIMEOUT | EVLIST_INSERTED | EVLIST_SIGNAL | EVLIST_ACTIVE);
  return 0;
}

void event_active(struct event *ev, int res, short ncalls)
{
  struct ev_loop *loop = base_loop(ev->ev_base);

  (void)ncalls;
  if (res & EV_TIMEOUT)
    ev_feed_event(loop, &ev->to, res & EV_TIMEOUT);
  if (res & EV_SIGNAL)
    ev_feed_event(loop, &ev->iosig.sig, res & EV_SIGNAL);
  if (res & (EV_READ | EV_WRITE))
    ev_feed_event(loop, &ev->iosig.io, res & (EV_READ | EV_WRITE));
}

int event_pending(struct event *ev, short events, struct timeval *tv)
{
  struct ev_loop *loop = base_loop(ev->ev_base);
  int waiting = 0;

  if (ev->ev_events & EV_SIGNAL) {
    if (ev_is_active(&ev->iosig.sig) || ev_is_pending(&ev->iosig.sig))
      waiting |= EV_SIGNAL;
  } else if (ev->ev_events & (EV_READ | EV_WRITE)) {
    if (ev_is_active(&ev->iosig.io) || ev_is_pending(&ev->iosig.io))
      waiting |= ev->ev_events & (EV_READ | EV_WRITE);
  }

  /* As libev's emulation answers (libevent differs): EV_TIMEOUT whenever the event was set
   * with it or has a timeout armed or fed, and tv receives the loop's current time. */
  if ((ev->ev_events & EV_TIMEOUT) || ev_is_active(&ev->to) || ev_is_pending(&ev->to)) {
    waiting |= EV_TIMEOUT;
    if (tv && loop) {
      ev_tstamp at = ev_now(loop);
      tv->tv_sec = (time_t)at;
      tv->tv_usec = (suseconds_t)((at - (ev_tstamp)tv->tv_sec) * 1e6);
    }
  }

  return events & waiting;
}

int event_priority_set(struct event *ev, int pri)
{
  ev->ev_pri = pri;
  return 0;
}

event_callback_fn event_get_callback(const struct event *ev)
{
  return ev->ev_callback;
}

/* ------------------------------------------------------------------------------------------ */
/* One-shot events                                                                            */

struct event_once_ctx {
  event_callback_fn cb;
  void *arg;
  int fd;
};

static void event_once_cb(int revents, void *arg)
{
  struct event_once_ctx ctx = *(struct event_once_ctx *)arg;

  free(arg);
  ctx.cb(ctx.fd, (short)(revents & EVENT_MASK), ctx.arg);
}

int event_base_once(struct event_base *base, int fd, short events, event_callback_fn cb,
                    void *arg, struct timeval *tv)
{
  struct ev_loop *loop = base_loop(base);
  struct event_once_ctx *ctx;

  if (!loop)
    return -1;
  /* As in libev: without a timeval there is no timeout (not even an immediate one), and a
   * negative fd means no descriptor, so such a request never fires. */
  if (fd < 0 && !tv)
    return 0;

  ctx = malloc(sizeof *ctx);
  if (!ctx)
    return -1;
  ctx->cb = cb;
  ctx->arg = arg;
  ctx->fd = fd;

  ev_once(loop, fd, events & (EV_READ | EV_WRITE), tv ? timeval_seconds(tv) : -1.,
          event_once_cb, ctx);
  return 0;
}

int event_once(int fd, short events, event_callback_fn cb, void *arg, struct timeval *tv)
{
  return event_base_once(current_base, fd, events, cb, arg, tv);
}
