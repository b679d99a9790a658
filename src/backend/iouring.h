/* iouring.h - private to the io_uring backend.
 *
 *   iouring.c        the backend operations, the per-fd reconciliation and the CQ walk
 *   iouring_ring.c   a ring's lifecycle: setup, replacement, cancellation, thread ownership,
 *                    entering the kernel
 *   iouring_epoll.c  ring-driven epoll (IORING_OP_EPOLL_CTL + IORING_OP_EPOLL_WAIT, 6.15+)
 *   iouring_poll.c   per-fd one-shot IORING_OP_POLL_ADD (older kernels; files epoll refuses)
 *   iouring_probe.c  what the running kernel offers, and the test knobs */
#ifndef EVRING_IOURING_H
#define EVRING_IOURING_H

#include "../internal.h"

#include <liburing.h>
#include <sys/epoll.h>

/* IORING_OP_EPOLL_WAIT (Linux 6.15) is newer than liburing 2.3 and Debian 12's uapi headers:
 * its number in include/uapi/linux/io_uring.h, checked with io_uring_get_probe before use. */
#define EV__IORING_OP_EPOLL_WAIT 59

/* Features that EVRING_IOURING_DISABLE can mask, so that every kernel-dependent path runs in
 * make check on a kernel that has them all. */
enum {
  EV__IOU_OFF_ALL = 1u << 0,        /* "iouring": the backend reports itself unavailable */
  EV__IOU_OFF_EPOLL_WAIT = 1u << 1, /* "epoll_wait": per-fd POLL_ADD instead of ring epoll */
  EV__IOU_OFF_DEFER = 1u << 2,      /* "defer_taskrun": no SINGLE_ISSUER/DEFER_TASKRUN */
  EV__IOU_OFF_COOP = 1u << 3,       /* "coop_taskrun": no COOP_TASKRUN/TASKRUN_FLAG */
  EV__IOU_OFF_SUBMIT_ALL = 1u << 4, /* "submit_all" */
  EV__IOU_OFF_CQE_SKIP = 1u << 5,   /* "cqe_skip": every request posts a CQE (< 5.17) */
  EV__IOU_OFF_CANCEL_ANY = 1u << 6, /* "cancel_any": cancel requests one by one (< 5.19) */
  EV__IOU_OFF_REGISTER = 1u << 7,   /* "register": no registered ring fd, no fixed epoll fd */
  /* evring.h operations (iouring_ops.c) */
  EV__IOU_OFF_RING_OPS = 1u << 8,   /* "ring_ops": operations run on readiness */
  EV__IOU_OFF_ACCEPT_MULTI = 1u << 9, /* "accept_multishot": one accept per request (< 5.19) */
  EV__IOU_OFF_RECV_MULTI = 1u << 10,  /* "recv_multishot": one recv per request (< 6.0) */
  EV__IOU_OFF_BUF_RING = 1u << 11,    /* "buf_ring": no provided-buffer ring (< 5.19) */
  EV__IOU_OFF_SEND_ZC = 1u << 12,     /* "send_zc": no zero-copy send (< 6.0) */
};

/* What the running kernel offers, probed once per process. */
struct ev__iouring_caps {
  int usable;              /* ring setup works, EXT_ARG + NODROP, POLL_ADD/REMOVE, cancel */
  int setup_errno;         /* why not, when !usable */
  unsigned int features;   /* io_uring_params.features */
  unsigned int setup_ok;   /* IORING_SETUP_* flags the kernel accepted one by one */
  int epoll_ops;           /* IORING_OP_EPOLL_CTL and IORING_OP_EPOLL_WAIT */
  int cancel_any;          /* IORING_ASYNC_CANCEL_ANY (5.19) */
  /* evring.h operations: the opcodes they need (5.6), IORING_OP_SHUTDOWN (5.11), and what
   * came with IORING_OP_SOCKET (5.19: multishot accept, buffer rings) and with
   * IORING_OP_SEND_ZC (6.0: zero-copy send, multishot recv) */
  int io_ops, shutdown_op, v5_19, v6_0;
};

const struct ev__iouring_caps *ev__iouring_caps(void);

/* EVRING_IOURING_DISABLE parsed (0 in setuid processes), read at each loop creation. */
unsigned int ev__iouring_disabled(void);

/* A numeric environment knob (EVRING_IOURING_ENTRIES, ...): def when unset or untrusted. */
long ev__iouring_env_long(const char *name, long def);

/* ------------------------------------------------------------------------------------------ */

enum { EV__IOU_MODE_EPOLL = 1, EV__IOU_MODE_POLL = 2 };

/* struct ev_fd.eflags; emask is the mask the kernel has (registered or armed). */
#define EV__IOU_DIRTY 0x01 /* on st->dirty: reconciled with the kernel before the next wait */
#define EV__IOU_RENEW 0x02 /* the fd number may refer to another file now */
#define EV__IOU_REG 0x04   /* ring epoll: in the epoll set */
#define EV__IOU_POLL 0x08  /* ring epoll: epoll refused the file, it is polled per fd */
#define EV__IOU_ARMED 0x10 /* a POLL_ADD tagged egen is in the kernel */
#define EV__IOU_FRESH 0x20 /* armed since the last sweep */
#define EV__IOU_TRIM 0x40  /* ring epoll: an unwanted event came, shrink the registration */

/* user_data: kind in bits 60..63, generation in bits 32..59, fd in bits 0..31. Never all ones
 * (liburing's LIBURING_UDATA_TIMEOUT). */
enum {
  EV__IOU_K_POLL = 1,
  EV__IOU_K_REMOVE,
  EV__IOU_K_ADD,
  EV__IOU_K_ADD_EXISTING,
  EV__IOU_K_MOD,
  EV__IOU_K_DEL,
  EV__IOU_K_WAIT,
  EV__IOU_K_CANCEL,
  EV__IOU_K_OP, /* an evring.h operation's request: generation, slot (iouring_ops.c) */
};
#define EV__IOU_GEN_MASK 0x0fffffffu

static inline uint64_t ev__iou_tag(unsigned int kind, uint32_t gen, int fd)
{
  return (uint64_t)kind << 60 | (uint64_t)(gen & EV__IOU_GEN_MASK) << 32 | (uint32_t)fd;
}

/* What ev__iou_process() does with readiness: drop it (the ring is going away), report it, or
 * re-check it (completions that arrived before this iteration's enter may be stale). */
enum { EV__IOU_DRAIN, EV__IOU_DISPATCH, EV__IOU_RECHECK };

#define EV__IOU_RING_MIN 128u
#define EV__IOU_RING_MAX 32768u /* the kernel's SQ maximum; the CQ gets twice as many */

struct iouring {
  struct io_uring ring;
  int ring_open;           /* 0 only after a replacement that closed the old ring and failed */
  unsigned int ring_flags; /* IORING_SETUP_* the current ring got */
  unsigned int sq_size;
  int need_enable;         /* created R_DISABLED: enabled by the thread that polls first */
  pid_t pid;               /* process that set the ring up: only it may submit to it */
  /* Registered by the loop's thread when it first polls (a syscall per ring, not per
   * iteration): the ring fd (each enter skips an fget/fput of the ring) and, in ring epoll
   * mode, the epoll fd as fixed file 0 for EPOLL_WAIT. */
  int need_register;
  int fixed_ep;            /* EPOLL_WAIT uses fixed file 0, which is st->epfd's file */
  unsigned long reg_thread; /* ev__iou_thread_id() of the thread whose table holds the ring */

  unsigned int off;        /* EVRING_IOURING_DISABLE, plus what this loop learned */
  unsigned int fixed_size; /* EVRING_IOURING_ENTRIES: this size, never grown */
  unsigned char skip;      /* IOSQE_CQE_SKIP_SUCCESS where the kernel has it */
  int mode;

  /* growth: the CQ overflowed (grow), or the kernel refused a bigger ring (retry later) */
  int grow;
  unsigned int refused_size;
  ev_tstamp retry_at, retry_delay;

  int *dirty;
  int dirty_n, dirty_cap;
  int nfds;  /* fds with a wanted mask */
  int armed; /* POLL_ADD requests in the kernel */
  int failures; /* io_uring_enter failures in a row */
  unsigned int reported; /* events and errors handed to the loop */

  /* ring-driven epoll */
  int epfd;
  struct epoll_event *evs; /* EPOLL_WAIT's buffer: the kernel writes it while one is armed */
  int evs_cap, evs_full;
  int wait_inflight, wait_errors;
  uint32_t wait_gen;
  struct epoll_event *ctl; /* EPOLL_CTL arguments, one per SQE slot */
  int ctl_cap;
  /* Per fd: wait_gen when its last EPOLL_CTL was queued. An EPOLL_WAIT armed before that may
   * have collected the fd's events under the previous generation (on rings without
   * DEFER_TASKRUN it completes whenever the task returns to user space). */
  uint32_t *ctl_seq;
  int ctl_seq_cap;
  int rebuild; /* an event of a registration we cannot address: new epoll set */
  int fixup;   /* an EPOLL_CTL was refused and needs another request */
  void **retired; /* buffers a ring we could not cancel may still write: freed at destroy */
  int retired_n, retired_cap;

  /* per-fd polls pin their file: a sweep renews the ones armed for a whole period, so that
   * an fd closed without stopping its watcher is let go */
  ev_tstamp sweep_interval, next_sweep;

  int wait_errno; /* why the last EPOLL_WAIT failed */

  struct iou_ops *ops; /* evring.h operations in this ring (iouring_ops.c) */

  struct ev__stats *stats; /* the loop's counters (stats.h), which outlive this state */
};

/* One io_uring_enter or io_uring_register system call: the iteration's wait, or not. */
static inline void ev__iou_count_syscall(struct iouring *st, int wait)
{
  st->stats->iou_enters++;
  if (wait)
    st->stats->sys_wait++;
  else
    st->stats->sys_ring++;
}

/* iouring.c */
void ev__iou_mark_dirty(struct ev_loop *loop, struct iouring *st, int fd);
unsigned int ev__iou_process(struct ev_loop *loop, struct iouring *st, int dispatch);
void ev__iou_bad_fd(struct ev_loop *loop, struct iouring *st, int fd, int dispatch);

/* iouring_ring.c */
int ev__iou_ring_first(struct iouring *st, unsigned int entries);
int ev__iou_ring_replace(struct ev_loop *loop, struct iouring *st, unsigned int entries,
                         int usable);
int ev__iou_ring_start(struct ev_loop *loop, struct iouring *st);
void ev__iou_ring_cancel_all(struct ev_loop *loop, struct iouring *st);
void ev__iou_ring_exit(struct iouring *st);
void ev__iou_ring_claim(struct iouring *st);
unsigned long ev__iou_thread_id(void);
struct io_uring_sqe *ev__iou_sqe(struct ev_loop *loop, struct iouring *st);
int ev__iou_enter(struct iouring *st, ev_tstamp timeout);
int ev__iou_enter_nowait(struct iouring *st);
int ev__iou_submit_now(struct iouring *st);
void ev__iou_evs_abandon(struct iouring *st);

/* iouring_poll.c */
int ev__iou_poll_arm(struct ev_loop *loop, struct iouring *st, int fd, int want);
int ev__iou_poll_remove(struct ev_loop *loop, struct iouring *st, int fd);
void ev__iou_poll_done(struct ev_loop *loop, struct iouring *st, int fd, uint32_t gen, int res,
                       int dispatch);
void ev__iou_polls_lost(struct ev_loop *loop, struct iouring *st);
ev_tstamp ev__iou_poll_sweep(struct ev_loop *loop, struct iouring *st, ev_tstamp timeout);

/* iouring_ops.c */
int ev__iou_ops_inflight(const struct iouring *st);
int ev__iou_ops_zc_waiting(const struct iouring *st);
void ev__iou_op_done(struct ev_loop *loop, struct iouring *st, uint32_t slot, uint32_t gen,
                     const struct io_uring_cqe *cqe);
void ev__iou_ops_cancel_all(struct ev_loop *loop, struct iouring *st, int one_by_one);
void ev__iou_ops_ring_replaced(struct ev_loop *loop, struct iouring *st);
void ev__iou_ops_restart(struct ev_loop *loop, struct iouring *st);
void ev__iou_ops_free(struct iouring *st);

/* iouring_epoll.c */
int ev__iou_epoll_flush(struct ev_loop *loop, struct iouring *st, int fd, int want);
void ev__iou_epoll_ctl_done(struct ev_loop *loop, struct iouring *st, unsigned int kind, int fd,
                            uint32_t gen, int res, int dispatch);
void ev__iou_epoll_wait_done(struct ev_loop *loop, struct iouring *st, uint32_t gen, int res,
                             int dispatch);
void ev__iou_epoll_queue_wait(struct ev_loop *loop, struct iouring *st);
int ev__iou_epoll_can_wait_directly(const struct iouring *st);
void ev__iou_epoll_wait_directly(struct ev_loop *loop, struct iouring *st, ev_tstamp timeout);
void ev__iou_epoll_rebuild(struct ev_loop *loop, struct iouring *st);
void ev__iou_epoll_abandon(struct ev_loop *loop, struct iouring *st, int err);
int ev__iou_epoll_renew_set(struct ev_loop *loop, struct iouring *st);

#endif
