/* iouring_poll.c - per-fd one-shot IORING_OP_POLL_ADD: the whole mechanism on kernels without
 * IORING_OP_EPOLL_WAIT (or EVRING_IOURING_DISABLE=epoll_wait), and for the files epoll refuses
 * (regular files, /dev/null: EPERM) in ring epoll mode.
 *
 * A one-shot poll checks the level when it is armed and completes once; it is armed again
 * after the fd's callbacks ran, so an fd that is still ready is reported again: level-
 * triggered, as libev's io watchers are. An armed poll holds a reference to its file: it is
 * removed as soon as nobody wants it (ev_io_stop of the fd's last watcher submits the removal
 * at once, so a close() right after really closes), and a sweep renews polls armed for a
 * whole period, which lets go of fds closed without their watcher being stopped. */
#include "iouring.h"
#include "common.h"

#include <errno.h>
#include <poll.h>

/* Arm a poll for `want` unless one is in the kernel already. -1 when no SQE could be had. */
int ev__iou_poll_arm(struct ev_loop *loop, struct iouring *st, int fd, int want)
{
  struct ev_fd *f = &loop->fds[fd];
  if (!want || (f->eflags & EV__IOU_ARMED))
    return 0;
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  if (!sqe)
    return -1;
  f->egen++;
  st->stats->fd_ring++;
  io_uring_prep_poll_add(sqe, fd, (unsigned int)ev__events_to_poll(want));
  sqe->user_data = ev__iou_tag(EV__IOU_K_POLL, f->egen, fd);
  f->eflags |= EV__IOU_ARMED | EV__IOU_FRESH;
  f->emask = (unsigned char)want;
  st->armed++;
  return 0;
}

/* Queue the removal of fd's armed poll (it leaves the kernel with the next enter). */
int ev__iou_poll_remove(struct ev_loop *loop, struct iouring *st, int fd)
{
  struct ev_fd *f = &loop->fds[fd];
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  if (!sqe)
    return -1;
  st->stats->fd_ring++;
  io_uring_prep_poll_remove(sqe, ev__iou_tag(EV__IOU_K_POLL, f->egen, fd));
  sqe->user_data = ev__iou_tag(EV__IOU_K_REMOVE, f->egen, fd);
  sqe->flags |= st->skip;
  f->eflags &= ~(EV__IOU_ARMED | EV__IOU_FRESH);
  st->armed--;
  return 0;
}

/* Whether fd still is an open descriptor (one fcntl). */
static int fd_still_open(struct iouring *st, int fd)
{
  st->stats->sys_other++;
  return ev__fd_valid(fd);
}

void ev__iou_poll_done(struct ev_loop *loop, struct iouring *st, int fd, uint32_t gen, int res,
                       int dispatch)
{
  struct ev_fd *f = &loop->fds[fd];
  if (!(f->eflags & EV__IOU_ARMED) || gen != (f->egen & EV__IOU_GEN_MASK))
    return; /* removed, renewed or re-armed since: stale */
  f->eflags &= ~(EV__IOU_ARMED | EV__IOU_FRESH);
  st->armed--;
  if (f->eflags & EV__IOU_RENEW)
    return; /* the fd may be another file now: the poll to come will tell, dirty already */
  if (res >= 0 && dispatch == EV__IOU_RECHECK) {
    /* io_uring poll keeps the mask of the wake-up and does not look again: by now another
     * process may have read the data. A new poll in this iteration's enter checks afresh. */
    if (f->events)
      ev__iou_mark_dirty(loop, st, fd);
    return;
  }
  if (res >= 0) {
    /* A hang-up may be the last word of a file whose fd was closed while its poll held it
     * (libev's rules forbid that, epoll forgets such a file silently): one fcntl on this rare
     * path turns it into EV_ERROR, instead of an event followed by EV_ERROR at the re-arm. */
    if ((res & POLLNVAL) || ((res & (POLLHUP | POLLERR)) && !fd_still_open(st, fd))) {
      ev__iou_bad_fd(loop, st, fd, dispatch);
      return;
    }
    if (dispatch != EV__IOU_DRAIN) {
      ev__fd_event(loop, fd, ev__poll_to_events(res));
      st->reported++;
    }
  } else if (res == -EBADF || res == -EINVAL) {
    ev__iou_bad_fd(loop, st, fd, dispatch);
    return;
  }
  /* One-shot: re-armed before the next wait, which checks the level again (-ECANCELED,
   * -ENOMEM and friends included: a new request is the answer to all of them). */
  if (f->events)
    ev__iou_mark_dirty(loop, st, fd);
}

/* The polls died with the ring they were in: queue every fd that wants one for a new one. */
void ev__iou_polls_lost(struct ev_loop *loop, struct iouring *st)
{
  st->armed = 0;
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->eflags &= ~(EV__IOU_ARMED | EV__IOU_FRESH);
    if (f->events && (st->mode == EV__IOU_MODE_POLL || (f->eflags & EV__IOU_POLL)))
      ev__iou_mark_dirty(loop, st, fd);
  }
}

/* Poll mode: renew the polls that have been armed for a whole sweep period. Returns the
 * timeout shortened to the next sweep. */
ev_tstamp ev__iou_poll_sweep(struct ev_loop *loop, struct iouring *st, ev_tstamp timeout)
{
  if (st->mode != EV__IOU_MODE_POLL || st->sweep_interval <= 0. || !st->nfds)
    return timeout;
  if (st->next_sweep <= 0.)
    st->next_sweep = loop->mn_now + st->sweep_interval;
  if (loop->mn_now >= st->next_sweep) {
    for (int fd = 0; fd < loop->fd_cap; fd++) {
      struct ev_fd *f = &loop->fds[fd];
      if (!(f->eflags & EV__IOU_ARMED))
        continue;
      if (f->eflags & EV__IOU_FRESH)
        f->eflags &= ~EV__IOU_FRESH;
      else {
        f->eflags |= EV__IOU_RENEW;
        ev__iou_mark_dirty(loop, st, fd);
      }
    }
    st->next_sweep = loop->mn_now + st->sweep_interval;
    st->stats->sweeps++;
  }
  ev_tstamp left = st->next_sweep - loop->mn_now;
  return timeout < left ? timeout : left;
}
