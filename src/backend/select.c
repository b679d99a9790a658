/* select.c - the select(2) backend.
 *
 * fd_set is a fixed array of FD_SETSIZE (1024) bits, but the kernel takes any number of bits
 * up to nfds. So we keep our own bit arrays, in the kernel's layout (unsigned long words),
 * grow them as fds appear, and never use the FD_SET macros, which stop at FD_SETSIZE. The
 * wanted sets are copied before each call because select() overwrites its arguments. */
#include "internal.h"
#include "backend/common.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/select.h>

#define WORD_BITS ((int)(8 * sizeof(unsigned long)))
#define WORD_OF(fd) ((fd) / WORD_BITS)
#define BIT_OF(fd) (1UL << ((fd) % WORD_BITS))

struct select_state {
  unsigned long *want_r, *want_w; /* what the loop watches */
  unsigned long *got_r, *got_w;   /* copies for select() to overwrite */
  int words;                      /* length of each of the four arrays */
  int maxfd;                      /* highest watched fd, -1 when none */
};

static void select_grow(struct select_state *st, int need)
{
  int words = st->words ? st->words : 1;

  while (words < need)
    words *= 2;
  unsigned long **sets[] = {&st->want_r, &st->want_w, &st->got_r, &st->got_w};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    *sets[i] = ev__realloc(*sets[i], (size_t)words * sizeof(unsigned long));
    memset(*sets[i] + st->words, 0, (size_t)(words - st->words) * sizeof(unsigned long));
  }
  st->words = words;
}

/* After the highest fd stopped being watched: find the new highest one. */
static void select_lower_maxfd(struct select_state *st)
{
  for (int w = WORD_OF(st->maxfd); w >= 0; w--) {
    unsigned long bits = st->want_r[w] | st->want_w[w];
    if (bits) {
      st->maxfd = w * WORD_BITS + (WORD_BITS - 1 - __builtin_clzl(bits));
      return;
    }
  }
  st->maxfd = -1;
}

/* Whether select() can watch fd. An fd that fcntl() accepts may still not be pollable (an
 * O_PATH fd): poll() answers POLLNVAL for it, select() silently never reports it ready. */
static int select_can_watch(struct ev_loop *loop, int fd)
{
  struct pollfd p = {.fd = fd, .events = 0};

  loop->stats.sys_fd++;
  return poll(&p, 1, 0) >= 0 && !(p.revents & POLLNVAL);
}

static void select_modify(struct ev_loop *loop, int fd, int oev, int nev)
{
  struct select_state *st = loop->backend_data;
  int mask = nev & (EV_READ | EV_WRITE);
  int w = WORD_OF(fd);

  /* The kernel ignores set bits beyond the end of the process's fd table instead of failing
   * with EBADF, and fds it cannot poll, so such an fd would simply never be ready. Check each
   * fd once when it starts being watched (or may be a new file), which catches those. */
  if (mask && (!(oev & (EV_READ | EV_WRITE)) || (nev & EV__IOFDSET)) &&
      !select_can_watch(loop, fd)) {
    ev__fd_error(loop, fd);
    return;
  }

  if (w >= st->words) {
    if (!mask)
      return;
    select_grow(st, w + 1);
  }

  /* select() looks fds up afresh on every call, so a new file under the same number
   * (EV__IOFDSET) needs nothing more than the mask. */
  if (mask & EV_READ)
    st->want_r[w] |= BIT_OF(fd);
  else
    st->want_r[w] &= ~BIT_OF(fd);
  if (mask & EV_WRITE)
    st->want_w[w] |= BIT_OF(fd);
  else
    st->want_w[w] &= ~BIT_OF(fd);

  if (mask && fd > st->maxfd)
    st->maxfd = fd;
  else if (!mask && fd == st->maxfd)
    select_lower_maxfd(st);
}

/* select() says EBADF without saying which fd: ask each watched one. */
static void select_find_bad(struct ev_loop *loop, struct select_state *st)
{
  for (int fd = 0; fd <= st->maxfd; fd++) {
    int w = WORD_OF(fd);
    if (!((st->want_r[w] | st->want_w[w]) & BIT_OF(fd)))
      continue;
    loop->stats.sys_other++;
    if (!ev__fd_valid(fd))
      ev__fd_error(loop, fd);
  }
}

static void select_poll(struct ev_loop *loop, ev_tstamp timeout)
{
  struct select_state *st = loop->backend_data;
  int words = st->maxfd < 0 ? 0 : WORD_OF(st->maxfd) + 1;
  struct timeval tv = ev__timeout_timeval(timeout);

  if (words) {
    memcpy(st->got_r, st->want_r, (size_t)words * sizeof(unsigned long));
    memcpy(st->got_w, st->want_w, (size_t)words * sizeof(unsigned long));
  }
  loop->stats.sys_wait++;
  int ready = select(st->maxfd + 1, words ? (fd_set *)st->got_r : NULL,
                     words ? (fd_set *)st->got_w : NULL, NULL, &tv);
  if (ready < 0) {
    if (errno == EBADF)
      select_find_bad(loop, st);
    else if (errno != EINTR)
      ev__syserr("(libev) select");
    return;
  }

  /* The kernel already folds errors and hang-ups into the read and write sets. */
  for (int w = 0; w < words && ready > 0; w++) {
    unsigned long bits = st->got_r[w] | st->got_w[w];

    while (bits) {
      int b = __builtin_ctzl(bits);
      int fd = w * WORD_BITS + b;
      int got = (st->got_r[w] >> b & 1 ? EV_READ : 0) | (st->got_w[w] >> b & 1 ? EV_WRITE : 0);

      ev__fd_event(loop, fd, got);
      ready -= (got & EV_READ ? 1 : 0) + (got & EV_WRITE ? 1 : 0);
      bits &= bits - 1;
    }
  }
}

static int select_init(struct ev_loop *loop)
{
  struct select_state *st = ev__realloc(NULL, sizeof *st);

  *st = (struct select_state){0};
  st->maxfd = -1;
  loop->backend_data = st;
  loop->backend_fd = -1;
  return 0;
}

static void select_destroy(struct ev_loop *loop)
{
  struct select_state *st = loop->backend_data;

  ev__free(st->want_r);
  ev__free(st->want_w);
  ev__free(st->got_r);
  ev__free(st->got_w);
  ev__free(st);
  loop->backend_data = NULL;
}

static int select_fork(struct ev_loop *loop)
{
  struct select_state *st = loop->backend_data;

  /* The loop re-submits every watched fd; start from empty sets. */
  if (st->words) {
    memset(st->want_r, 0, (size_t)st->words * sizeof(unsigned long));
    memset(st->want_w, 0, (size_t)st->words * sizeof(unsigned long));
  }
  st->maxfd = -1;
  return 0;
}

const struct ev_backend_ops ev__backend_select = {
  .name = "select",
  .flag = EVBACKEND_SELECT,
  .embeddable = 0,
  .available = NULL,
  .init = select_init,
  .destroy = select_destroy,
  .fork = select_fork,
  .modify = select_modify,
  .poll = select_poll,
};
