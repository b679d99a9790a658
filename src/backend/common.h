/* common.h - rules every backend shares: wait timeouts in the kernel's units, the readiness
 * bits of poll(2) and epoll(7) in EV_READ/EV_WRITE terms, and renewing an epoll set in place.
 *
 * The bit conversions run once per reported event, so they are inline here; the rest lives in
 * common.c. */
#ifndef EVRING_BACKEND_COMMON_H
#define EVRING_BACKEND_COMMON_H

#include "internal.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/time.h>

/* Seconds to the milliseconds of poll(2)/epoll_wait(2), rounded up (a timer due in 0.3 ms
 * sleeps 1 ms rather than spinning with timeout 0) and clamped to 0 ... INT_MAX. */
int ev__timeout_ms(ev_tstamp timeout);

/* The same for select(2): whole microseconds, rounded up, clamped to 0 ... INT_MAX ms. */
struct timeval ev__timeout_timeval(ev_tstamp timeout);

/* EV_READ/EV_WRITE to the POLLIN/POLLOUT of a struct pollfd's events. */
static inline short ev__events_to_poll(int events)
{
  return (short)((events & EV_READ ? POLLIN : 0) | (events & EV_WRITE ? POLLOUT : 0));
}

/* A pollfd's revents to EV_READ/EV_WRITE. An error or hang-up makes the fd ready for both, so
 * that the watcher's read() or write() sees it; POLLNVAL (not an open fd) gives
 * EV_ERROR|EV_READ|EV_WRITE, for the caller to pass to ev__fd_error(). */
static inline int ev__poll_to_events(int revents)
{
  if (revents & POLLNVAL)
    return EV_ERROR | EV_READ | EV_WRITE;
  return (revents & (POLLIN | POLLERR | POLLHUP) ? EV_READ : 0) |
         (revents & (POLLOUT | POLLERR | POLLHUP) ? EV_WRITE : 0);
}

/* EV_READ/EV_WRITE to the EPOLLIN/EPOLLOUT of a struct epoll_event (level-triggered). */
static inline uint32_t ev__events_to_epoll(int events)
{
  return (events & EV_READ ? EPOLLIN : 0u) | (events & EV_WRITE ? EPOLLOUT : 0u);
}

/* An epoll_event's events to EV_READ/EV_WRITE; errors and hang-ups count as both. */
static inline int ev__epoll_to_events(uint32_t events)
{
  return (events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? EV_READ : 0) |
         (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) ? EV_WRITE : 0);
}

/* Replace the epoll set open as *epfd by a fresh, empty one (close-on-exec) under the same fd
 * number; the old one is closed first only when no fd number is free (RLIMIT_NOFILE). 0, or
 * -errno when no new set could be made: *epfd then still is the old set, or -1 if that had to
 * be closed to make room. Safe in a forked child (closes only its own reference). */
int ev__epoll_fresh_set(int *epfd);

/* The loop's pollable fd (for ev_embed) now is `fd`, a new kernel object even where the number
 * is the old one: a loop embedding this one registers it again (embed_prepare_cb). */
static inline void ev__backend_fd_set(struct ev_loop *loop, int fd)
{
  loop->backend_fd = fd;
  loop->backend_fd_gen++;
}

#endif
