/* wakeup.c - the loop's eventfd and ev_async.
 *
 * Other threads and signal handlers wake a loop by writing its eventfd, which the backend
 * watches like any fd (through the io_uring ring too). The eventfd is written only when the
 * loop is, or is about to be, blocked in the backend: pipe_write_wanted is raised before the
 * loop computes its timeout and lowered after the wait. A sender that finds it lowered sets
 * pipe_write_skipped instead, which makes the coming wait non-blocking and is turned into a
 * pass over the flags after the wait. Sequentially consistent atomics on both sides make sure
 * that at least one of them sees the other. */
#include "internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void evpipe_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)w;
  if (revents & EV_READ) {
    uint64_t counter;
    /* Non-blocking: after a spurious or already consumed wake-up this just returns EAGAIN. */
    atomic_fetch_add_explicit(&loop->stats.sys_wakeup, 1, memory_order_relaxed);
    ssize_t r = read(loop->evfd, &counter, sizeof counter);
    (void)r;
  }
  atomic_store(&loop->pipe_write_skipped, 0);

  if (atomic_exchange(&loop->sig_pending, 0))
    ev__signals_process(loop);

  /* The exchange is a full barrier: every `sent` stored before a sender found async_pending
   * set (see ev__evpipe_write) is visible to the reads below. */
  if (atomic_exchange(&loop->async_pending, 0)) {
    for (int i = loop->asyncs.n; i--;) {
      ev_async *a = (ev_async *)loop->asyncs.v[i];
      if (__atomic_load_n(&a->sent, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&a->sent, 0, __ATOMIC_RELAXED);
        ev_feed_event(loop, a, EV_ASYNC);
      }
    }
  }
}

/* At loop creation, before any eventfd: the loop feeds pipe_w after a wait in which a
 * wake-up was requested (ev_async_send, a signal), whether or not the eventfd could be made. */
void ev__evpipe_prepare(struct ev_loop *loop)
{
  loop->evfd = -1;
  ev_init(&loop->pipe_w, evpipe_cb);
  ev_set_priority(&loop->pipe_w, EV_MAXPRI);
}

int ev__evpipe_init(struct ev_loop *loop)
{
  if (loop->evfd >= 0)
    return 0;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return -errno;
  loop->evfd = fd;
  ev_io_init(&loop->pipe_w, evpipe_cb, fd, EV_READ);
  ev_set_priority(&loop->pipe_w, EV_MAXPRI);
  ev__io_start_internal(loop, &loop->pipe_w);
  return 0;
}

void ev__evpipe_close(struct ev_loop *loop)
{
  if (loop->evfd < 0)
    return;
  ev__io_stop_internal(loop, &loop->pipe_w);
  close(loop->evfd);
  loop->evfd = -1;
}

void ev__evpipe_fork(struct ev_loop *loop)
{
  /* The eventfd is shared with the parent: a write from either side would wake both. */
  if (loop->evfd < 0)
    return;
  ev__evpipe_close(loop);
  if (ev__evpipe_init(loop) < 0)
    ev__syserr("(libev) error creating signal/async pipe");
  /* Wake-ups that were in flight during the fork are re-delivered to this process. */
  atomic_store(&loop->pipe_write_skipped, 1);
}

void ev__evpipe_write(struct ev_loop *loop, atomic_int *flag)
{
  /* Full fence: the caller's plain store (ev_async's `sent`) must be visible before the flag
   * is read. Without it the store may wait in this CPU's store buffer while the load below
   * finds the flag still set, and the loop, clearing the flag right then, scans the watchers
   * without seeing the store: the wake-up is lost (x86 reorders a store with a later load). */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load(flag))
    return; /* already on its way */
  atomic_store(flag, 1);
  atomic_store(&loop->pipe_write_skipped, 1);
  if (atomic_load(&loop->pipe_write_wanted)) {
    atomic_store(&loop->pipe_write_skipped, 0);
    int saved = errno; /* may run in a signal handler */
    uint64_t one = 1;
    atomic_fetch_add_explicit(&loop->stats.sys_wakeup, 1, memory_order_relaxed);
    ssize_t r = write(loop->evfd, &one, sizeof one);
    (void)r;
    errno = saved;
  }
}

/* ------------------------------------------------------------------------------------------ */

void ev_async_start(struct ev_loop *loop, ev_async *w)
{
  if (w->active)
    return;
  w->sent = 0;
  if (ev__evpipe_init(loop) < 0)
    ev__syserr("(libev) error creating signal/async pipe");
  ev__wlist_add(loop, &loop->asyncs, (ev_watcher *)w);
}

void ev_async_stop(struct ev_loop *loop, ev_async *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  ev__wlist_del(loop, &loop->asyncs, (ev_watcher *)w);
}

void ev_async_send(struct ev_loop *loop, ev_async *w)
{
  __atomic_store_n(&w->sent, 1, __ATOMIC_RELAXED); /* ordered by the fence in ev__evpipe_write */
  ev__evpipe_write(loop, &loop->async_pending);
}
