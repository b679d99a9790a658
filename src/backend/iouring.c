/* iouring.c - the io_uring backend.
 *
 * Two mechanisms, chosen per kernel (measured on 6.18, 2 vCPU VM; numbers, commands and the
 * reasoning in docs/iouring-design.md, programs in tools/experiments/):
 *
 * - ring-driven epoll (IORING_OP_EPOLL_WAIT in the probe, 6.15+): the fd changes of an
 *   iteration become IORING_OP_EPOLL_CTL requests (a CQE only on failure) queued in front of
 *   one IORING_OP_EPOLL_WAIT, all submitted by the io_uring_enter that waits, with the timeout
 *   inside it. Level-triggered exactly like libev's epoll, because it is epoll. Raw cost per
 *   ping-pong event 0.96x epoll_wait+epoll_ctl, mask flips 0.65x (no epoll_ctl syscalls).
 *   SINGLE_ISSUER + DEFER_TASKRUN, enabled by the thread that polls first.
 * - one-shot IORING_OP_POLL_ADD per fd, re-armed after its callbacks ran (older kernels, or
 *   EVRING_IOURING_DISABLE=epoll_wait): one-shot poll checks the level when armed; 1.09x.
 *   Multishot poll is edge-triggered after its first completion, and multishot + a poll update
 *   per event (which re-checks the level) measured 1.31x: not used. No DEFER_TASKRUN here: a
 *   poll completes with the mask of its wake-up, which deferred task work would report late.
 *
 * In both, stale completions are recognised by a generation tag in user_data, a stopped
 * watcher's poll leaves the kernel in the very next io_uring_enter, and an iteration makes at
 * most one io_uring_enter (none when completions are waiting and nothing is queued) except to
 * drain what the kernel still holds (CQ overflow, DEFER_TASKRUN work beyond its per-enter
 * limit) and to answer a refused EPOLL_CTL at once. fds epoll refuses (regular files,
 * /dev/null: EPERM) go through POLL_ADD in the same ring, which accepts every fd type.
 *
 * The kernel's answers are all handled: short submissions leave the rest queued for the next
 * enter; -EBUSY/-EAGAIN/-EINTR/-ETIME end the wait; CQ overflow (NODROP) is drained within the
 * iteration and grows the ring; -EBADR (CQEs dropped) and other ring failures re-create the
 * ring and re-arm every fd; -EEXIST (a SINGLE_ISSUER ring entered from another thread)
 * re-creates it without that flag; EBADF/EINVAL on a poll or an epoll_ctl become EV_ERROR for
 * the fd's watchers. If no ring can be had any more, the loop moves to the epoll backend. */
#include "iouring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum { MODE_EPOLL = 1, MODE_POLL = 2 };

/* struct ev_fd.eflags */
#define F_DIRTY 0x01   /* on st->dirty: its kernel state must be reconciled before the wait */
#define F_COUNTED 0x02 /* counted in st->nfds (has a wanted mask) */
#define F_REG 0x04     /* in the epoll set; emask is the registered mask */
#define F_POLL 0x08    /* ring epoll mode: epoll refused this fd, POLL_ADD instead */
#define F_ARMED 0x10   /* a POLL_ADD tagged egen is in the kernel; emask is its mask */
#define F_RENEW 0x20   /* the fd number may refer to another file now: renew */
#define F_FRESH 0x40   /* armed since the last sweep */
#define F_TRIM 0x80    /* ring epoll: an unwanted event came, shrink the registration */

/* user_data: kind in bits 60..63, generation in bits 32..59, fd in bits 0..31. Never all ones
 * (liburing's LIBURING_UDATA_TIMEOUT). */
enum { K_POLL = 1, K_REMOVE, K_ADD, K_ADD_EXISTING, K_MOD, K_DEL, K_WAIT, K_CANCEL };
#define GEN_MASK 0x0fffffffu

static inline uint64_t tag(unsigned int kind, uint32_t gen, int fd)
{
  return (uint64_t)kind << 60 | (uint64_t)(gen & GEN_MASK) << 32 | (uint32_t)fd;
}

#define RING_MIN 128u
#define RING_MAX 32768u /* the kernel's SQ maximum; the CQ gets twice as many */

struct iouring {
  struct io_uring ring;
  unsigned int ring_flags; /* IORING_SETUP_* the current ring got */
  unsigned int sq_size;
  int need_enable; /* created R_DISABLED: enabled by the thread that polls first */
  int grow;        /* the CQ overflowed: make the next ring bigger */
  pid_t pid;       /* process that set the ring up: only it may cancel requests */
  /* Registered by the loop's thread when it first polls (a syscall per ring, not per
   * iteration): the ring fd (io_uring_register_ring_fd: each enter skips an fget/fput of the
   * ring) and, in ring epoll mode, the epoll fd as fixed file 0 for EPOLL_WAIT (skips another
   * fget/fput). Measured +7 % and +4 % events/s on `evbench churn -k 1`. */
  int need_register;
  int fixed_ep;          /* EPOLL_WAIT uses fixed file 0, which is st->epfd's file */
  pthread_t reg_thread;  /* the thread whose registered-ring table holds our ring */

  unsigned int off;        /* EVRING_IOURING_DISABLE, plus what this loop learned */
  unsigned int fixed_size; /* EVRING_IOURING_ENTRIES: this size, never grown */
  unsigned char skip;      /* IOSQE_CQE_SKIP_SUCCESS where the kernel has it */
  int mode;

  int *dirty;
  int dirty_n, dirty_cap;
  int nfds;  /* fds with a wanted mask */
  int armed; /* POLL_ADD requests in the kernel */

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
  int fixup;   /* an EPOLL_CTL failed and needs another request (EPERM: POLL_ADD instead) */
  int failures; /* io_uring_enter failures in a row */
  unsigned int reported; /* events and errors handed to the loop */
  void **retired; /* buffers a ring we could not cancel may still write: freed at destroy */
  int retired_n, retired_cap;

  /* per-fd polls pin their file: a sweep renews the ones armed for a whole period, so that
   * an fd closed without stopping its watcher is let go */
  ev_tstamp sweep_interval, next_sweep;

  struct {
    unsigned long enters, sqes, cqes, overflow_rounds, recreates, rebuilds, sweeps, errors;
  } stats;
};

/* What process_cqes() does with readiness: drop it (the ring is going away), report it, or
 * re-check it (completions that arrived before this iteration's enter may be stale). */
enum { DRAIN, DISPATCH, RECHECK };

static unsigned int process_cqes(struct ev_loop *loop, struct iouring *st, int dispatch);

/* ------------------------------------------------------------------------------------------ */
/* Rings                                                                                      */

/* Set up st->ring with `entries` SQ entries: the best flags the kernel and this loop allow,
 * fewer when the kernel says EINVAL, smaller when it says ENOMEM. 0 or -errno. */
static int ring_setup(struct iouring *st, unsigned int entries)
{
  const struct ev__iouring_caps *caps = ev__iouring_caps();
  const unsigned int defer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                             IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
  const unsigned int coop = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  unsigned int base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  unsigned int chain[4];
  int n = 0;

  if (!(st->off & EV__IOU_OFF_SUBMIT_ALL) && (caps->setup_ok & IORING_SETUP_SUBMIT_ALL))
    base |= IORING_SETUP_SUBMIT_ALL;
  /* DEFER_TASKRUN only for ring-driven epoll: a one-shot poll completes with the mask of its
   * wake-up, and deferred until our next enter that mask may be long stale (another process
   * read the data); EPOLL_WAIT looks at the level when it runs. */
  if (!(st->off & EV__IOU_OFF_DEFER) && st->mode == MODE_EPOLL &&
      (caps->setup_ok & defer) == defer)
    chain[n++] = base | defer;
  if (!(st->off & EV__IOU_OFF_COOP) && (caps->setup_ok & coop) == coop)
    chain[n++] = base | coop;
  chain[n++] = base;
  chain[n++] = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;

  int r = -EINVAL;
  for (int i = 0; i < n; i++) {
    for (unsigned int e = entries;; e /= 2) {
      struct io_uring_params p;
      memset(&p, 0, sizeof p);
      p.flags = chain[i];
      p.cq_entries = 2 * e;
      r = io_uring_queue_init_params(e, &st->ring, &p);
      if (r == 0) {
        st->ring_flags = chain[i];
        st->sq_size = p.sq_entries;
        st->need_enable = !!(chain[i] & IORING_SETUP_R_DISABLED);
        st->need_register = !(st->off & EV__IOU_OFF_REGISTER);
        st->fixed_ep = 0;
        st->pid = getpid();
        /* One epoll_event per SQE slot: a slot is not reused before the kernel read it. */
        if ((int)st->sq_size > st->ctl_cap) {
          ev__free(st->ctl);
          st->ctl = ev__realloc(NULL, st->sq_size * sizeof *st->ctl);
          st->ctl_cap = (int)st->sq_size;
        }
        return 0;
      }
      if (r != -ENOMEM || e <= 8)
        break;
    }
    if (r != -EINVAL && r != -ENOMEM)
      return r; /* EPERM, ENOSYS: io_uring is not for us */
  }
  return r;
}

/* liburing 2.3's private flag (src/int_flags.h) telling its enter calls to pass
 * IORING_ENTER_REGISTERED_RING with the registered index in enter_ring_fd. */
#define LIBURING_INT_FLAG_REG_RING 1

/* A registered ring index means something only in the thread that registered it (the table
 * is per task; in another thread the same index may be another ring): entered from elsewhere
 * (a loop handed to another thread, a fork child), the ring is entered by its fd again. The
 * slot in the registering thread stays taken until that thread exits or unregisters. */
static void ring_fd_owner_check(struct io_uring *ring, pthread_t owner, int forked)
{
  if (!(ring->int_flags & LIBURING_INT_FLAG_REG_RING))
    return;
  if (!forked && pthread_equal(pthread_self(), owner))
    return;
  ring->int_flags &= (__u8)~LIBURING_INT_FLAG_REG_RING;
  ring->enter_ring_fd = ring->ring_fd;
}

/* Hand the new ring the fd number of the one it replaces (loop->backend_fd, which ev_embed
 * watches, must not change) and unmap and close the old one. Safe in a forked child: closing
 * and unmapping touch nothing the parent uses. */
static void ring_retire(struct iouring *st, struct io_uring *old)
{
  int keep = old->ring_fd;
  int fresh = st->ring.ring_fd;
  ring_fd_owner_check(old, st->reg_thread, st->pid != getpid());
  if (old->int_flags & LIBURING_INT_FLAG_REG_RING)
    io_uring_unregister_ring_fd(old); /* before enter_ring_fd is overwritten below */
  if (keep >= 0 && keep != fresh && dup3(fresh, keep, O_CLOEXEC) == keep) {
    st->ring.ring_fd = st->ring.enter_ring_fd = keep;
    old->ring_fd = old->enter_ring_fd = fresh; /* closed by queue_exit below */
  }
  io_uring_queue_exit(old);
}

/* A ring we drop may still hold requests (if a forked child keeps its fd open, closing ours
 * does not end them: polls would pin their files) and an EPOLL_WAIT writing into st->evs:
 * cancel everything while this task still may. Completions are drained, not dispatched. */
static void ring_cancel_all(struct ev_loop *loop, struct iouring *st)
{
  if (st->pid != getpid() || st->need_enable)
    return;
  if (!st->armed && !st->wait_inflight && !io_uring_sq_ready(&st->ring))
    return;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
  if (!sqe) {
    st->stats.enters++;
    io_uring_submit_and_get_events(&st->ring);
    process_cqes(loop, st, DRAIN);
    sqe = io_uring_get_sqe(&st->ring);
  }
  if (!sqe)
    return;
  if (st->off & EV__IOU_OFF_CANCEL_ANY)
    io_uring_prep_cancel64(sqe, tag(K_WAIT, st->wait_gen, 0), 0);
  else
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY); /* 5.19; else EINVAL, harmless */
  sqe->user_data = tag(K_CANCEL, 0, 0);
  st->stats.enters++;
  int r = io_uring_submit_and_get_events(&st->ring);
  process_cqes(loop, st, DRAIN);
  for (int i = 0; i < 4 && st->wait_inflight && (r >= 0 || r == -ETIME || r == -EINTR); i++) {
    struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    st->stats.enters++;
    r = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    process_cqes(loop, st, DRAIN);
  }
}

/* The EPOLL_WAIT we could not see finish may write st->evs later: never reuse that buffer. */
static void evs_abandon(struct iouring *st)
{
  if (!st->wait_inflight)
    return;
  EV__GROW(st->retired, st->retired_cap, st->retired_n + 1);
  st->retired[st->retired_n++] = st->evs;
  st->evs = NULL;
  st->evs_cap = 0;
  st->wait_inflight = 0;
  st->wait_gen++;
}

static void mark_dirty(struct ev_loop *loop, struct iouring *st, int fd)
{
  struct ev_fd *f = &loop->fds[fd];
  if (f->eflags & F_DIRTY)
    return;
  f->eflags |= F_DIRTY;
  EV__GROW(st->dirty, st->dirty_cap, st->dirty_n + 1);
  st->dirty[st->dirty_n++] = fd;
}

/* The per-fd polls died with the ring they were in: queue every wanted fd for a new one. */
static void polls_lost(struct ev_loop *loop, struct iouring *st)
{
  st->armed = 0;
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->eflags &= ~(F_ARMED | F_FRESH);
    if (f->events && (st->mode == MODE_POLL || (f->eflags & F_POLL)))
      mark_dirty(loop, st, fd);
  }
}

static void give_up(struct ev_loop *loop, struct iouring *st);

/* Replace the ring (bigger, other flags, or after a failure); every request is re-issued.
 * `usable`: this task may still submit to the old ring. */
static int ring_recreate(struct ev_loop *loop, struct iouring *st, unsigned int entries,
                         int usable)
{
  struct io_uring old = st->ring;
  unsigned int old_flags = st->ring_flags, old_size = st->sq_size;
  int old_enable = st->need_enable;

  if (usable)
    ring_cancel_all(loop, st);
  /* EPOLL_CTL requests the old ring never took: the epoll set is not what we believe. */
  if (st->mode == MODE_EPOLL && io_uring_sq_ready(&st->ring) > 0)
    st->rebuild = 1;
  evs_abandon(st);
  int r = ring_setup(st, entries);
  if (r < 0) {
    st->ring = old;
    st->ring_flags = old_flags;
    st->sq_size = old_size;
    st->need_enable = old_enable;
    return r;
  }
  ring_retire(st, &old);
  st->stats.recreates++;
  polls_lost(loop, st);
  if (st->mode == MODE_POLL)
    loop->backend_fd = st->ring.ring_fd;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Ring-driven epoll set                                                                      */

/* Replace the epoll set by an empty one under the same fd number and register every wanted fd
 * again: for events of registrations we can no longer address (libev does the same). */
static void epoll_rebuild(struct ev_loop *loop, struct iouring *st)
{
  if (st->wait_inflight)
    ring_cancel_all(loop, st);
  evs_abandon(st);
  int fresh = epoll_create1(EPOLL_CLOEXEC);
  if (fresh < 0)
    return; /* try again next iteration */
  if (dup3(fresh, st->epfd, O_CLOEXEC) == st->epfd)
    close(fresh);
  else {
    close(st->epfd);
    st->epfd = fresh;
    loop->backend_fd = fresh;
  }
  /* The fixed file still is the old epoll set: point it at the new one (or stop using it). */
  if (st->fixed_ep && io_uring_register_files_update(&st->ring, 0, &st->epfd, 1) != 1)
    st->fixed_ep = 0;
  st->rebuild = 0;
  st->stats.rebuilds++;
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->eflags &= ~(F_REG | F_TRIM);
    if (f->events && !(f->eflags & F_POLL)) {
      f->eflags |= F_RENEW;
      mark_dirty(loop, st, fd);
    }
  }
}

/* EPOLL_WAIT keeps failing, or no epoll fd: per-fd polls from now on. */
static void epoll_abandon(struct ev_loop *loop, struct iouring *st)
{
  if (st->wait_inflight)
    ring_cancel_all(loop, st);
  evs_abandon(st);
  st->mode = MODE_POLL;
  if (st->fixed_ep)
    io_uring_unregister_files(&st->ring); /* let the epoll file go */
  st->fixed_ep = 0;
  if (st->epfd >= 0)
    close(st->epfd);
  st->epfd = -1;
  loop->backend_fd = st->ring.ring_fd;
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->eflags &= ~(F_REG | F_POLL | F_TRIM);
    if (f->events) {
      f->eflags |= F_RENEW;
      mark_dirty(loop, st, fd);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */

/* A free SQE. When the SQ is full (a ring at the kernel's maximum or fixed by
 * EVRING_IOURING_ENTRIES) what is queued goes to the kernel first. NULL if it will not take
 * anything now. */
static struct io_uring_sqe *get_sqe(struct ev_loop *loop, struct iouring *st)
{
  struct io_uring_sqe *sqe;
  for (int tries = 0; !(sqe = io_uring_get_sqe(&st->ring)); tries++) {
    if (tries == 4)
      return NULL;
    st->stats.enters++;
    int r = io_uring_submit_and_get_events(&st->ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      return NULL;
    process_cqes(loop, st, DISPATCH); /* -EBUSY: the CQ must be drained before the kernel takes more */
  }
  st->stats.sqes++;
  return sqe;
}

static unsigned int poll_mask(int events)
{
  return (events & EV_READ ? POLLIN : 0) | (events & EV_WRITE ? POLLOUT : 0);
}

static int epoll_ctl_sqe(struct ev_loop *loop, struct iouring *st, int fd, int op,
                         unsigned int kind, uint32_t gen, int events)
{
  if (fd >= st->ctl_seq_cap) {
    int old = st->ctl_seq_cap;
    EV__GROW(st->ctl_seq, st->ctl_seq_cap, fd + 1);
    memset(st->ctl_seq + old, 0, (size_t)(st->ctl_seq_cap - old) * sizeof *st->ctl_seq);
  }
  struct io_uring_sqe *sqe = get_sqe(loop, st);
  if (!sqe)
    return -1;
  st->ctl_seq[fd] = st->wait_gen;
  struct epoll_event *ev = &st->ctl[sqe - st->ring.sq.sqes];
  ev->events = (events & EV_READ ? EPOLLIN : 0) | (events & EV_WRITE ? EPOLLOUT : 0);
  ev->data.u64 = (uint64_t)(gen & GEN_MASK) << 32 | (uint32_t)fd;
  io_uring_prep_epoll_ctl(sqe, st->epfd, fd, op, ev);
  sqe->user_data = tag(kind, gen, fd);
  sqe->flags |= st->skip;
  return 0;
}

/* Turn one fd's wanted mask into requests. -1 when no SQE could be had (the fd stays dirty). */
static int flush_fd(struct ev_loop *loop, struct iouring *st, int fd)
{
  struct ev_fd *f = &loop->fds[fd];
  int want = f->events & (EV_READ | EV_WRITE);

  /* Cleared first: completions drained by get_sqe() may queue this fd again. */
  f->eflags &= ~F_DIRTY;

  /* A poll that no longer fits leaves in this very enter: it holds a reference to the file. */
  if ((f->eflags & F_ARMED) && (!want || (f->eflags & F_RENEW) || f->emask != want)) {
    struct io_uring_sqe *sqe = get_sqe(loop, st);
    if (!sqe)
      goto busy;
    io_uring_prep_poll_remove(sqe, tag(K_POLL, f->egen, fd));
    sqe->user_data = tag(K_REMOVE, f->egen, fd);
    sqe->flags |= st->skip;
    f->eflags &= ~(F_ARMED | F_FRESH);
    st->armed--;
  }
  if (st->mode == MODE_EPOLL && (f->eflags & F_RENEW))
    f->eflags &= ~F_POLL; /* a new file: epoll may take it */

  if (st->mode == MODE_POLL || (f->eflags & F_POLL)) {
    if (want && !(f->eflags & F_ARMED)) {
      struct io_uring_sqe *sqe = get_sqe(loop, st);
      if (!sqe)
        goto busy;
      f->egen++;
      io_uring_prep_poll_add(sqe, fd, poll_mask(want));
      sqe->user_data = tag(K_POLL, f->egen, fd);
      f->eflags |= F_ARMED | F_FRESH;
      f->emask = (unsigned char)want;
      st->armed++;
    }
  } else if (want) {
    /* libev's epoll rules: ADD for a new registration, ADD answered EEXIST where the file
     * may be the one already registered with this mask, MOD for a mask change. Every
     * request carries a new generation, so events of an older registration are told apart. */
    if (!(f->eflags & F_REG)) {
      if (epoll_ctl_sqe(loop, st, fd, EPOLL_CTL_ADD, K_ADD, f->egen + 1, want) < 0)
        goto busy;
    } else if ((f->eflags & F_RENEW) && f->emask == want) {
      if (epoll_ctl_sqe(loop, st, fd, EPOLL_CTL_ADD, K_ADD_EXISTING, f->egen + 1, want) < 0)
        goto busy;
    } else if (f->emask != want) {
      if (epoll_ctl_sqe(loop, st, fd, EPOLL_CTL_MOD, K_MOD, f->egen + 1, want) < 0)
        goto busy;
    } else
      goto done;
    f->egen++;
    f->eflags |= F_REG;
    f->emask = (unsigned char)want;
  } else if ((f->eflags & (F_REG | F_TRIM)) == (F_REG | F_TRIM)) {
    /* Stopped watchers keep their registration (no request for a stop, none failing for an
     * fd closed right after), until an event nobody wants shows it is still there. */
    if (epoll_ctl_sqe(loop, st, fd, EPOLL_CTL_DEL, K_DEL, f->egen, 0) < 0)
      goto busy;
    f->eflags &= ~F_REG;
  }
done:
  f->eflags &= ~(F_RENEW | F_TRIM);
  return 0;
busy:
  f->eflags |= F_DIRTY; /* still listed: flush_dirty() keeps the rest of the list */
  return -1;
}

/* Reconcile the first `n` dirty fds (all when n < 0). */
static void flush_dirty(struct ev_loop *loop, struct iouring *st, int n)
{
  int i;
  if (n < 0 || n > st->dirty_n)
    n = st->dirty_n;
  /* Completions drained to make room in the SQ may queue more fds (a poll that fired wants
   * re-arming): those wait for the next iteration, or an always-ready fd would loop here. */
  for (i = 0; i < n; i++) {
    int fd = st->dirty[i];
    if (fd < loop->fd_cap && (loop->fds[fd].eflags & F_DIRTY) && flush_fd(loop, st, fd) < 0)
      break;
  }
  if (i && st->dirty_n > i)
    memmove(st->dirty, st->dirty + i, (size_t)(st->dirty_n - i) * sizeof *st->dirty);
  st->dirty_n -= i;
}

/* ------------------------------------------------------------------------------------------ */
/* Completions                                                                                */

static int revents_of(unsigned int mask)
{
  return (mask & (POLLOUT | POLLERR | POLLHUP) ? EV_WRITE : 0) |
         (mask & (POLLIN | POLLERR | POLLHUP) ? EV_READ : 0);
}

static void bad_fd(struct ev_loop *loop, struct iouring *st, int fd, int dispatch)
{
  st->stats.errors++;
  if (dispatch != DRAIN) {
    ev__fd_error(loop, fd);
    st->reported++;
  }
}

static void on_poll(struct ev_loop *loop, struct iouring *st, int fd, uint32_t gen, int res,
                    int dispatch)
{
  struct ev_fd *f = &loop->fds[fd];
  if (!(f->eflags & F_ARMED) || gen != (f->egen & GEN_MASK))
    return; /* removed, renewed or re-armed since: stale */
  f->eflags &= ~(F_ARMED | F_FRESH);
  st->armed--;
  if (f->eflags & F_RENEW)
    return; /* the fd may be another file now: the poll to come will tell, dirty already */
  if (res >= 0 && dispatch == RECHECK) {
    /* io_uring poll keeps the mask of the wake-up and does not look again: by now another
     * process may have read the data. A new poll in this iteration's enter checks afresh. */
    if (f->events)
      mark_dirty(loop, st, fd);
    return;
  }
  if (res >= 0) {
    /* A hang-up may be the last word of a file whose fd was closed while its poll held it
     * (libev's rules forbid that, epoll forgets such a file silently): one fcntl on this rare
     * path turns it into EV_ERROR, instead of an event followed by EV_ERROR at the re-arm. */
    if ((res & POLLNVAL) || ((res & (POLLHUP | POLLERR)) && !ev__fd_valid(fd))) {
      bad_fd(loop, st, fd, dispatch);
      return;
    }
    if (dispatch != DRAIN) {
      ev__fd_event(loop, fd, revents_of((unsigned int)res));
      st->reported++;
    }
  } else if (res == -EBADF || res == -EINVAL) {
    bad_fd(loop, st, fd, dispatch);
    return;
  }
  /* One-shot: re-armed before the next wait, which checks the level again (-ECANCELED,
   * -ENOMEM and friends included: a new request is the answer to all of them). */
  if (f->events)
    mark_dirty(loop, st, fd);
}

static void on_ctl_error(struct ev_loop *loop, struct iouring *st, unsigned int kind, int fd,
                         uint32_t gen, int res, int dispatch)
{
  struct ev_fd *f = &loop->fds[fd];
  if (kind == K_DEL)
    return; /* closed meanwhile (EBADF) or gone (ENOENT): if another process keeps the file
             * open, its events come back and on_wait() starts a new epoll set */
  if (gen != (f->egen & GEN_MASK) || res == 0)
    return; /* superseded */
  if (res == -EEXIST && kind == K_ADD_EXISTING) {
    f->egen--; /* the same file, still registered under the previous generation */
    return;
  }
  if (res == -EEXIST) { /* registered already, with a mask we do not know */
    f->eflags |= F_REG;
    f->emask = 0;
  } else if (res == -ENOENT) { /* MOD of a file no longer registered (closed, reopened) */
    f->eflags &= ~F_REG;
  } else if (res == -EBADF) {
    f->eflags &= ~F_REG;
    bad_fd(loop, st, fd, dispatch);
    return;
  } else {
    /* EPERM (regular files, /dev/null), EINVAL, ELOOP, ENOSPC, ENOMEM: io_uring's poll
     * takes what epoll will not, and reports EBADF itself if the fd is bad. */
    f->eflags &= ~F_REG;
    f->eflags |= F_POLL;
  }
  if (f->events) {
    mark_dirty(loop, st, fd);
    st->fixup = 1;
  }
}

static void on_wait(struct ev_loop *loop, struct iouring *st, uint32_t gen, int res,
                    int dispatch)
{
  if (gen != (st->wait_gen & GEN_MASK))
    return;
  st->wait_inflight = 0;
  if (res < 0) {
    /* Four failures in a row: per-fd polls instead, switched in prepare() (not here, in
     * the middle of walking the CQ). */
    if (res != -ECANCELED && res != -EINTR && res != -EAGAIN)
      st->wait_errors++;
    return;
  }
  st->wait_errors = 0;
  if (res >= st->evs_cap)
    st->evs_full = 1;
  if (dispatch == RECHECK)
    return; /* collected before this iteration: the EPOLL_WAIT in its enter looks again */
  for (int i = 0; i < res; i++) {
    int fd = (int)(uint32_t)st->evs[i].data.u64;
    uint32_t egen = (uint32_t)(st->evs[i].data.u64 >> 32);
    if (fd >= loop->fd_cap)
      continue;
    struct ev_fd *f = &loop->fds[fd];
    if (!(f->eflags & F_REG) || egen != (f->egen & GEN_MASK)) {
      /* An EPOLL_WAIT armed before our latest EPOLL_CTL for the fd may have collected it
       * under the registration that request replaced or removed (a few generations back at
       * most). Otherwise, or from an EPOLL_WAIT armed later, it is a registration we cannot
       * address any more (the fd was closed while another process keeps the file): a new
       * epoll set, as libev does. */
      int before = fd < st->ctl_seq_cap && (int32_t)(st->ctl_seq[fd] - st->wait_gen) >= 0;
      if (!before || ((f->egen - egen) & GEN_MASK) > 4)
        st->rebuild = 1;
      /* Either way not reported: it may describe a file the fd no longer refers to. If the
       * fd is still ready, the next EPOLL_WAIT says so under the current generation. */
      continue;
    }
    if (f->eflags & F_RENEW)
      continue; /* as in on_poll: the renewed registration will tell */
    int got = revents_of(st->evs[i].events);
    if (got & ~f->events & (EV_READ | EV_WRITE)) {
      f->eflags |= F_TRIM;
      mark_dirty(loop, st, fd);
    }
    if (dispatch != DRAIN) {
      ev__fd_event(loop, fd, got);
      st->reported++;
    }
  }
}

static unsigned int process_cqes(struct ev_loop *loop, struct iouring *st, int dispatch)
{
  struct io_uring_cqe *cqe;
  unsigned int head, n = 0;
  io_uring_for_each_cqe(&st->ring, head, cqe)
  {
    uint64_t ud = cqe->user_data;
    unsigned int kind = (unsigned int)(ud >> 60);
    uint32_t gen = (uint32_t)(ud >> 32) & GEN_MASK;
    int fd = (int)(uint32_t)ud;
    n++;
    if (kind == K_WAIT)
      on_wait(loop, st, gen, cqe->res, dispatch);
    else if (fd < 0 || fd >= loop->fd_cap)
      ; /* cancel answers and the like */
    else if (kind == K_POLL)
      on_poll(loop, st, fd, gen, cqe->res, dispatch);
    else if (kind >= K_ADD && kind <= K_DEL)
      on_ctl_error(loop, st, kind, fd, gen, cqe->res, dispatch);
    /* K_REMOVE, K_CANCEL: -ENOENT/-EALREADY, the request had finished already */
  }
  io_uring_cq_advance(&st->ring, n);
  st->stats.cqes += n;
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Backend operations                                                                         */

static int iouring_available(void)
{
  if (ev__iouring_disabled() & EV__IOU_OFF_ALL)
    return 0;
  return ev__iouring_caps()->usable;
}

static int iouring_init(struct ev_loop *loop)
{
  const struct ev__iouring_caps *caps = ev__iouring_caps();
  unsigned int off = ev__iouring_disabled();
  if (off & EV__IOU_OFF_ALL)
    return -ENOSYS;
  if (!caps->usable)
    return -(caps->setup_errno ? caps->setup_errno : ENOSYS);

  struct iouring *st = ev__realloc(NULL, sizeof *st);
  memset(st, 0, sizeof *st);
  st->off = off;
  st->epfd = -1;
  long fixed = ev__iouring_env_long("EVRING_IOURING_ENTRIES", 0);
  st->fixed_size = fixed > 0 && fixed <= (long)RING_MAX ? (unsigned int)fixed : 0;
  st->sweep_interval = ev__iouring_env_long("EVRING_IOURING_SWEEP_MS", 1000) / 1e3;
  if ((caps->features & IORING_FEAT_CQE_SKIP) && !(off & EV__IOU_OFF_CQE_SKIP))
    st->skip = IOSQE_CQE_SKIP_SUCCESS;

  st->mode = MODE_POLL;
  if (caps->epoll_ops && !(off & EV__IOU_OFF_EPOLL_WAIT)) {
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd >= 0)
      st->mode = MODE_EPOLL;
  }
  int r = ring_setup(st, st->fixed_size ? st->fixed_size : RING_MIN);
  if (r < 0) {
    if (st->epfd >= 0)
      close(st->epfd);
    ev__free(st->ctl);
    ev__free(st);
    return r;
  }
  loop->backend_data = st;
  loop->backend_fd = st->mode == MODE_EPOLL ? st->epfd : st->ring.ring_fd;
  return 0;
}

static void stats_report(struct iouring *st)
{
  if (!ev__iouring_env_long("EVRING_IOURING_STATS", 0))
    return;
  fprintf(stderr,
          "evring-iouring: mode=%s ring_flags=%#x sq=%u enters=%lu sqes=%lu cqes=%lu "
          "overflow_rounds=%lu recreates=%lu rebuilds=%lu sweeps=%lu errors=%lu\n",
          st->mode == MODE_EPOLL ? "epoll" : "poll", st->ring_flags, st->sq_size,
          st->stats.enters, st->stats.sqes, st->stats.cqes, st->stats.overflow_rounds,
          st->stats.recreates, st->stats.rebuilds, st->stats.sweeps, st->stats.errors);
}

static void iouring_destroy(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  if (!st)
    return;
  stats_report(st);
  ring_fd_owner_check(&st->ring, st->reg_thread, st->pid != getpid());
  ring_cancel_all(loop, st);
  evs_abandon(st);
  io_uring_queue_exit(&st->ring);
  if (st->epfd >= 0)
    close(st->epfd);
  for (int i = 0; i < st->retired_n; i++)
    ev__free(st->retired[i]);
  ev__free(st->retired);
  ev__free(st->evs);
  ev__free(st->ctl);
  ev__free(st->ctl_seq);
  ev__free(st->dirty);
  ev__free(st);
  loop->backend_data = NULL;
  loop->backend_fd = -1;
}

/* Without a ring (io_uring forbidden after the loop was created, memory exhausted): hand the
 * loop to the epoll backend, as if it had been chosen at creation. */
static void give_up(struct ev_loop *loop, struct iouring *st)
{
  (void)st;
  iouring_destroy(loop);
  const struct ev_backend_ops *next[] = {&ev__backend_epoll, &ev__backend_poll,
                                         &ev__backend_select};
  for (size_t i = 0; i < sizeof next / sizeof next[0]; i++) {
    loop->backend = next[i];
    if (next[i]->init(loop) == 0) {
      ev__fd_rearm_all(loop);
      return;
    }
  }
  ev__syserr("(libev) io_uring failed and no other backend could be set up");
}

static int iouring_fork(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  /* The inherited ring is the parent's (shared memory, its requests): never submit to it,
   * only unmap it and close our descriptor, under which the new ring is then installed. */
  ring_fd_owner_check(&st->ring, st->reg_thread, 1); /* the child has no registered rings */
  struct io_uring old = st->ring;
  if (ring_setup(st, st->sq_size) < 0) {
    st->ring = old;
    give_up(loop, st); /* st->pid is still the parent's: nothing is cancelled */
    return 0;
  }
  ring_retire(st, &old);
  st->wait_inflight = 0; /* the parent's EPOLL_WAIT writes the parent's memory */
  st->wait_gen++;
  st->dirty_n = 0;
  st->nfds = 0;
  st->armed = 0;
  st->rebuild = 0;
  if (st->mode == MODE_EPOLL) {
    /* The inherited epoll set is shared with the parent: a new one under the same number. */
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh >= 0 && dup3(fresh, st->epfd, O_CLOEXEC) == st->epfd)
      close(fresh);
    else {
      close(st->epfd);
      st->epfd = fresh;
      if (fresh < 0)
        st->mode = MODE_POLL;
    }
  }
  loop->backend_fd = st->mode == MODE_EPOLL ? st->epfd : st->ring.ring_fd;
  /* The loop now clears every fd's backend state and calls modify() for each. */
  return 0;
}

static void iouring_modify(struct ev_loop *loop, int fd, int oev, int nev)
{
  struct iouring *st = loop->backend_data;
  struct ev_fd *f = &loop->fds[fd];
  int want = nev & (EV_READ | EV_WRITE);
  if ((nev & EV__IOFDSET) || (!(oev & (EV_READ | EV_WRITE)) && want))
    f->eflags |= F_RENEW;
  if (want && !(f->eflags & F_COUNTED)) {
    f->eflags |= F_COUNTED;
    st->nfds++;
  } else if (!want && (f->eflags & F_COUNTED)) {
    f->eflags &= ~F_COUNTED;
    st->nfds--;
  }
  mark_dirty(loop, st, fd);
}

static unsigned int ring_size_for(int nfds)
{
  unsigned int need = (unsigned int)nfds + 64, size = RING_MIN;
  while (size < need && size < RING_MAX)
    size *= 2;
  return size;
}

/* Everything that may replace the ring or the epoll set happens before requests are queued. */
static int prepare(struct ev_loop *loop, struct iouring *st)
{
  if (!st->fixed_size) {
    unsigned int want = ring_size_for(st->nfds);
    if (st->grow && st->sq_size < RING_MAX)
      want = want > st->sq_size * 2 ? want : st->sq_size * 2;
    if (want > st->sq_size)
      ring_recreate(loop, st, want, 1); /* on failure the old ring carries on */
    st->grow = 0;
  }
  if (st->need_enable) {
    /* Created disabled: SINGLE_ISSUER binds the ring to the thread that enables it, which
     * is the one running the loop (libev lets a loop be created in another). liburing 2.3
     * does not export io_uring_enable_rings(). */
    int r = io_uring_register(st->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    st->stats.enters++;
    if (r < 0) {
      st->off |= EV__IOU_OFF_DEFER;
      if (ring_recreate(loop, st, st->sq_size, 0) < 0)
        return -1;
    } else
      st->need_enable = 0;
  }
  if (st->need_register && !st->need_enable) {
    st->need_register = 0;
    st->stats.enters++;
    if (io_uring_register_ring_fd(&st->ring) == 1)
      st->reg_thread = pthread_self();
    if (st->mode == MODE_EPOLL && st->epfd >= 0) {
      st->stats.enters++;
      st->fixed_ep = io_uring_register_files(&st->ring, &st->epfd, 1) == 0;
    }
  }
  if (st->mode == MODE_EPOLL && st->wait_errors >= 4)
    epoll_abandon(loop, st);
  if (st->mode == MODE_EPOLL && st->rebuild)
    epoll_rebuild(loop, st);
  return 0;
}

/* Poll mode: renew the polls that have been armed for a whole sweep period. */
static ev_tstamp sweep(struct ev_loop *loop, struct iouring *st, ev_tstamp timeout)
{
  if (st->mode != MODE_POLL || st->sweep_interval <= 0. || !st->nfds)
    return timeout;
  if (st->next_sweep <= 0.)
    st->next_sweep = loop->mn_now + st->sweep_interval;
  if (loop->mn_now >= st->next_sweep) {
    for (int fd = 0; fd < loop->fd_cap; fd++) {
      struct ev_fd *f = &loop->fds[fd];
      if (!(f->eflags & F_ARMED))
        continue;
      if (f->eflags & F_FRESH)
        f->eflags &= ~F_FRESH;
      else {
        f->eflags |= F_RENEW;
        mark_dirty(loop, st, fd);
      }
    }
    st->next_sweep = loop->mn_now + st->sweep_interval;
    st->stats.sweeps++;
  }
  ev_tstamp left = st->next_sweep - loop->mn_now;
  return timeout < left ? timeout : left;
}

static void queue_wait(struct ev_loop *loop, struct iouring *st)
{
  if (st->mode != MODE_EPOLL || st->wait_inflight)
    return;
  int want = st->nfds + 64;
  if (st->evs_full)
    want = want > 2 * st->evs_cap ? want : 2 * st->evs_cap;
  if (want > st->evs_cap) {
    ev__free(st->evs);
    st->evs = ev__realloc(NULL, (size_t)want * sizeof *st->evs);
    st->evs_cap = want;
  }
  st->evs_full = 0;
  struct io_uring_sqe *sqe = get_sqe(loop, st);
  if (!sqe)
    return;
  io_uring_prep_rw(EV__IORING_OP_EPOLL_WAIT, sqe, st->fixed_ep ? 0 : st->epfd, st->evs,
                   (unsigned int)st->evs_cap, 0);
  if (st->fixed_ep)
    sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = tag(K_WAIT, ++st->wait_gen, 0);
  st->wait_inflight = 1;
}

/* Submit and take every completion there is, without waiting. On DEFER_TASKRUN rings one
 * enter runs at most max(20, min_complete) items of local work (6.13+): asking for as many
 * completions as requests could be in flight, with a zero timeout, runs them all. */
static int enter_nowait(struct iouring *st)
{
  st->stats.enters++;
  if (!(st->ring_flags & IORING_SETUP_DEFER_TASKRUN))
    return io_uring_submit_and_get_events(&st->ring);
  struct __kernel_timespec zero = {0, 0};
  struct io_uring_cqe *cqe;
  unsigned int want = (unsigned int)st->armed + io_uring_sq_ready(&st->ring) + 2;
  return io_uring_submit_and_wait_timeout(&st->ring, &cqe, want, &zero, NULL);
}

/* The one io_uring_enter of the iteration: submit what is queued and wait with the timeout
 * inside it; no enter at all when completions are waiting and nothing needs the kernel. */
static int enter(struct iouring *st, ev_tstamp timeout)
{
  struct io_uring *ring = &st->ring;
  int queued = io_uring_sq_ready(ring) > 0;
  int flush = (IO_URING_READ_ONCE(*ring->sq.kflags) &
               (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
  /* Milliseconds rounded up, like the epoll backend: a timer due in 0.2 ms must not make the
   * loop spin, nor wake it early. */
  long long ms = timeout <= 0. ? 0 : timeout > 1e9 ? 1000000000000LL
                                                   : (long long)(timeout * 1e3 + 0.9999);
  if (!ms || io_uring_cq_ready(ring)) {
    if (!queued && !flush)
      return 0;
    return enter_nowait(st);
  }
  struct __kernel_timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  struct io_uring_cqe *cqe;
  st->stats.enters++;
  return io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
}

static void iouring_poll(struct ev_loop *loop, ev_tstamp timeout)
{
  struct iouring *st = loop->backend_data;
  int r;

  ring_fd_owner_check(&st->ring, st->reg_thread, 0);
  for (;;) {
    if (prepare(loop, st) < 0) {
      give_up(loop, st);
      ev__fd_reify(loop);
      loop->backend->poll(loop, timeout);
      return;
    }
    /* Completions that arrived since the last enter (rings without DEFER_TASKRUN post them
     * whenever the task returns to user space, possibly long ago): their readiness is
     * checked again by the requests of this enter, which replace them (a new EPOLL_WAIT, new
     * polls) and complete at once where the fd is still ready. */
    if (io_uring_cq_ready(&st->ring)) {
      unsigned int before = st->reported;
      process_cqes(loop, st, RECHECK);
      if (st->reported != before)
        timeout = 0.; /* errors to report: no sleeping */
    }
    timeout = sweep(loop, st, timeout);
    flush_dirty(loop, st, -1);
    queue_wait(loop, st);

    r = enter(st, timeout);
    if (r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN || r == -EBUSY)
      break;
    /* -EEXIST: a SINGLE_ISSUER ring entered by another thread than the one that enabled it.
     * -EBADR: the kernel dropped completions it could not store. Anything else: the ring is
     * unusable. A new ring, every fd re-armed, answers all of them (only after -EBADR may
     * this task still use the old one), and this iteration tries again with it. Three
     * failing rings in a row (io_uring_enter forbidden after setup worked, say): the kernel
     * will not serve us, epoll will. */
    if (r == -EEXIST)
      st->off |= EV__IOU_OFF_DEFER;
    process_cqes(loop, st, DISPATCH);
    if (++st->failures >= 3 || ring_recreate(loop, st, st->sq_size, r == -EBADR) < 0) {
      /* This iteration still waits and reports, on the backend that takes over. */
      give_up(loop, st);
      ev__fd_reify(loop);
      loop->backend->poll(loop, timeout);
      return;
    }
  }
  st->failures = 0;
  process_cqes(loop, st, DISPATCH);

  /* An EPOLL_CTL the kernel refused (EPERM for regular files and /dev/null, ENOENT for a MOD
   * of a file that changed) is answered at once, so that the fd is reported in this
   * iteration as the epoll backend does: the one case of a second enter. */
  if (st->fixup) {
    st->fixup = 0;
    flush_dirty(loop, st, -1);
    if (enter(st, 0) >= 0)
      process_cqes(loop, st, DISPATCH);
  }

  /* Completions the kernel holds back: CQ overflow (NODROP keeps what did not fit) and, on
   * DEFER_TASKRUN rings, local work beyond what one enter runs (20 items since 6.13). Both
   * are taken in this iteration too, and an overflow gives the next ring more room. */
  for (int rounds = 0, idle = 0; rounds < 4096 && idle < 2; rounds++) {
    unsigned int kflags = IO_URING_READ_ONCE(*st->ring.sq.kflags);
    if (!(kflags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
      break;
    if (kflags & IORING_SQ_CQ_OVERFLOW) {
      st->stats.overflow_rounds++;
      st->grow = 1;
    }
    r = enter_nowait(st);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      break;
    idle = process_cqes(loop, st, DISPATCH) ? 0 : idle + 1;
  }
}

/* For ev_embed and everything else that waits on loop->backend_fd from outside: give the
 * kernel the re-arms and changes that would otherwise wait for the next poll(), without
 * waiting. In per-fd poll mode a poll that fired is re-armed only after its callbacks ran, so
 * between two runs of an embedded loop nothing would make its ring fd readable. Meant to be
 * called by the core from embed_prepare_cb, after it reified the embedded loop. */
static void iouring_flush(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  if (loop->backend != &ev__backend_iouring || !st || st->need_enable)
    return;
  ring_fd_owner_check(&st->ring, st->reg_thread, 0);
  flush_dirty(loop, st, -1);
  queue_wait(loop, st);
  if (io_uring_sq_ready(&st->ring)) {
    st->stats.enters++;
    io_uring_submit_and_get_events(&st->ring);
  }
}

const struct ev_backend_ops ev__backend_iouring = {
  .name = "io_uring",
  .flag = EVBACKEND_IOURING,
  .embeddable = 1,
  .available = iouring_available,
  .init = iouring_init,
  .destroy = iouring_destroy,
  .fork = iouring_fork,
  .modify = iouring_modify,
  .poll = iouring_poll,
  .flush = iouring_flush,
};
