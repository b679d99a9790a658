/* event.h - evring's emulation of the libevent 1.4 core API.
 *
 * This is evring's own header for the event_* functions that libev.so.4 exports (libev's
 * "libevent emulation"): the same names, prototypes, constants and struct event layout as the
 * event.h of Debian's libev-libevent-dev 4.33. It is not libevent: only the basic event, timer,
 * signal and loop functions exist, and an event base is an ev loop.
 *
 * The ev.h it builds on can be replaced by defining EV_H (for example -DEV_H='"myev.h"'). */
#ifndef EVRING_EVENT_H
#define EVRING_EVENT_H

#ifdef EV_H
#include EV_H
#else
#include "ev.h"
#endif

#include <time.h>
#include <sys/time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An event base is an ev loop; the type stays opaque. */
struct event_base;

typedef void (*event_callback_fn)(int fd, short events, void *arg);

/* The states of an event, in struct event's ev_flags. */
#define EVLIST_TIMEOUT 0x01  /* a timeout is armed */
#define EVLIST_INSERTED 0x02 /* watching a file descriptor */
#define EVLIST_SIGNAL 0x04   /* watching a signal */
#define EVLIST_ACTIVE 0x08   /* added */
#define EVLIST_INTERNAL 0x10
#define EVLIST_INIT 0x80     /* event_set has been called */

/* Event bits beyond ev.h's EV_READ, EV_WRITE, EV_TIMEOUT and EV_SIGNAL. */
#define EV_PERSIST 0x10 /* stay added after the event fired */
#define EV_ET 0x20      /* edge triggered: accepted, but has no effect */

/* Flags of event_loop and event_base_loop: those of ev_run. */
#ifndef EVLOOP_NONBLOCK
#define EVLOOP_NONBLOCK EVRUN_NOWAIT
#endif
#ifndef EVLOOP_ONESHOT
#define EVLOOP_ONESHOT EVRUN_ONCE
#endif
#define EVLOOP_ONCE EVLOOP_ONESHOT

/* Severities for a log callback. */
#define _EVENT_LOG_DEBUG 0
#define _EVENT_LOG_MSG 1
#define _EVENT_LOG_WARN 2
#define _EVENT_LOG_ERR 3

typedef void (*event_log_cb)(int severity, const char *msg);

/* One event: a file descriptor or a signal, with an optional timeout. The fields after the
 * two watchers are those of libevent's struct event that clients use. */
struct event {
  union {
    struct ev_io io;
    struct ev_signal sig;
  } iosig;
  struct ev_timer to;

  struct event_base *ev_base;
  event_callback_fn ev_callback;
  void *ev_arg;
  int ev_fd;       /* file descriptor, or signal number */
  int ev_pri;      /* stored by event_priority_set, otherwise unused */
  int ev_res;      /* the events of the last callback */
  int ev_flags;    /* EVLIST_* */
  short ev_events; /* what event_set asked for */
};

#define EVENT_SIGNAL(ev) ((int)(ev)->ev_fd)
#define EVENT_FD(ev) ((int)(ev)->ev_fd)

#define event_initialized(ev) ((ev)->ev_flags & EVLIST_INIT)

/* Timer-only events. */
#define evtimer_set(ev, cb, arg) event_set((ev), -1, 0, (cb), (arg))
#define evtimer_add(ev, tv) event_add((ev), (tv))
#define evtimer_del(ev) event_del(ev)
#define evtimer_pending(ev, tv) event_pending((ev), EV_TIMEOUT, (tv))
#define evtimer_initialized(ev) event_initialized(ev)

/* Older names of the same. */
#define timeout_set(ev, cb, arg) evtimer_set((ev), (cb), (arg))
#define timeout_add(ev, tv) evtimer_add((ev), (tv))
#define timeout_del(ev) evtimer_del(ev)
#define timeout_pending(ev, tv) evtimer_pending((ev), (tv))
#define timeout_initialized(ev) evtimer_initialized(ev)

/* Signal events (persistent). */
#define signal_set(ev, sig, cb, arg) event_set((ev), (sig), EV_SIGNAL | EV_PERSIST, (cb), (arg))
#define signal_add(ev, tv) event_add((ev), (tv))
#define signal_del(ev) event_del(ev)
#define signal_pending(ev, tv) event_pending((ev), EV_SIGNAL, (tv))
#define signal_initialized(ev) event_initialized(ev)

const char *event_get_version(void);
const char *event_get_method(void);

/* Select the default loop as the current base and return it. */
void *event_init(void);
void event_base_free(struct event_base *base);

/* Run the current base. */
int event_dispatch(void);
int event_loop(int flags);
int event_loopexit(struct timeval *tv);

/* Declared for source compatibility; the library does not provide it. */
void event_set_log_callback(event_log_cb cb);

/* Prepare an event for the current base (see event_base_set). */
void event_set(struct event *ev, int fd, short events, event_callback_fn cb, void *arg);
int event_once(int fd, short events, event_callback_fn cb, void *arg, struct timeval *tv);

int event_add(struct event *ev, struct timeval *tv);
int event_del(struct event *ev);
void event_active(struct event *ev, int res, short ncalls);

/* Which of events the event waits for; tv receives the time its timeout expires. */
int event_pending(struct event *ev, short events, struct timeval *tv);

/* Priorities are accepted and ignored. */
int event_priority_init(int npri);
int event_priority_set(struct event *ev, int pri);

event_callback_fn event_get_callback(const struct event *ev);

/* Explicit bases. */
struct event_base *event_base_new(void);
const char *event_base_get_method(const struct event_base *base);
int event_base_set(struct event_base *base, struct event *ev);
int event_base_loop(struct event_base *base, int flags);
int event_base_loopexit(struct event_base *base, struct timeval *tv);
int event_base_dispatch(struct event_base *base);
int event_base_once(struct event_base *base, int fd, short events, event_callback_fn cb,
                    void *arg, struct timeval *tv);
int event_base_priority_init(struct event_base *base, int npri);

#ifdef __cplusplus
}
#endif

#endif /* EVRING_EVENT_H */
