/* iouring.c - the io_uring backend: its operations, the reconciliation of each changed fd with
 * the kernel, and the walk over the completion queue.
 *
 * Two mechanisms, chosen per kernel (measured on 6.18, 2 vCPU VM; numbers, commands and the
 * reasoning in docs/iouring-design.md, programs in tools/experiments/): ring-driven epoll
 * (iouring_epoll.c) where the kernel has IORING_OP_EPOLL_WAIT, per-fd one-shot polls
 * (iouring_poll.c) elsewhere; the ring itself is iouring_ring.c.
 *
 * An iteration makes one wait system call: an io_uring_enter (none when completions are
 * waiting and nothing is queued), or in ring epoll mode, when nothing changed, the epoll_wait
 * the epoll backend would make; more only to drain what the kernel still holds (CQ overflow,
 * DEFER_TASKRUN work beyond its per-enter limit) and to answer a refused EPOLL_CTL within the
 * iteration. Outside
 * the wait, ev_io_stop of an fd's last watcher submits the removal of its armed poll at once
 * (iouring_release).
 *
 * The kernel's answers: a short submission leaves the rest queued for the next enter;
 * -EBUSY/-EAGAIN/-EINTR/-ETIME end the wait; CQ overflow (NODROP) is drained within the
 * iteration and grows the ring; -EBADR (CQEs dropped) and other ring failures replace the ring
 * and re-issue every request; -EEXIST (a SINGLE_ISSUER ring entered from another thread)
 * replaces it without that flag; a bigger ring the kernel refuses is tried again after a
 * growing delay while the loop carries on with the ring it has; EBADF/EINVAL on a poll or an
 * epoll_ctl become EV_ERROR for the fd's watchers. If no ring can be had any more, the loop
 * moves to the epoll backend. */
#include "iouring.h"
#include "common.h"
#include "../evring/ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ev__iou_mark_dirty(struct ev_loop *loop, struct iouring *st, int fd)
{
  struct ev_fd *f = &loop->fds[fd];
  if (f->eflags & EV__IOU_DIRTY)
    return;
  f->eflags |= EV__IOU_DIRTY;
  EV__GROW(st->dirty, st->dirty_cap, st->dirty_n + 1);
  st->dirty[st->dirty_n++] = fd;
}

void ev__iou_bad_fd(struct ev_loop *loop, struct iouring *st, int fd, int dispatch)
{
  st->stats->errors++;
  if (dispatch != EV__IOU_DRAIN) {
    ev__fd_error(loop, fd);
    st->reported++;
  }
}

static int uses_poll(const struct iouring *st, const struct ev_fd *f)
{
  return st->mode == EV__IOU_MODE_POLL || (f->eflags & EV__IOU_POLL);
}

/* Turn one fd's wanted mask into requests. -1 when no SQE could be had (the fd stays dirty). */
static int flush_fd(struct ev_loop *loop, struct iouring *st, int fd)
{
  struct ev_fd *f = &loop->fds[fd];
  int want = f->events & (EV_READ | EV_WRITE);

  /* Cleared first: completions drained while waiting for an SQE may queue this fd again. */
  f->eflags &= ~EV__IOU_DIRTY;

  /* A poll that no longer fits leaves in this very enter: it holds a reference to the file. */
  if ((f->eflags & EV__IOU_ARMED) && (!want || (f->eflags & EV__IOU_RENEW) || f->emask != want) &&
      ev__iou_poll_remove(loop, st, fd) < 0)
    goto busy;
  if (st->mode == EV__IOU_MODE_EPOLL && (f->eflags & EV__IOU_RENEW))
    f->eflags &= ~EV__IOU_POLL; /* a new file: epoll may take it */

  if (uses_poll(st, f) ? ev__iou_poll_arm(loop, st, fd, want) < 0
                       : ev__iou_epoll_flush(loop, st, fd, want) < 0)
    goto busy;
  f->eflags &= ~(EV__IOU_RENEW | EV__IOU_TRIM);
  return 0;
busy:
  f->eflags |= EV__IOU_DIRTY; /* still listed: flush_dirty() keeps the rest of the list */
  return -1;
}

/* Reconcile every dirty fd, as far as the kernel takes requests. */
static void flush_dirty(struct ev_loop *loop, struct iouring *st)
{
  int i, n = st->dirty_n;
  /* Completions drained to make room in the SQ may queue more fds (a poll that fired wants
   * re-arming): those wait for the next iteration, or an always-ready fd would loop here. */
  for (i = 0; i < n; i++) {
    int fd = st->dirty[i];
    if (fd < loop->fd_cap && (loop->fds[fd].eflags & EV__IOU_DIRTY) && flush_fd(loop, st, fd) < 0)
      break;
  }
  if (i && st->dirty_n > i)
    memmove(st->dirty, st->dirty + i, (size_t)(st->dirty_n - i) * sizeof *st->dirty);
  st->dirty_n -= i;
}

/* Each completion leaves the CQ before it is handled: handling one may need an SQE, and
 * making room in a full SQ walks the CQ again (ev__iou_sqe), which then starts after it. */
unsigned int ev__iou_process(struct ev_loop *loop, struct iouring *st, int dispatch)
{
  unsigned int n = 0;
  for (;;) {
    struct io_uring_cqe *cqe = NULL;
    unsigned int head;
    io_uring_for_each_cqe(&st->ring, head, cqe) break;
    if (!cqe)
      break;
    struct io_uring_cqe c = *cqe;
    io_uring_cq_advance(&st->ring, 1);
    n++;
    st->stats->cqes++;
    uint64_t ud = c.user_data;
    unsigned int kind = (unsigned int)(ud >> 60);
    uint32_t gen = (uint32_t)(ud >> 32) & EV__IOU_GEN_MASK;
    int fd = (int)(uint32_t)ud;
    if (kind == EV__IOU_K_WAIT)
      ev__iou_epoll_wait_done(loop, st, gen, c.res, dispatch);
    else if (kind == EV__IOU_K_OP) {
      /* An operation's completion is a fact whatever `dispatch` says: it is reported, and
       * an iteration that has one to report does not sleep. */
      ev__iou_op_done(loop, st, (uint32_t)ud, gen, &c);
      st->reported++;
    } else if (fd < 0 || fd >= loop->fd_cap)
      ; /* cancel answers and the like */
    else if (kind == EV__IOU_K_POLL)
      ev__iou_poll_done(loop, st, fd, gen, c.res, dispatch);
    else if (kind >= EV__IOU_K_ADD && kind <= EV__IOU_K_DEL)
      ev__iou_epoll_ctl_done(loop, st, kind, fd, gen, c.res, dispatch);
    /* K_REMOVE, K_CANCEL: -ENOENT/-EALREADY, the request had finished already */
  }
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

/* io_uring becomes the default (ev_recommended_backends) only where make bench measures it
 * not slower than epoll on every row. Not yet on any kernel (docs/benchmarks.md, 2026-12-01,
 * 6.18): ring-driven epoll (6.15+) is 1.6-8x epoll's events/s on mask churn, 0.13x its time to
 * re-register, 0.57x to start 19 900 watchers, 1.28x h2load -m1 req/s, but 1.03-1.07x epoll's
 * latency on single-chain ping-pong; the per-fd poll mode of older kernels is 1.08-1.25x on
 * ping-pong and 2.45x on re-registration. Until then io_uring is one flag away
 * (EVBACKEND_IOURING, LIBEV_FLAGS=128) and epoll is the default, as in Debian's libev. */
static int iouring_recommended(void)
{
  return 0;
}

static void state_free(struct iouring *st)
{
  ev__iou_ops_free(st);
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
  st->stats = &loop->stats;
  st->off = off;
  st->epfd = -1;
  long fixed = ev__iouring_env_long("EVRING_IOURING_ENTRIES", 0);
  st->fixed_size = fixed > 0 && fixed <= (long)EV__IOU_RING_MAX ? (unsigned int)fixed : 0;
  st->sweep_interval = ev__iouring_env_long("EVRING_IOURING_SWEEP_MS", 1000) / 1e3;
  if ((caps->features & IORING_FEAT_CQE_SKIP) && !(off & EV__IOU_OFF_CQE_SKIP))
    st->skip = IOSQE_CQE_SKIP_SUCCESS;

  st->mode = EV__IOU_MODE_POLL;
  int epoll_errno = 0;
  if (caps->epoll_ops && !(off & EV__IOU_OFF_EPOLL_WAIT)) {
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd >= 0)
      st->mode = EV__IOU_MODE_EPOLL;
    else
      epoll_errno = errno;
  }
  int r = ev__iou_ring_first(st, st->fixed_size ? st->fixed_size : EV__IOU_RING_MIN);
  if (r < 0) {
    state_free(st);
    return r;
  }
  if (epoll_errno)
    ev__stats_fallback(loop, EVRING_FALLBACK_RING_POLL, epoll_errno);
  loop->stats.iouring_mode =
    st->mode == EV__IOU_MODE_EPOLL ? EVRING_STATS_RING_EPOLL : EVRING_STATS_RING_POLL;
  loop->stats.cancel_any = caps->cancel_any && !(off & EV__IOU_OFF_CANCEL_ANY);
  loop->backend_data = st;
  ev__backend_fd_set(loop, st->mode == EV__IOU_MODE_EPOLL ? st->epfd : st->ring.ring_fd);
  return 0;
}

static void iouring_destroy(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  if (!st)
    return;
  ev__iou_ring_cancel_all(loop, st); /* counted: the statistics printed at destroy show it */
  ev__iou_evs_abandon(st);
  ev__iou_ring_exit(st);
  state_free(st);
  loop->backend_data = NULL;
  ev__backend_fd_set(loop, -1);
}

/* Without a ring (io_uring forbidden after the loop was created, memory exhausted; err says
 * why): hand the loop to the epoll backend, as if it had been chosen at creation. */
static void give_up(struct ev_loop *loop, int err)
{
  iouring_destroy(loop);
  ev__stats_fallback(loop, EVRING_FALLBACK_RING_LOST, err);
  loop->stats.iouring_mode = 0;
  loop->stats.sq_entries = loop->stats.cq_entries = loop->stats.ring_flags = 0;
  const struct ev_backend_ops *next[] = {&ev__backend_epoll, &ev__backend_poll,
                                         &ev__backend_select};
  for (size_t i = 0; i < sizeof next / sizeof next[0]; i++) {
    loop->backend = next[i];
    if (next[i]->init(loop) == 0) {
      ev__fd_rearm_all(loop);
      ev__ops_backend_changed(loop);
      return;
    }
  }
  ev__syserr("(libev) io_uring failed and no other backend could be set up");
}

/* ev_loop_fork: in a child, the inherited ring and epoll set are the parent's (shared memory,
 * its requests): never submitted to, only unmapped and closed. In the process that owns them
 * (libev allows ev_loop_fork anywhere), everything in them is cancelled first, so that no
 * request outlives the ring and holds a file. */
static int iouring_fork(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  int owner = st->pid == ev__getpid();
  if (!owner)
    st->wait_inflight = 0; /* the parent's EPOLL_WAIT writes the parent's memory */
  int r = ev__iou_ring_replace(loop, st, st->sq_size, owner);
  if (r < 0) {
    give_up(loop, -r);
    return 0;
  }
  st->wait_gen++;
  st->dirty_n = 0;
  st->nfds = 0;
  st->armed = 0;
  st->rebuild = 0;
  if (st->mode == EV__IOU_MODE_EPOLL) {
    r = ev__iou_epoll_renew_set(loop, st);
    if (r < 0)
      ev__iou_epoll_abandon(loop, st, -r);
  }
  ev__backend_fd_set(loop, st->mode == EV__IOU_MODE_EPOLL ? st->epfd : st->ring.ring_fd);
  /* The loop now clears every fd's backend state and calls modify() for each. */
  return 0;
}

static void iouring_modify(struct ev_loop *loop, int fd, int oev, int nev)
{
  struct iouring *st = loop->backend_data;
  struct ev_fd *f = &loop->fds[fd];
  int had = oev & (EV_READ | EV_WRITE), want = nev & (EV_READ | EV_WRITE);
  if ((nev & EV__IOFDSET) || (!had && want))
    f->eflags |= EV__IOU_RENEW;
  st->nfds += !had && want ? 1 : had && !want ? -1 : 0;
  ev__iou_mark_dirty(loop, st, fd);
}

/* The fd's last watcher was stopped: the program may close it next, which must close the
 * file as on epoll. An armed poll holds the file, so it leaves the kernel now. */
static void iouring_release(struct ev_loop *loop, int fd)
{
  struct iouring *st = loop->backend_data;
  /* In a forked child that has not yet called ev_loop_fork (or noticed the fork), the ring
   * is the parent's: its polls are the parent's business. */
  if (!st || !(loop->fds[fd].eflags & EV__IOU_ARMED) || st->pid != ev__getpid())
    return;
  ev__iou_ring_claim(st);
  if (ev__iou_poll_remove(loop, st, fd) == 0)
    ev__iou_submit_now(st);
  ev__iou_mark_dirty(loop, st, fd);
}

static unsigned int ring_size_for(int nfds)
{
  unsigned int need = (unsigned int)nfds + 64, size = EV__IOU_RING_MIN;
  while (size < need && size < EV__IOU_RING_MAX)
    size *= 2;
  return size;
}

/* A bigger ring when the CQ overflowed, in poll mode when the watched set outgrew it, and
 * when evring.h operations in flight did. A refusal leaves the current ring in place and is
 * not asked again before a delay that doubles with each refusal (1 s to 64 s), nor for the
 * refused size or more before that. */
static void grow(struct ev_loop *loop, struct iouring *st)
{
  if (st->fixed_size)
    return;
  /* A zero-copy send's notification, the kernel's word that it is done with the program's
   * buffer, comes from the ring it was sent on: the ring grows once none is awaited. */
  if (ev__iou_ops_zc_waiting(st))
    return;
  /* Per-fd polls want an SQE and a CQE each; ring epoll's requests carry no completion
   * unless refused, and a batch bigger than the SQ goes to the kernel in parts. */
  unsigned int want = st->mode == EV__IOU_MODE_POLL ? ring_size_for(st->nfds) : st->sq_size;
  /* evring.h operations: one request each in flight, and as many submitted per iteration,
   * which a smaller SQ would hand to the kernel in several enters. */
  unsigned int for_ops = ring_size_for(ev__iou_ops_inflight(st));
  if (ev__iou_ops_inflight(st) && for_ops > want)
    want = for_ops;
  if (st->grow && st->sq_size < EV__IOU_RING_MAX)
    want = want > st->sq_size * 2 ? want : st->sq_size * 2;
  st->grow = 0;
  if (want <= st->sq_size)
    return;
  if (st->refused_size && want >= st->refused_size && loop->mn_now < st->retry_at)
    return;
  int r = ev__iou_ring_replace(loop, st, want, 1);
  if (r == 0) {
    st->refused_size = 0;
    st->retry_delay = 0.;
    return;
  }
  st->stats->refusals++;
  ev__stats_fallback(loop, EVRING_FALLBACK_NO_GROWTH, -r);
  st->refused_size = want;
  st->retry_delay = st->retry_delay > 0. ? st->retry_delay * 2. : 1.;
  if (st->retry_delay > 64.)
    st->retry_delay = 64.;
  st->retry_at = loop->mn_now + st->retry_delay;
}

/* Everything that may replace the ring or the epoll set happens before requests are queued.
 * 0, or -errno when no ring can be had. */
static int prepare(struct ev_loop *loop, struct iouring *st)
{
  grow(loop, st);
  int r = ev__iou_ring_start(loop, st);
  if (r < 0)
    return r;
  if (st->mode == EV__IOU_MODE_EPOLL && (st->wait_errors >= 4 || st->epfd < 0))
    ev__iou_epoll_abandon(loop, st, st->epfd < 0 ? EBADF : st->wait_errno);
  if (st->mode == EV__IOU_MODE_EPOLL && st->rebuild)
    ev__iou_epoll_rebuild(loop, st);
  return 0;
}

static int wait_ended(int r)
{
  return r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN || r == -EBUSY;
}

/* This iteration still waits and reports, on the backend that takes over. */
static void poll_elsewhere(struct ev_loop *loop, ev_tstamp timeout, int err)
{
  give_up(loop, err);
  ev__fd_reify(loop);
  loop->backend->poll(loop, timeout);
}

static void iouring_poll(struct ev_loop *loop, ev_tstamp timeout)
{
  struct iouring *st = loop->backend_data;
  int r;

  /* Errors and operations' results reported from here on (a ring replaced by prepare()
   * drains its completions, so does making room in a full SQ) end the wait at once. */
  unsigned int before = st->reported;
  ev__iou_ring_claim(st);
  for (;;) {
    r = prepare(loop, st);
    if (r < 0) {
      poll_elsewhere(loop, timeout, -r);
      return;
    }
    /* Completions that arrived since the last enter (rings without DEFER_TASKRUN post them
     * whenever the task returns to user space, possibly long ago): their readiness is
     * checked again by the requests of this enter, which replace them (a new EPOLL_WAIT, new
     * polls) and complete at once where the fd is still ready. */
    if (io_uring_cq_ready(&st->ring))
      ev__iou_process(loop, st, EV__IOU_RECHECK);
    timeout = ev__iou_poll_sweep(loop, st, timeout);
    flush_dirty(loop, st);
    ev__iou_ops_restart(loop, st);
    if (!ev__iou_ops_inflight(st) && ev__iou_epoll_can_wait_directly(st)) {
      ev__iou_epoll_wait_directly(loop, st, st->reported != before ? 0. : timeout);
      st->failures = 0;
      return;
    }
    ev__iou_epoll_queue_wait(loop, st);
    if (st->reported != before)
      timeout = 0.;

    r = ev__iou_enter(st, timeout);
    if (wait_ended(r))
      break;
    /* -EEXIST: a SINGLE_ISSUER ring entered by another thread than the one that enabled it.
     * -EBADR: the kernel dropped completions it could not store. Anything else: the ring is
     * unusable. A new ring, every request issued again, answers all of them (only after
     * -EBADR may this process still use the old one), and this iteration tries again with
     * it. Three failing rings in a row (io_uring_enter forbidden after setup worked, say):
     * the kernel will not serve us, epoll will. */
    if (r == -EEXIST) {
      st->off |= EV__IOU_OFF_DEFER;
      ev__stats_fallback(loop, EVRING_FALLBACK_NO_DEFER, EEXIST);
    }
    ev__iou_process(loop, st, EV__IOU_DISPATCH);
    int failed = r;
    if (++st->failures >= 3 ||
        (failed = ev__iou_ring_replace(loop, st, st->sq_size, r == -EBADR)) < 0) {
      poll_elsewhere(loop, timeout, -failed);
      return;
    }
  }
  st->failures = 0;
  ev__iou_process(loop, st, EV__IOU_DISPATCH);

  /* A refused EPOLL_CTL (see iouring_epoll.c) is answered at once, and a new EPOLL_WAIT after
   * it reports the fd in this iteration, as the epoll backend does. */
  if (st->fixup) {
    st->fixup = 0;
    flush_dirty(loop, st);
    ev__iou_epoll_queue_wait(loop, st);
    if (wait_ended(ev__iou_enter_nowait(st)))
      ev__iou_process(loop, st, EV__IOU_DISPATCH);
  }

  /* Completions the kernel holds back: CQ overflow (NODROP keeps what did not fit) and, on
   * DEFER_TASKRUN rings, local work beyond what one enter runs (20 items since 6.13). Both
   * are taken in this iteration too, and an overflow gives the next ring more room. */
  for (int rounds = 0, idle = 0; rounds < 4096 && idle < 2; rounds++) {
    unsigned int kflags = IO_URING_READ_ONCE(*st->ring.sq.kflags);
    if (!(kflags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
      break;
    if (kflags & IORING_SQ_CQ_OVERFLOW) {
      st->stats->overflow_rounds++;
      st->grow = 1;
    }
    if (!wait_ended(ev__iou_enter_nowait(st)))
      break;
    idle = ev__iou_process(loop, st, EV__IOU_DISPATCH) ? 0 : idle + 1;
  }
}

/* For ev_embed and everything else that waits on loop->backend_fd from outside: give the
 * kernel the re-arms and changes that would otherwise wait for the next poll(), without
 * waiting. In per-fd poll mode a poll that fired is re-armed only after its callbacks ran, so
 * between two runs of an embedded loop nothing would make its ring fd readable. Called by the
 * core from embed_prepare_cb, after it reified the embedded loop. */
static void iouring_flush(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  if (loop->backend != &ev__backend_iouring || !st || st->need_enable)
    return;
  ev__iou_ring_claim(st);
  flush_dirty(loop, st);
  ev__iou_epoll_queue_wait(loop, st);
  if (io_uring_sq_ready(&st->ring)) {
    ev__iou_count_syscall(st, 0);
    io_uring_submit_and_get_events(&st->ring);
  }
}

const struct ev_backend_ops ev__backend_iouring = {
  .name = "io_uring",
  .flag = EVBACKEND_IOURING,
  .embeddable = 1,
  .available = iouring_available,
  .recommended = iouring_recommended,
  .init = iouring_init,
  .destroy = iouring_destroy,
  .fork = iouring_fork,
  .modify = iouring_modify,
  .release = iouring_release,
  .poll = iouring_poll,
  .flush = iouring_flush,
};
