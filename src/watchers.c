/* watchers.c - the small watchers: idle, prepare, check, fork, cleanup, embed, and ev_once. */
#include "internal.h"

/* ------------------------------------------------------------------------------------------ */
/* idle: queued only when nothing of the same or a higher priority is pending */

void ev_idle_start(struct ev_loop *loop, ev_idle *w)
{
  if (w->active)
    return;
  /* The priority picks the list, so clamp it before ev__wlist_add does. */
  if (w->priority < EV_MINPRI)
    w->priority = EV_MINPRI;
  if (w->priority > EV_MAXPRI)
    w->priority = EV_MAXPRI;
  ev__wlist_add(loop, &loop->idles[EV__PRI_INDEX(w)], (ev_watcher *)w);
  loop->idle_all++;
}

void ev_idle_stop(struct ev_loop *loop, ev_idle *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  ev__wlist_del(loop, &loop->idles[EV__PRI_INDEX(w)], (ev_watcher *)w);
  loop->idle_all--;
}

void ev__idle_reify(struct ev_loop *loop)
{
  if (!loop->idle_all)
    return;
  /* Only the highest priority that has idle watchers runs, and only if nothing of that or
   * a higher priority is pending. */
  for (int pri = EV__NUMPRI - 1; pri >= 0; pri--) {
    if (loop->pending_n[pri])
      break;
    if (loop->idles[pri].n) {
      ev__queue_all(loop, &loop->idles[pri], EV_IDLE);
      break;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* prepare, check, fork: plain sets run by ev_run at fixed points */

#define SIMPLE_WATCHER(type, list)                                                                 \
  void ev_##type##_start(struct ev_loop *loop, ev_##type *w)                                       \
  {                                                                                                \
    if (!w->active)                                                                                \
      ev__wlist_add(loop, &loop->list, (ev_watcher *)w);                                           \
  }                                                                                                \
  void ev_##type##_stop(struct ev_loop *loop, ev_##type *w)                                        \
  {                                                                                                \
    ev__clear_pending(loop, (ev_watcher *)w);                                                      \
    if (w->active)                                                                                 \
      ev__wlist_del(loop, &loop->list, (ev_watcher *)w);                                           \
  }

SIMPLE_WATCHER(prepare, prepares)
SIMPLE_WATCHER(check, checks)
SIMPLE_WATCHER(fork, forks)

/* cleanup watchers do not keep the loop running. */
void ev_cleanup_start(struct ev_loop *loop, ev_cleanup *w)
{
  if (w->active)
    return;
  ev__wlist_add(loop, &loop->cleanups, (ev_watcher *)w);
  ev_unref(loop);
}

void ev_cleanup_stop(struct ev_loop *loop, ev_cleanup *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  ev_ref(loop);
  ev__wlist_del(loop, &loop->cleanups, (ev_watcher *)w);
}

/* ------------------------------------------------------------------------------------------ */
/* embed: another loop's backend fd, watched from this loop */

static void embed_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
  (void)revents;
  ev_embed *w = EV__CONTAINER_OF(io, ev_embed, io);
  if (w->cb)
    ev_feed_event(loop, w, EV_EMBED);
  else
    ev_run(w->other, EVRUN_NOWAIT);
}

static void embed_prepare_cb(struct ev_loop *loop, ev_prepare *prepare, int revents)
{
  (void)loop;
  (void)revents;
  ev_embed *w = EV__CONTAINER_OF(prepare, ev_embed, prepare);
  /* The embedded loop's fd changes must reach its kernel object before we poll that. */
  struct ev_loop *other = w->other;
  while (other->change_n) {
    ev__fd_reify(other);
    ev_run(other, EVRUN_NOWAIT);
  }
  if (other->backend->flush)
    other->backend->flush(other);
  /* A new kernel object behind the embedded loop's fd (a renewed epoll set, a new ring, a
   * fallback to another backend), maybe under the same number: register it afresh. */
  if (other->embed_fd_gen != other->backend_fd_gen && other->backend_fd >= 0) {
    ev_io_stop(loop, &w->io);
    ev_io_set(&w->io, other->backend_fd, EV_READ);
    ev_io_start(loop, &w->io);
    other->embed_fd_gen = other->backend_fd_gen;
  }
}

static void embed_fork_cb(struct ev_loop *loop, ev_fork *fork_w, int revents)
{
  (void)revents;
  ev_embed *w = EV__CONTAINER_OF(fork_w, ev_embed, fork);
  ev_embed_stop(loop, w);
  ev_loop_fork(w->other);
  ev_run(w->other, EVRUN_NOWAIT);
  ev_embed_start(loop, w);
}

void ev_embed_sweep(struct ev_loop *loop, ev_embed *w)
{
  (void)loop;
  ev_run(w->other, EVRUN_NOWAIT);
}

void ev_embed_start(struct ev_loop *loop, ev_embed *w)
{
  if (w->active)
    return;
  struct ev_loop *other = w->other;
  EV__REQUIRE(other->backend->embeddable && other->backend_fd >= 0,
              "ev_embed_start called with a loop whose backend cannot be embedded");

  ev_io_init(&w->io, embed_io_cb, other->backend_fd, EV_READ);
  other->embed_fd_gen = other->backend_fd_gen;
  ev_set_priority(&w->io, ev_priority(w));
  ev_io_start(loop, &w->io);

  ev_prepare_init(&w->prepare, embed_prepare_cb);
  ev_set_priority(&w->prepare, EV_MINPRI);
  ev_prepare_start(loop, &w->prepare);

  ev_fork_init(&w->fork, embed_fork_cb);
  ev_fork_start(loop, &w->fork);

  ev__start(loop, (ev_watcher *)w, 1);
}

void ev_embed_stop(struct ev_loop *loop, ev_embed *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  ev_io_stop(loop, &w->io);
  ev_prepare_stop(loop, &w->prepare);
  ev_fork_stop(loop, &w->fork);
  ev__stop(loop, (ev_watcher *)w);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_once: an io and a timer watcher allocated together, whichever fires first wins */

struct once {
  ev_io io;
  ev_timer timer;
  void (*cb)(int revents, void *arg);
  void *arg;
};

static void once_finish(struct ev_loop *loop, struct once *once, int revents)
{
  void (*cb)(int revents, void *arg) = once->cb;
  void *arg = once->arg;
  ev_io_stop(loop, &once->io);
  ev_timer_stop(loop, &once->timer);
  ev__free(once);
  cb(revents, arg);
}

static void once_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct once *once = EV__CONTAINER_OF(w, struct once, io);
  /* An event of the other half in the same iteration is reported together. */
  once_finish(loop, once, revents | ev_clear_pending(loop, &once->timer));
}

static void once_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  struct once *once = EV__CONTAINER_OF(w, struct once, timer);
  once_finish(loop, once, revents | ev_clear_pending(loop, &once->io));
}

void ev_once(struct ev_loop *loop, int fd, int events, ev_tstamp timeout,
             void (*cb)(int revents, void *arg), void *arg)
{
  struct once *once = ev__realloc(NULL, sizeof *once);
  once->cb = cb;
  once->arg = arg;

  ev_init(&once->io, once_io_cb);
  if (fd >= 0) {
    ev_io_set(&once->io, fd, events);
    ev_io_start(loop, &once->io);
  }

  ev_init(&once->timer, once_timer_cb);
  if (timeout >= 0.) {
    ev_timer_set(&once->timer, timeout, 0.);
    ev_timer_start(loop, &once->timer);
  }
}
