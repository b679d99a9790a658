/* stats.h - the loop's statistics counters (struct ev_loop.stats).
 *
 * Each file counts what it does where it does it: the system call next to the call, the
 * fallback where it is decided. Counting is always on and costs a plain increment of the
 * loop's own memory (the eventfd writes of ev__evpipe_write, made by any thread or signal
 * handler, an atomic one). stats.c turns the counters into evring_stats_get()'s struct
 * evring_stats and, when EVRING_STATS asks for it, into a printed block (at ev_loop_destroy
 * and at exit). Included by internal.h. */
#ifndef EVRING_STATS_H
#define EVRING_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct ev_loop;

struct ev__stats {
  uint64_t iterations; /* poll_backend calls */
  uint64_t callbacks;  /* watcher callbacks invoked (ev_invoke_pending, ev_invoke) */

  /* system calls, by kind (the public struct evring_stats documents each) */
  uint64_t sys_wait, sys_fd, sys_ring, sys_other;
  atomic_ulong sys_wakeup;

  /* fd changes: handed to the backend, queued in the ring, made by epoll_ctl */
  uint64_t fd_changes, fd_ring, fd_syscall;

  /* io_uring: the ring as it is now, and what happened to it */
  unsigned int iouring_mode; /* EVRING_STATS_RING_EPOLL / _RING_POLL, 0 without a ring */
  unsigned int sq_entries, cq_entries, ring_flags;
  int cancel_any;            /* cancellation all at once (IORING_ASYNC_CANCEL_ANY) */
  uint64_t iou_enters;       /* every io_uring_enter and io_uring_register (wait or not) */
  uint64_t direct_waits;     /* ring epoll iterations that waited with a plain epoll_wait */
  uint64_t sqes, cqes, overflow_rounds, recreates, refusals, sweeps, errors;
  uint64_t rebuilds;         /* epoll sets replaced (epoll backend and ring epoll) */

  /* fallbacks: EVRING_FALLBACK_* bits taken, the errno behind each (bit i: index i) */
  unsigned int fallbacks;
  int fallback_errno[8];
  unsigned int backends_refused; /* EVBACKEND_* that could not be set up at creation */

  /* evring.h completion I/O */
  uint64_t ops_started, ops_completed;

  /* reporting (stats.c): whether and where this loop's block is printed */
  int report;              /* 1: EVRING_STATS was set when the loop was created */
  char *report_path;       /* NULL: stderr */
  pid_t pid;               /* the process whose counts these are */
  struct ev_loop *report_next; /* the live loops with report set */
};

/* stats.c */
void ev__stats_loop_init(struct ev_loop *loop);
void ev__stats_loop_destroy(struct ev_loop *loop);
void ev__stats_fork(struct ev_loop *loop);
/* The fallback `kind` (an EVRING_FALLBACK_* bit) was taken because of errno `err` (0: none). */
void ev__stats_fallback(struct ev_loop *loop, unsigned int kind, int err);

#endif
