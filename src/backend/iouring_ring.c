/* iouring_ring.c - one loop's ring: setup with the best flags the kernel takes, replacement
 * (bigger, other flags, after a failure, after fork), cancellation of everything in it, the
 * thread that owns its registered index, and the io_uring_enter calls.
 *
 * A replacement sets the new ring up first and touches the old one only once that worked: a
 * kernel that refuses (EMFILE at RLIMIT_NOFILE, ENFILE, ENOMEM, EPERM after
 * kernel.io_uring_disabled was set) leaves the loop with the ring it has, unchanged. */
#include "iouring.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Set up *ring with `entries` SQ entries: the best flags the kernel and this loop allow, fewer
 * when the kernel says EINVAL, smaller when it says ENOMEM. Writes the flags and the SQ size
 * it got; leaves st alone. 0 or -errno. */
static int ring_setup(const struct iouring *st, struct io_uring *ring, unsigned int entries,
                      unsigned int *flags, unsigned int *size)
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
  if (!(st->off & EV__IOU_OFF_DEFER) && st->mode == EV__IOU_MODE_EPOLL &&
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
      r = io_uring_queue_init_params(e, ring, &p);
      if (r == 0) {
        *flags = chain[i];
        *size = p.sq_entries;
        return 0;
      }
      if (r != -ENOMEM || e <= 8)
        break;
    }
    if (r != -EINVAL && r != -ENOMEM)
      return r; /* EPERM, EMFILE, ENFILE, ENOSYS: no flags make a difference */
  }
  return r;
}

/* Make `ring` the loop's ring. */
static void ring_adopt(struct iouring *st, const struct io_uring *ring, unsigned int flags,
                       unsigned int size)
{
  st->ring = *ring;
  st->ring_open = 1;
  st->ring_flags = flags;
  st->sq_size = size;
  st->stats->sq_entries = size;
  st->stats->cq_entries = ring->cq.ring_entries;
  st->stats->ring_flags = flags;
  st->need_enable = !!(flags & IORING_SETUP_R_DISABLED);
  st->need_register = !(st->off & EV__IOU_OFF_REGISTER);
  st->fixed_ep = 0;
  st->reg_thread = 0;
  st->pid = ev__getpid();
  /* One epoll_event per SQE slot: the kernel copies it when it takes the request. */
  if ((int)size > st->ctl_cap) {
    ev__free(st->ctl);
    st->ctl = ev__realloc(NULL, size * sizeof *st->ctl);
    st->ctl_cap = (int)size;
  }
}

int ev__iou_ring_first(struct iouring *st, unsigned int entries)
{
  struct io_uring ring;
  unsigned int flags, size;
  int r = ring_setup(st, &ring, entries, &flags, &size);
  if (r == 0)
    ring_adopt(st, &ring, flags, size);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Threads: a registered ring index means something only in the task that registered it      */

/* A number per thread, never reused in this process: pthread_t values are (glibc hands a new
 * thread the descriptor of one that exited), and so are kernel thread ids. Kept in a
 * pthread key rather than a _Thread_local, which would make the library need ld.so's
 * __tls_get_addr. */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void thread_key_create(void)
{
  if (pthread_key_create(&thread_key, NULL) != 0)
    thread_key = (pthread_key_t)-1;
}

unsigned long ev__iou_thread_id(void)
{
  static atomic_ulong next;
  pthread_once(&thread_key_once, thread_key_create);
  if (thread_key == (pthread_key_t)-1)
    return 0; /* no key: nothing counts as registered here, the ring is entered by its fd */
  unsigned long id = (unsigned long)(uintptr_t)pthread_getspecific(thread_key);
  if (!id) {
    id = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) + 1;
    pthread_setspecific(thread_key, (void *)(uintptr_t)id);
  }
  return id;
}

/* liburing 2.3's private flag (src/int_flags.h) telling its enter calls to pass
 * IORING_ENTER_REGISTERED_RING with the registered index in enter_ring_fd. */
#define LIBURING_INT_FLAG_REG_RING 1

/* Before this thread enters the ring: entered from another thread than the one that
 * registered it (a loop handed over, a new thread under a recycled id), the ring is entered by
 * its fd from now on. The registering thread's slot stays taken until that thread exits. A
 * fork child never enters the parent's ring: iouring_fork replaces it first. */
void ev__iou_ring_claim(struct iouring *st)
{
  struct io_uring *ring = &st->ring;
  if (!(ring->int_flags & LIBURING_INT_FLAG_REG_RING))
    return;
  if (st->reg_thread && st->reg_thread == ev__iou_thread_id())
    return;
  ring->int_flags &= (__u8)~LIBURING_INT_FLAG_REG_RING;
  ring->enter_ring_fd = ring->ring_fd;
}

/* Before the first wait on a ring: enable it (SINGLE_ISSUER binds it to the thread that
 * enables it, the one running the loop, which libev lets differ from the one that created
 * it) and register what the kernel lets us register. 0, or -errno when no ring can be had. */
int ev__iou_ring_start(struct ev_loop *loop, struct iouring *st)
{
  if (st->need_enable) {
    /* liburing 2.3 does not export io_uring_enable_rings(). */
    ev__iou_count_syscall(st, 0);
    int r = io_uring_register(st->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (r < 0) {
      st->off |= EV__IOU_OFF_DEFER;
      ev__stats_fallback(loop, EVRING_FALLBACK_NO_DEFER, -r);
      r = ev__iou_ring_replace(loop, st, st->sq_size, 0);
      if (r < 0)
        return r;
    } else
      st->need_enable = 0;
  }
  if (st->need_register && !st->need_enable) {
    st->need_register = 0;
    unsigned long me = ev__iou_thread_id();
    if (me) {
      ev__iou_count_syscall(st, 0);
      if (io_uring_register_ring_fd(&st->ring) == 1)
        st->reg_thread = me;
    }
    if (st->mode == EV__IOU_MODE_EPOLL && st->epfd >= 0) {
      ev__iou_count_syscall(st, 0);
      st->fixed_ep = io_uring_register_files(&st->ring, &st->epfd, 1) == 0;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Cancellation and replacement                                                               */

/* A free SQE. When the SQ is full (a ring at the kernel's maximum, fixed by
 * EVRING_IOURING_ENTRIES, or not grown because the kernel refused) what is queued goes to
 * the kernel first, and the completions that makes room for are handled as `dispatch` says
 * (-EBUSY: the kernel takes more only once the CQ is drained). NULL if it will not take
 * anything now. */
static struct io_uring_sqe *free_sqe(struct ev_loop *loop, struct iouring *st, int dispatch)
{
  struct io_uring_sqe *sqe;
  for (int tries = 0; !(sqe = io_uring_get_sqe(&st->ring)); tries++) {
    if (tries == 4)
      return NULL;
    ev__iou_count_syscall(st, 0);
    int r = io_uring_submit_and_get_events(&st->ring);
    ev__iou_process(loop, st, dispatch);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      return NULL;
  }
  st->stats->sqes++;
  return sqe;
}

struct io_uring_sqe *ev__iou_sqe(struct ev_loop *loop, struct iouring *st)
{
  return free_sqe(loop, st, EV__IOU_DISPATCH);
}

/* A ring we drop may still hold requests: a forked child that keeps its fd open keeps them
 * alive after we close ours, and an armed poll holds its file (a socket closed by the program
 * would never hang up for the peer); an EPOLL_WAIT may still write into st->evs. Everything
 * is cancelled while this process still may: all at once where the kernel has
 * IORING_ASYNC_CANCEL_ANY (5.19), else request by request. Completions are drained. */
void ev__iou_ring_cancel_all(struct ev_loop *loop, struct iouring *st)
{
  if (!st->ring_open || st->pid != ev__getpid() || st->need_enable)
    return;
  if (!st->armed && !st->wait_inflight && !io_uring_sq_ready(&st->ring) &&
      !ev__iou_ops_inflight(st))
    return;
  ev__iou_ring_claim(st);
  struct io_uring_sqe *sqe;
  int any = ev__iouring_caps()->cancel_any && !(st->off & EV__IOU_OFF_CANCEL_ANY);
  ev__iou_ops_cancel_all(loop, st, !any);
  if (any) {
    if (!(sqe = free_sqe(loop, st, EV__IOU_DRAIN)))
      return;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    sqe->user_data = ev__iou_tag(EV__IOU_K_CANCEL, 0, 0);
  } else {
    for (int fd = 0; fd < loop->fd_cap && st->armed; fd++) {
      struct ev_fd *f = &loop->fds[fd];
      if (!(f->eflags & EV__IOU_ARMED) || !(sqe = free_sqe(loop, st, EV__IOU_DRAIN)))
        continue;
      io_uring_prep_poll_remove(sqe, ev__iou_tag(EV__IOU_K_POLL, f->egen, fd));
      sqe->user_data = ev__iou_tag(EV__IOU_K_CANCEL, 0, fd);
    }
    if (st->wait_inflight && (sqe = free_sqe(loop, st, EV__IOU_DRAIN))) {
      io_uring_prep_cancel64(sqe, ev__iou_tag(EV__IOU_K_WAIT, st->wait_gen, 0), 0);
      sqe->user_data = ev__iou_tag(EV__IOU_K_CANCEL, 0, 0);
    }
  }
  ev__iou_count_syscall(st, 0);
  int r = io_uring_submit_and_get_events(&st->ring);
  ev__iou_process(loop, st, EV__IOU_DRAIN);
  /* The EPOLL_WAIT's completion says the kernel is done with st->evs; a zero-copy send's
   * notification, that it is done with the program's buffer. */
  for (int i = 0; i < 4 && (st->wait_inflight || ev__iou_ops_zc_waiting(st)) &&
                  (r >= 0 || r == -ETIME || r == -EINTR);
       i++) {
    struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    ev__iou_count_syscall(st, 0);
    r = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    ev__iou_process(loop, st, EV__IOU_DRAIN);
  }
}

/* The EPOLL_WAIT we could not see finish may write st->evs later: never reuse that buffer. */
void ev__iou_evs_abandon(struct iouring *st)
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

/* Whether this thread of this process registered the loop's ring. */
static int registered_here(const struct iouring *st)
{
  return (st->ring.int_flags & LIBURING_INT_FLAG_REG_RING) && st->pid == ev__getpid() &&
         st->reg_thread && st->reg_thread == ev__iou_thread_id();
}

/* Unregister (where `registered` says this thread holds its index), unmap and close a ring.
 * In a forked child this touches nothing the parent uses. */
static void ring_close(struct io_uring *ring, int registered)
{
  if (registered)
    io_uring_unregister_ring_fd(ring);
  ring->int_flags &= (__u8)~LIBURING_INT_FLAG_REG_RING;
  ring->enter_ring_fd = ring->ring_fd;
  io_uring_queue_exit(ring);
}

void ev__iou_ring_exit(struct iouring *st)
{
  if (st->ring_open)
    ring_close(&st->ring, registered_here(st));
  st->ring_open = 0;
}

/* Replace the ring (bigger, other flags, after a failure, after fork); every request is then
 * issued again. `usable`: this process may still submit to the old ring, to cancel what it
 * holds. The new ring takes the old one's fd number (loop->backend_fd, which ev_embed
 * watches, must not change). 0, or -errno with the old ring untouched, except where the old
 * ring is of no use any more (!usable) and no fd number is free for a new one (RLIMIT_NOFILE):
 * then the old ring is closed first, and a failure leaves the loop without a ring. */
int ev__iou_ring_replace(struct ev_loop *loop, struct iouring *st, unsigned int entries,
                         int usable)
{
  struct io_uring fresh;
  unsigned int flags, size;
  int r = ring_setup(st, &fresh, entries, &flags, &size);
  int close_first = (r == -EMFILE || r == -ENFILE) && !usable && st->ring_open;
  if (r < 0 && !close_first)
    return r;

  if (usable)
    ev__iou_ring_cancel_all(loop, st);
  /* EPOLL_CTL requests the old ring never took: the epoll set is not what we believe. */
  if (st->mode == EV__IOU_MODE_EPOLL && st->ring_open && io_uring_sq_ready(&st->ring) > 0)
    st->rebuild = 1;
  ev__iou_evs_abandon(st);

  if (close_first) {
    ev__iou_ring_exit(st);
    r = ring_setup(st, &fresh, entries, &flags, &size);
    if (r < 0)
      return r;
    ring_adopt(st, &fresh, flags, size);
  } else {
    struct io_uring old = st->ring;
    int registered = registered_here(st);
    ring_adopt(st, &fresh, flags, size);
    int keep = old.ring_fd;
    if (keep >= 0 && keep != fresh.ring_fd && dup3(fresh.ring_fd, keep, O_CLOEXEC) == keep) {
      st->ring.ring_fd = st->ring.enter_ring_fd = keep;
      old.ring_fd = old.enter_ring_fd = fresh.ring_fd; /* closed with the old ring */
    }
    ring_close(&old, registered);
  }
  st->stats->recreates++;
  ev__iou_polls_lost(loop, st);
  ev__iou_ops_ring_replaced(loop, st);
  if (st->mode == EV__IOU_MODE_POLL)
    ev__backend_fd_set(loop, st->ring.ring_fd);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Entering the kernel                                                                        */

/* Submit and take every completion there is, without waiting. On DEFER_TASKRUN rings one
 * enter runs at most max(20, min_complete) items of local work (6.13+): asking for as many
 * completions as requests could be in flight, with a zero timeout, runs them all. */
static int enter_nowait(struct iouring *st)
{
  if (!(st->ring_flags & IORING_SETUP_DEFER_TASKRUN))
    return io_uring_submit_and_get_events(&st->ring);
  struct __kernel_timespec zero = {0, 0};
  struct io_uring_cqe *cqe;
  unsigned int want = (unsigned int)st->armed + (unsigned int)ev__iou_ops_inflight(st) +
                      io_uring_sq_ready(&st->ring) + 2;
  return io_uring_submit_and_wait_timeout(&st->ring, &cqe, want, &zero, NULL);
}

int ev__iou_enter_nowait(struct iouring *st)
{
  ev__iou_count_syscall(st, 0);
  return enter_nowait(st);
}

/* The one io_uring_enter of an iteration: submit what is queued and wait with the timeout
 * inside it; no enter at all when completions are waiting and nothing needs the kernel. */
int ev__iou_enter(struct iouring *st, ev_tstamp timeout)
{
  struct io_uring *ring = &st->ring;
  int queued = io_uring_sq_ready(ring) > 0;
  int flush = (IO_URING_READ_ONCE(*ring->sq.kflags) &
               (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
  /* Milliseconds rounded up, like the epoll backend: a timer due in 0.2 ms must not make the
   * loop spin, nor wake it early. */
  long long ms = ev__timeout_ms(timeout);
  if (!ms || io_uring_cq_ready(ring)) {
    if (!queued && !flush)
      return 0;
    ev__iou_count_syscall(st, 1);
    return enter_nowait(st);
  }
  struct __kernel_timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  struct io_uring_cqe *cqe;
  ev__iou_count_syscall(st, 1);
  return io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
}

/* Hand what is queued to the kernel now, without waiting or reaping. */
int ev__iou_submit_now(struct iouring *st)
{
  ev__iou_ring_claim(st);
  ev__iou_count_syscall(st, 0);
  return io_uring_submit(&st->ring);
}
