/* io.c - ev_io and the fd table.
 *
 * Starting or stopping an io watcher only records its fd on loop->changes. Right before the
 * loop waits, ev__fd_reify() computes each changed fd's new mask and hands it to the backend,
 * so a watcher stopped and started again within one iteration costs the kernel nothing, and a
 * backend can submit all changes together with its wait. */
#include "internal.h"

#include <fcntl.h>

/* fd_change flag: the fd is queued on loop->changes. */
#define FD_QUEUED 1

void ev__fd_change(struct ev_loop *loop, int fd, int flags)
{
  struct ev_fd *f = &loop->fds[fd];
  int was_queued = f->reify;
  f->reify |= (unsigned char)(flags | FD_QUEUED);
  if (!was_queued) {
    EV__GROW(loop->changes, loop->change_cap, loop->change_n + 1);
    loop->changes[loop->change_n++] = fd;
  }
}

static int wanted_mask(const struct ev_fd *f)
{
  int mask = 0;
  for (ev_watcher_list *w = f->head; w; w = w->next)
    mask |= ((ev_io *)w)->events;
  return mask & (EV_READ | EV_WRITE);
}

void ev__fd_reify(struct ev_loop *loop)
{
  /* A backend may report a bad fd from modify(); stopping its watchers queues the fd again,
   * so the list can grow while we walk it. */
  for (int i = 0; i < loop->change_n; i++) {
    int fd = loop->changes[i];
    struct ev_fd *f = &loop->fds[fd];
    int oev = f->events;
    int newfile = f->reify & EV__IOFDSET;
    int nev = wanted_mask(f);

    f->reify = 0;
    f->events = (unsigned char)nev;
    if (oev != nev || (newfile && nev)) {
      loop->stats.fd_changes++;
      loop->backend->modify(loop, fd, oev, nev | newfile);
    }
  }
  loop->change_n = 0;
}

void ev__fd_rearm_all(struct ev_loop *loop)
{
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    f->events = 0;
    f->emask = 0;
    f->eflags = 0;
    if (f->head)
      ev__fd_change(loop, fd, EV__IOFDSET);
  }
}

void ev__fd_free(struct ev_loop *loop)
{
  ev__free(loop->fds);
  ev__free(loop->changes);
  loop->fds = NULL;
  loop->changes = NULL;
  loop->fd_cap = loop->change_cap = loop->change_n = 0;
}

int ev__fd_valid(int fd)
{
  return fcntl(fd, F_GETFD) != -1;
}

static void queue_fd_events(struct ev_loop *loop, int fd, int revents)
{
  for (ev_watcher_list *w = loop->fds[fd].head; w; w = w->next) {
    int ev = ((ev_io *)w)->events & revents;
    if (ev)
      ev_feed_event(loop, w, ev);
  }
}

void ev__fd_event(struct ev_loop *loop, int fd, int revents)
{
  /* A change still queued means the kernel's view of this fd is about to be replaced: its
   * report may describe a file or mask nobody watches any more. */
  if (fd < loop->fd_cap && !loop->fds[fd].reify)
    queue_fd_events(loop, fd, revents);
}

void ev_feed_fd_event(struct ev_loop *loop, int fd, int revents)
{
  if (fd >= 0 && fd < loop->fd_cap)
    queue_fd_events(loop, fd, revents);
}

/* The io watchers of the loop's own descriptors (wake-up eventfd, signalfd, inotify, timerfd):
 * started unreferenced, and no user watcher hears about them. */
static int loop_own_watcher(struct ev_loop *loop, ev_watcher_list *w)
{
  return w == (ev_watcher_list *)&loop->pipe_w || w == (ev_watcher_list *)&loop->sigfd_w ||
         w == (ev_watcher_list *)&loop->inotify_w || w == (ev_watcher_list *)&loop->timerfd_w;
}

int ev__fd_is_loop_own(struct ev_loop *loop, int fd)
{
  for (ev_watcher_list *w = loop->fds[fd].head; w; w = w->next)
    if (loop_own_watcher(loop, w))
      return 1;
  return 0;
}

void ev__fd_error(struct ev_loop *loop, int fd)
{
  /* As libev does for descriptors the kernel calls invalid: every watcher of the fd is
   * stopped and told, and the loop carries on. For one of the loop's own descriptors that
   * would lose signals, async sends or stat changes without a word (libev's fate too):
   * that is reported through syserr instead, the channel for failures nobody else sees. */
  ev_watcher_list *w;
  int own = 0;
  while ((w = loop->fds[fd].head)) {
    if (loop_own_watcher(loop, w)) {
      /* Its callback would read the descriptor, which may be someone else's by now. */
      own = 1;
      ev__io_stop_internal(loop, (ev_io *)w);
      continue;
    }
    ev_io_stop(loop, (ev_io *)w);
    ev_feed_event(loop, w, EV_ERROR | EV_READ | EV_WRITE);
  }
  if (own)
    ev__syserr("(libev) the kernel reported a descriptor of the loop itself as invalid");
}

void ev_io_start(struct ev_loop *loop, ev_io *w)
{
  if (w->active)
    return;

  int fd = w->fd;
  EV__REQUIRE(fd >= 0, "ev_io_start called with negative fd");
  EV__REQUIRE(!(w->events & ~(EV__IOFDSET | EV_READ | EV_WRITE)),
              "ev_io_start called with illegal event mask");

  ev__start(loop, (ev_watcher *)w, 1);
  EV__GROW(loop->fds, loop->fd_cap, fd + 1);
  w->next = loop->fds[fd].head;
  loop->fds[fd].head = (ev_watcher_list *)w;

  /* EV__IOFDSET, set by ev_io_set, says the fd may be a new file: pass it on, once. */
  ev__fd_change(loop, fd, w->events & EV__IOFDSET);
  w->events &= ~EV__IOFDSET;
}

void ev_io_stop(struct ev_loop *loop, ev_io *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;

  EV__REQUIRE(w->fd >= 0 && w->fd < loop->fd_cap, "ev_io_stop called with illegal fd");
  ev_watcher_list **link = &loop->fds[w->fd].head;
  while (*link != (ev_watcher_list *)w) {
    EV__REQUIRE(*link, "ev_io_stop: watcher not on its fd list");
    link = &(*link)->next;
  }
  *link = w->next;

  ev__stop(loop, (ev_watcher *)w);
  ev__fd_change(loop, w->fd, 0);
  if (!loop->fds[w->fd].head && loop->backend->release)
    loop->backend->release(loop, w->fd);
}

void ev__io_start_internal(struct ev_loop *loop, ev_io *w)
{
  ev_io_start(loop, w);
  ev_unref(loop);
}

void ev__io_stop_internal(struct ev_loop *loop, ev_io *w)
{
  if (w->active)
    ev_ref(loop);
  ev_io_stop(loop, w);
}
