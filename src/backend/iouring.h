/* iouring.h - private to the io_uring backend (iouring.c, iouring_probe.c). */
#ifndef EVRING_IOURING_H
#define EVRING_IOURING_H

#include "../internal.h"

#include <liburing.h>

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
};

/* What the running kernel offers, probed once per process. */
struct ev__iouring_caps {
  int usable;              /* ring setup works, EXT_ARG + NODROP, POLL_ADD/REMOVE, cancel */
  int setup_errno;         /* why not, when !usable */
  unsigned int features;   /* io_uring_params.features */
  unsigned int setup_ok;   /* IORING_SETUP_* flags the kernel accepted one by one */
  int epoll_ops;           /* IORING_OP_EPOLL_CTL and IORING_OP_EPOLL_WAIT */
};

const struct ev__iouring_caps *ev__iouring_caps(void);

/* EVRING_IOURING_DISABLE parsed (0 in setuid processes), read at each loop creation. */
unsigned int ev__iouring_disabled(void);

/* A numeric environment knob (EVRING_IOURING_ENTRIES, ...): def when unset or untrusted. */
long ev__iouring_env_long(const char *name, long def);

#endif
