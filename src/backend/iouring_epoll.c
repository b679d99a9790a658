/* iouring_epoll.c - ring-driven epoll (IORING_OP_EPOLL_WAIT, Linux 6.15+).
 *
 * An iteration's fd changes become IORING_OP_EPOLL_CTL requests (a CQE only on failure)
 * queued in front of one IORING_OP_EPOLL_WAIT, all submitted by the io_uring_enter that waits,
 * with the timeout inside it; an iteration with nothing to submit waits with a plain
 * epoll_wait on the same set instead (ev__iou_epoll_wait_directly). Level-triggered exactly
 * like libev's epoll backend, because it is epoll. Each registration carries a generation in its epoll_data, so that events of an older
 * registration of the same fd number are told apart. A refused EPOLL_CTL (EPERM for regular
 * files, ENOENT for a MOD of a file that was closed, EEXIST for an ADD of one still
 * registered) is answered with another request in the same iteration, followed by another
 * EPOLL_WAIT, so that the fd is reported in that iteration as on the epoll backend. */
#include "iouring.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int ctl_sqe(struct ev_loop *loop, struct iouring *st, int fd, int op, unsigned int kind,
                   uint32_t gen, int events)
{
  if (fd >= st->ctl_seq_cap) {
    int old = st->ctl_seq_cap;
    EV__GROW(st->ctl_seq, st->ctl_seq_cap, fd + 1);
    memset(st->ctl_seq + old, 0, (size_t)(st->ctl_seq_cap - old) * sizeof *st->ctl_seq);
  }
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  if (!sqe)
    return -1;
  st->ctl_seq[fd] = st->wait_gen;
  st->stats->fd_ring++;
  struct epoll_event *ev = &st->ctl[sqe - st->ring.sq.sqes];
  ev->events = ev__events_to_epoll(events);
  ev->data.u64 = (uint64_t)(gen & EV__IOU_GEN_MASK) << 32 | (uint32_t)fd;
  io_uring_prep_epoll_ctl(sqe, st->epfd, fd, op, ev);
  sqe->user_data = ev__iou_tag(kind, gen, fd);
  sqe->flags |= st->skip;
  return 0;
}

/* The requests that make the epoll set hold `want` for fd. -1 when no SQE could be had. */
int ev__iou_epoll_flush(struct ev_loop *loop, struct iouring *st, int fd, int want)
{
  struct ev_fd *f = &loop->fds[fd];
  if (want) {
    /* libev's epoll rules: ADD for a new registration, ADD answered EEXIST where the file
     * may be the one already registered with this mask, MOD for a mask change. */
    unsigned int kind;
    if (!(f->eflags & EV__IOU_REG))
      kind = EV__IOU_K_ADD;
    else if ((f->eflags & EV__IOU_RENEW) && f->emask == want)
      kind = EV__IOU_K_ADD_EXISTING;
    else if (f->emask != want)
      kind = EV__IOU_K_MOD;
    else
      return 0;
    int op = kind == EV__IOU_K_MOD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (ctl_sqe(loop, st, fd, op, kind, f->egen + 1, want) < 0)
      return -1;
    f->egen++;
    f->eflags |= EV__IOU_REG;
    f->emask = (unsigned char)want;
  } else if ((f->eflags & (EV__IOU_REG | EV__IOU_TRIM)) == (EV__IOU_REG | EV__IOU_TRIM)) {
    /* Stopped watchers keep their registration (no request for a stop, none failing for an
     * fd closed right after), until an event nobody wants shows it is still there. */
    if (ctl_sqe(loop, st, fd, EPOLL_CTL_DEL, EV__IOU_K_DEL, f->egen, 0) < 0)
      return -1;
    f->eflags &= ~EV__IOU_REG;
  }
  return 0;
}

void ev__iou_epoll_ctl_done(struct ev_loop *loop, struct iouring *st, unsigned int kind, int fd,
                            uint32_t gen, int res, int dispatch)
{
  struct ev_fd *f = &loop->fds[fd];
  if (kind == EV__IOU_K_DEL)
    return; /* closed meanwhile (EBADF) or gone (ENOENT): if another process keeps the file
             * open, its events come back and the EPOLL_WAIT's answer starts a new set */
  if (gen != (f->egen & EV__IOU_GEN_MASK) || res == 0)
    return; /* superseded */
  if (res == -EEXIST && kind == EV__IOU_K_ADD_EXISTING) {
    f->egen--; /* the same file, still registered under the previous generation */
    return;
  }
  if (res == -EEXIST) { /* registered already, with a mask we do not know */
    f->eflags |= EV__IOU_REG;
    f->emask = 0;
  } else if (res == -ENOENT) { /* MOD of a file no longer registered (closed, reopened) */
    f->eflags &= ~EV__IOU_REG;
  } else if (res == -EBADF) {
    f->eflags &= ~EV__IOU_REG;
    ev__iou_bad_fd(loop, st, fd, dispatch);
    return;
  } else {
    /* EPERM (regular files, /dev/null), EINVAL, ELOOP, ENOSPC, ENOMEM: io_uring's poll
     * takes what epoll will not, and reports EBADF itself if the fd is bad. */
    f->eflags &= ~EV__IOU_REG;
    f->eflags |= EV__IOU_POLL;
  }
  if (f->events) {
    ev__iou_mark_dirty(loop, st, fd);
    st->fixup = 1;
  }
}

static void report(struct ev_loop *loop, struct iouring *st, int n, int dispatch);

void ev__iou_epoll_wait_done(struct ev_loop *loop, struct iouring *st, uint32_t gen, int res,
                             int dispatch)
{
  if (gen != (st->wait_gen & EV__IOU_GEN_MASK))
    return;
  st->wait_inflight = 0;
  if (res < 0) {
    /* Four failures in a row: per-fd polls instead (ev__iou_epoll_abandon, called before the
     * next wait, not in the middle of walking the CQ). */
    if (res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
      st->wait_errors++;
      st->wait_errno = -res;
    }
    return;
  }
  st->wait_errors = 0;
  if (res >= st->evs_cap)
    st->evs_full = 1;
  if (dispatch == EV__IOU_RECHECK)
    return; /* collected before this iteration: the EPOLL_WAIT in its enter looks again */
  report(loop, st, res, dispatch);
}

/* The first n entries of st->evs, as the wait numbered st->wait_gen collected them. */
static void report(struct ev_loop *loop, struct iouring *st, int n, int dispatch)
{
  for (int i = 0; i < n; i++) {
    int fd = (int)(uint32_t)st->evs[i].data.u64;
    uint32_t egen = (uint32_t)(st->evs[i].data.u64 >> 32);
    if (fd >= loop->fd_cap)
      continue;
    struct ev_fd *f = &loop->fds[fd];
    if (!(f->eflags & EV__IOU_REG) || egen != (f->egen & EV__IOU_GEN_MASK)) {
      /* An EPOLL_WAIT armed before our latest EPOLL_CTL for the fd may have collected it
       * under the registration that request replaced or removed (a few generations back at
       * most). Otherwise, or from an EPOLL_WAIT armed later, it is a registration we cannot
       * address any more (the fd was closed while another process keeps the file): a new
       * epoll set, as libev does. */
      int before = fd < st->ctl_seq_cap && (int32_t)(st->ctl_seq[fd] - st->wait_gen) >= 0;
      if (!before || ((f->egen - egen) & EV__IOU_GEN_MASK) > 4)
        st->rebuild = 1;
      /* Either way not reported: it may describe a file the fd no longer refers to. If the
       * fd is still ready, the next EPOLL_WAIT says so under the current generation. */
      continue;
    }
    if (f->eflags & EV__IOU_RENEW)
      continue; /* the renewed registration will tell */
    int got = ev__epoll_to_events(st->evs[i].events);
    if (got & ~f->events & (EV_READ | EV_WRITE)) {
      f->eflags |= EV__IOU_TRIM;
      ev__iou_mark_dirty(loop, st, fd);
    }
    if (dispatch != EV__IOU_DRAIN) {
      ev__fd_event(loop, fd, got);
      st->reported++;
    }
  }
}

/* Room in st->evs for every watched fd (more after a wait that filled it). Only while no
 * EPOLL_WAIT is in the kernel, which writes the buffer. */
static void evs_reserve(struct iouring *st)
{
  int want = st->nfds + 64;
  if (st->evs_full)
    want = want > 2 * st->evs_cap ? want : 2 * st->evs_cap;
  if (want > st->evs_cap) {
    ev__free(st->evs);
    st->evs = ev__realloc(NULL, (size_t)want * sizeof *st->evs);
    st->evs_cap = want;
  }
  st->evs_full = 0;
}

/* An iteration that changes nothing in the kernel needs the ring for nothing: no request to
 * submit, none in flight, no completion to reap. It then waits like the epoll backend, with
 * one epoll_wait on the same set, which costs less than an io_uring_enter carrying an
 * EPOLL_WAIT (a request and a completion). Iterations that change registrations still submit
 * them and wait in one enter. */
int ev__iou_epoll_can_wait_directly(const struct iouring *st)
{
  return st->mode == EV__IOU_MODE_EPOLL && st->epfd >= 0 && !st->wait_inflight &&
         !st->armed && !st->fixup && io_uring_sq_ready(&st->ring) == 0 &&
         io_uring_cq_ready(&st->ring) == 0 &&
         !(IO_URING_READ_ONCE(*st->ring.sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
}

void ev__iou_epoll_wait_directly(struct ev_loop *loop, struct iouring *st, ev_tstamp timeout)
{
  evs_reserve(st);
  st->wait_gen++; /* every request queued so far went to the kernel before this wait */
  st->stats->direct_waits++;
  /* EINTR is waited out: a signal for one of the loop's watchers also writes the loop's
   * eventfd, which ends the next wait at once, and the other interruptions are the kernel's
   * (closing a ring notifies the task that used it, about 16 ms later) where an io_uring_enter
   * would have gone on waiting. The deadline counts from the loop's time of this iteration
   * (no clock read per wait): a retry may end early, never late. */
  ev_tstamp deadline = loop->mn_now + timeout;
  int n;
  for (;;) {
    st->stats->sys_wait++;
    n = epoll_wait(st->epfd, st->evs, st->evs_cap, ev__timeout_ms(timeout));
    if (n >= 0 || errno != EINTR)
      break;
    timeout = deadline - ev__monotonic();
    if (timeout <= 0.)
      timeout = 0.;
  }
  if (n < 0) {
    st->wait_errors++; /* as a failed EPOLL_WAIT: four in a row and per-fd polls take over */
    st->wait_errno = errno;
    return;
  }
  st->wait_errors = 0;
  if (n >= st->evs_cap)
    st->evs_full = 1;
  report(loop, st, n, EV__IOU_DISPATCH);
}

/* Queue the EPOLL_WAIT, unless one is in the kernel already. */
void ev__iou_epoll_queue_wait(struct ev_loop *loop, struct iouring *st)
{
  if (st->mode != EV__IOU_MODE_EPOLL || st->wait_inflight)
    return;
  evs_reserve(st);
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  if (!sqe)
    return;
  io_uring_prep_rw(EV__IORING_OP_EPOLL_WAIT, sqe, st->fixed_ep ? 0 : st->epfd, st->evs,
                   (unsigned int)st->evs_cap, 0);
  if (st->fixed_ep)
    sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = ev__iou_tag(EV__IOU_K_WAIT, ++st->wait_gen, 0);
  st->wait_inflight = 1;
}

/* A new, empty epoll set under the same fd number (loop->backend_fd must not change; works
 * with no fd to spare). 0 or -errno; st->epfd is -1 when the old set is gone and no new one
 * could be made. */
int ev__iou_epoll_renew_set(struct ev_loop *loop, struct iouring *st)
{
  int r = ev__epoll_fresh_set(&st->epfd);
  ev__backend_fd_set(loop, st->epfd);
  return r;
}

/* Every fd that wants epoll is registered again, in the next flush. */
static void register_all_again(struct ev_loop *loop, struct iouring *st, unsigned char clear)
{
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->eflags &= (unsigned char)~clear;
    if (f->events && !(f->eflags & EV__IOU_POLL)) {
      f->eflags |= EV__IOU_RENEW;
      ev__iou_mark_dirty(loop, st, fd);
    }
  }
}

/* Replace the epoll set by an empty one and register every wanted fd again: for events of
 * registrations we can no longer address (libev does the same). */
void ev__iou_epoll_rebuild(struct ev_loop *loop, struct iouring *st)
{
  ev__iou_ring_cancel_all(loop, st);
  ev__iou_evs_abandon(st);
  int r = ev__iou_epoll_renew_set(loop, st);
  if (r < 0) {
    ev__iou_epoll_abandon(loop, st, -r); /* no epoll set: per-fd polls */
    return;
  }
  /* The fixed file still is the old epoll set: point it at the new one (or stop using it). */
  if (st->fixed_ep) {
    ev__iou_count_syscall(st, 0);
    if (io_uring_register_files_update(&st->ring, 0, &st->epfd, 1) != 1)
      st->fixed_ep = 0;
  }
  st->rebuild = 0;
  st->stats->rebuilds++;
  register_all_again(loop, st, EV__IOU_REG | EV__IOU_TRIM);
}

/* EPOLL_WAIT keeps failing, or there is no epoll set (err says why): per-fd polls from now
 * on. */
void ev__iou_epoll_abandon(struct ev_loop *loop, struct iouring *st, int err)
{
  ev__iou_ring_cancel_all(loop, st);
  ev__iou_evs_abandon(st);
  st->mode = EV__IOU_MODE_POLL;
  loop->stats.iouring_mode = EVRING_STATS_RING_POLL;
  ev__stats_fallback(loop, EVRING_FALLBACK_RING_POLL, err);
  if (st->fixed_ep) {
    ev__iou_count_syscall(st, 0);
    io_uring_unregister_files(&st->ring); /* let the epoll file go */
  }
  st->fixed_ep = 0;
  if (st->epfd >= 0)
    close(st->epfd);
  st->epfd = -1;
  st->rebuild = 0;
  ev__backend_fd_set(loop, st->ring.ring_fd);
  register_all_again(loop, st, EV__IOU_REG | EV__IOU_POLL | EV__IOU_TRIM);
}
