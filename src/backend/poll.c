/* poll.c - the poll(2) backend.
 *
 * The interest list is a plain array of struct pollfd handed to poll() as it is. slot[fd]
 * (index + 1, 0 = absent) finds an fd's entry, so that a change costs O(1): removal moves the
 * last entry into the hole. Nothing lives in the kernel between calls, so a fork needs no
 * work beyond forgetting our own state. */
#include "internal.h"
#include "backend/common.h"

#include <errno.h>
#include <poll.h>

struct poll_state {
  struct pollfd *pfds;
  int n, cap;
  int *slot; /* indexed by fd: position in pfds + 1, 0 when the fd is not watched */
  int slot_cap;
};

static void poll_remove(struct poll_state *st, int fd)
{
  int i = fd < st->slot_cap ? st->slot[fd] - 1 : -1;

  if (i < 0)
    return;
  st->pfds[i] = st->pfds[--st->n];
  st->slot[st->pfds[i].fd] = i + 1;
  st->slot[fd] = 0;
}

static void poll_modify(struct ev_loop *loop, int fd, int oev, int nev)
{
  struct poll_state *st = loop->backend_data;
  int mask = nev & (EV_READ | EV_WRITE);

  (void)oev;
  if (!mask) {
    poll_remove(st, fd);
    return;
  }

  EV__GROW(st->slot, st->slot_cap, fd + 1);
  int i = st->slot[fd] - 1;
  if (i < 0) {
    EV__GROW(st->pfds, st->cap, st->n + 1);
    i = st->n++;
    st->slot[fd] = i + 1;
    st->pfds[i].fd = fd;
  }
  /* poll() looks the fd up afresh on every call, so a new file under the same number
   * (EV__IOFDSET) needs nothing more than the mask. */
  st->pfds[i].events = ev__events_to_poll(mask);
  st->pfds[i].revents = 0;
}

static void poll_poll(struct ev_loop *loop, ev_tstamp timeout)
{
  struct poll_state *st = loop->backend_data;
  loop->stats.sys_wait++;
  int ready = poll(st->pfds, (nfds_t)st->n, ev__timeout_ms(timeout));

  if (ready < 0) {
    if (errno != EINTR)
      ev__syserr("(libev) poll");
    return;
  }

  /* Neither ev__fd_event nor ev__fd_error changes the array: the loop applies watcher
   * changes through modify() before the next poll. */
  for (int i = 0; i < st->n && ready > 0; i++) {
    struct pollfd *p = &st->pfds[i];

    if (!p->revents)
      continue;
    ready--;
    int got = ev__poll_to_events(p->revents);
    if (got & EV_ERROR) {
      /* POLLNVAL: the fd is not open. libev aborts here; we stop its watchers with EV_ERROR. */
      ev__fd_error(loop, p->fd);
      continue;
    }
    got &= ev__poll_to_events(p->events);
    if (got)
      ev__fd_event(loop, p->fd, got);
  }
}

static int poll_init(struct ev_loop *loop)
{
  struct poll_state *st = ev__realloc(NULL, sizeof *st);

  *st = (struct poll_state){0};
  loop->backend_data = st;
  loop->backend_fd = -1;
  return 0;
}

static void poll_destroy(struct ev_loop *loop)
{
  struct poll_state *st = loop->backend_data;

  ev__free(st->pfds);
  ev__free(st->slot);
  ev__free(st);
  loop->backend_data = NULL;
}

static int poll_fork(struct ev_loop *loop)
{
  struct poll_state *st = loop->backend_data;

  /* The loop re-submits every watched fd; start from an empty list so none is doubled. */
  for (int i = 0; i < st->n; i++)
    st->slot[st->pfds[i].fd] = 0;
  st->n = 0;
  return 0;
}

const struct ev_backend_ops ev__backend_poll = {
  .name = "poll",
  .flag = EVBACKEND_POLL,
  .embeddable = 0,
  .available = NULL,
  .init = poll_init,
  .destroy = poll_destroy,
  .fork = poll_fork,
  .modify = poll_modify,
  .poll = poll_poll,
};
