/* epoll.c - the epoll(7) backend, libev's default on Linux.
 *
 * The interest list lives in the kernel, so most of this file keeps it in step with the fd
 * table: loop->fds[fd].emask is the mask the kernel has for fd, 0 when it has none. Two places
 * where epoll does not behave like "watch this fd number" need care:
 *
 *  - epoll registers an (fd number, open file) pair, and the registration goes away only when
 *    the last descriptor of that file is closed. After dup(), fork() or close() + reopen the
 *    kernel may keep reporting an fd number for a file nobody watches through it any more.
 *    Every registration therefore carries a generation (loop->fds[fd].egen) in the upper half
 *    of epoll_event.data. An event whose generation is old, or which nobody asked for, is
 *    stale: we repair it with EPOLL_CTL_MOD/DEL, and if that cannot reach the stale
 *    registration we rebuild the whole set in a new epoll instance.
 *  - Regular files (and a few other kinds) cannot be polled: EPOLL_CTL_ADD answers EPERM. They
 *    are always ready, so they go on a private list that every poll reports in full. */
#include "internal.h"
#include "backend/common.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Bits of loop->fds[fd].eflags owned by this backend. */
#define EPOLL_ALWAYS 0x01   /* on the always-ready list instead of in the kernel */
#define EPOLL_REPAIRED 0x02 /* a stale event was repaired once since the last registration */

#define EPOLL_MIN_EVENTS 64

struct epoll_state {
  int epfd;       /* -1 once the set is lost: a renewal failed after closing the old one */
  int registered; /* fds with a kernel registration (emask != 0), sizes the event array */
  int rebuild;    /* a stale registration is out of reach: rebuild the set after this poll */
  struct epoll_event *events;
  int event_cap;
  int *always; /* fds epoll refused with EPERM, reported ready on every poll */
  int always_n, always_cap;
};

static int epoll_set(struct ev_loop *loop, struct epoll_state *st, int op, int fd, uint32_t gen,
                     int mask)
{
  struct epoll_event ev = {0};

  loop->stats.sys_fd++;
  loop->stats.fd_syscall++;

  ev.events = ev__events_to_epoll(mask);
  ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
  return epoll_ctl(st->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int epoll_del(struct ev_loop *loop, struct epoll_state *st, int fd)
{
  /* Kernels before 2.6.9 insist on a non-NULL event pointer even for DEL. */
  struct epoll_event ev = {0};

  loop->stats.sys_fd++;
  loop->stats.fd_syscall++;

  return epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, &ev) < 0 ? -errno : 0;
}

static void always_add(struct ev_loop *loop, struct epoll_state *st, int fd)
{
  EV__GROW(st->always, st->always_cap, st->always_n + 1);
  st->always[st->always_n++] = fd;
  loop->fds[fd].eflags |= EPOLL_ALWAYS;
}

static void always_del(struct ev_loop *loop, struct epoll_state *st, int fd)
{
  /* The list holds the few regular files a program watches, a linear search is fine. */
  for (int i = 0; i < st->always_n; i++) {
    if (st->always[i] == fd) {
      st->always[i] = st->always[--st->always_n];
      break;
    }
  }
  loop->fds[fd].eflags &= ~EPOLL_ALWAYS;
}

/* Register fd for mask (non-zero), whatever the kernel had for it before. */
static void epoll_register(struct ev_loop *loop, struct epoll_state *st, int fd, int mask)
{
  struct ev_fd *f = &loop->fds[fd];
  int op = f->emask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int err;

  f->egen++;
  f->eflags &= ~EPOLL_REPAIRED;
  err = epoll_set(loop, st, op, fd, f->egen, mask);

  /* Our idea of the kernel state is wrong after the program closed or dup2()'d the fd behind
   * our back: MOD on a file that was never registered answers ENOENT, ADD on a file that is
   * still registered under this number answers EEXIST. Either way the other operation works. */
  if (err == -ENOENT && op == EPOLL_CTL_MOD)
    err = epoll_set(loop, st, EPOLL_CTL_ADD, fd, f->egen, mask);
  else if (err == -EEXIST && op == EPOLL_CTL_ADD)
    err = epoll_set(loop, st, EPOLL_CTL_MOD, fd, f->egen, mask);

  if (!err) {
    if (!f->emask)
      st->registered++;
    f->emask = (unsigned char)mask;
    return;
  }

  if (f->emask) {
    st->registered--;
    f->emask = 0;
  }
  switch (-err) {
  case EPERM:
    /* Regular files are always readable and writable; poll() reports them every time. The
     * loop's own descriptors (eventfd, signalfd, inotify, timerfd) are pollable: refused,
     * they would make the loop spin, so that goes to syserr with them. */
    if (ev__fd_is_loop_own(loop, fd))
      ev__fd_error(loop, fd);
    else
      always_add(loop, st, fd);
    return;
  case EBADF:
    if (st->epfd < 0)
      break; /* the set itself is lost (a renewal failed), not fd */
    /* fallthrough */
  case ELOOP:
  case EINVAL:
    /* Not an open fd, or one epoll cannot watch (an epoll fd watching itself, directly or
     * through a cycle). libev aborts here; we stop the fd's watchers with EV_ERROR. */
    ev__fd_error(loop, fd);
    return;
  case ENOSPC:
  case ENOMEM:
    /* The user's limit of epoll watches (fs.epoll.max_user_watches) is reached, or the kernel
     * has no memory for one more. As libev does, the fd's watchers get EV_ERROR and stop; the
     * other fds keep working. */
    ev__fd_error(loop, fd);
    return;
  }
  errno = -err;
  ev__syserr("(libev) epoll_ctl");
}

/* The watchers of a registered fd were re-set (ev_io_set) with an unchanged mask: the number
 * may now name another file. ADD answers that cheaply: it succeeds for a new file (closing
 * the old one removed its registration) and answers EEXIST when the current file is still
 * registered under this number, which is then left alone. MOD would re-poll the file in the
 * kernel every time: programs that stop, re-set and start watchers in bulk pay for that. If
 * the registration found is an older one with another mask or generation, its events carry
 * the wrong generation or mask and poll() repairs it. */
static void epoll_renew(struct ev_loop *loop, struct epoll_state *st, int fd, int mask)
{
  struct ev_fd *f = &loop->fds[fd];
  int err = epoll_set(loop, st, EPOLL_CTL_ADD, fd, f->egen + 1, mask);

  if (err == -EEXIST)
    return;
  if (!err) {
    f->egen++;
    f->eflags &= ~EPOLL_REPAIRED;
    return;
  }
  epoll_register(loop, st, fd, mask);
}

static void epoll_unregister(struct ev_loop *loop, struct epoll_state *st, struct ev_fd *f, int fd)
{
  if (!f->emask)
    return;
  /* DEL fails with EBADF when the program closed the fd before stopping its watchers, and
   * with ENOENT when the number already belongs to another file. Then the registration is
   * either gone with the file or out of our reach; should it still fire, the event carries a
   * mask we no longer want and poll() repairs it. */
  epoll_del(loop, st, fd);
  st->registered--;
  f->emask = 0;
}

/* Swap in an empty epoll set under the old fd number (loop->backend_fd, which ev_embed
 * watches, does not change). On failure the old set may be gone too (st->epfd is then -1). */
static int epoll_fresh_instance(struct ev_loop *loop, struct epoll_state *st)
{
  int err = ev__epoll_fresh_set(&st->epfd);

  ev__backend_fd_set(loop, st->epfd);
  if (err < 0)
    return err;
  st->registered = 0;
  return 0;
}

/* A registration we cannot remove through its fd number (its file now lives only behind
 * another descriptor) keeps reporting events. The only way out is a new epoll instance with
 * every watched fd registered again. Events are not lost: epoll is level-triggered, so the
 * new instance reports whatever is still ready on the next poll. */
static void epoll_rebuild(struct ev_loop *loop, struct epoll_state *st)
{
  st->rebuild = 0;
  loop->stats.rebuilds++;
  int err = epoll_fresh_instance(loop, st);
  if (err < 0) {
    errno = -err;
    ev__syserr("(libev) cannot renew the epoll set");
    return;
  }
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    struct ev_fd *f = &loop->fds[fd];
    int mask = f->events & (EV_READ | EV_WRITE);

    f->emask = 0;
    f->eflags &= ~EPOLL_REPAIRED;
    if (mask && !(f->eflags & EPOLL_ALWAYS))
      epoll_register(loop, st, fd, mask);
  }
}

/* An event came from a registration we did not make or no longer want. */
static void epoll_repair(struct ev_loop *loop, struct epoll_state *st, struct ev_fd *f, int fd,
                         uint32_t gen)
{
  /* An old generation while fd has a current registration: the event comes from another file
   * that used to have this number and lives on behind another descriptor. epoll_ctl on fd
   * reaches only the file fd names now, so nothing but a rebuild removes it. A second stale
   * event after a repair means the repair missed, too. */
  if ((f->emask && gen != f->egen) || (f->eflags & EPOLL_REPAIRED)) {
    st->rebuild = 1;
    return;
  }
  f->eflags |= EPOLL_REPAIRED;

  /* Either fd is not watched but the file it names is still registered (DEL), or the kernel
   * reports events we did not ask for (MOD puts our mask back). If the kernel does not know
   * the file fd names, the registration belongs to another file: rebuild. */
  int err = f->emask ? epoll_set(loop, st, EPOLL_CTL_MOD, fd, f->egen, f->emask)
                    : epoll_del(loop, st, fd);
  if (err < 0)
    st->rebuild = 1;
}

static void epoll_event_one(struct ev_loop *loop, struct epoll_state *st,
                            const struct epoll_event *ev)
{
  int fd = (int)(uint32_t)ev->data.u64;
  uint32_t gen = (uint32_t)(ev->data.u64 >> 32);

  /* The fd table never shrinks while the loop lives, so this would be a registration from
   * before the table existed: nothing we can name, rebuild. */
  if (fd < 0 || fd >= loop->fd_cap) {
    st->rebuild = 1;
    return;
  }

  int got = ev__epoll_to_events(ev->events);
  struct ev_fd *f = &loop->fds[fd];
  if (gen != f->egen || !(got & f->emask)) {
    epoll_repair(loop, st, f, fd, gen);
    return;
  }
  ev__fd_event(loop, fd, got & f->emask);
}

static void epoll_poll(struct ev_loop *loop, ev_tstamp timeout)
{
  struct epoll_state *st = loop->backend_data;
  int n;

  /* Room for every registered fd, so that a burst is handled in one iteration. */
  EV__GROW(st->events, st->event_cap,
           st->registered > EPOLL_MIN_EVENTS ? st->registered : EPOLL_MIN_EVENTS);

  loop->stats.sys_wait++;
  n = epoll_wait(st->epfd, st->events, st->event_cap,
                 st->always_n ? 0 : ev__timeout_ms(timeout));
  if (n < 0) {
    if (errno != EINTR)
      ev__syserr("(libev) epoll_wait");
    n = 0;
  }

  for (int i = 0; i < n; i++)
    epoll_event_one(loop, st, &st->events[i]);

  for (int i = 0; i < st->always_n; i++) {
    int fd = st->always[i];
    ev__fd_event(loop, fd, loop->fds[fd].events & (EV_READ | EV_WRITE));
  }

  if (st->rebuild)
    epoll_rebuild(loop, st);

  /* A full array may mean more events were waiting than fit. */
  if (n == st->event_cap)
    EV__GROW(st->events, st->event_cap, st->event_cap * 2);
}

static void epoll_modify(struct ev_loop *loop, int fd, int oev, int nev)
{
  struct epoll_state *st = loop->backend_data;
  struct ev_fd *f = &loop->fds[fd];
  int renew = nev & EV__IOFDSET;
  int mask = nev & (EV_READ | EV_WRITE);

  (void)oev; /* f->emask says what the kernel has, which is what matters here */

  if (f->eflags & EPOLL_ALWAYS) {
    /* Still the same regular file: poll() reads the wanted mask from the fd table. A new
     * file under this number may be pollable, so it goes through registration again. */
    if (mask && !renew)
      return;
    always_del(loop, st, fd);
  }

  if (!mask)
    epoll_unregister(loop, st, f, fd);
  else if (mask == f->emask && renew)
    epoll_renew(loop, st, fd, mask);
  else if (mask != f->emask)
    epoll_register(loop, st, fd, mask);
}

static int epoll_init(struct ev_loop *loop)
{
  struct epoll_state *st = ev__realloc(NULL, sizeof *st);

  *st = (struct epoll_state){0};
  st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) {
    int err = -errno;
    ev__free(st);
    return err;
  }
  loop->backend_data = st;
  ev__backend_fd_set(loop, st->epfd);
  return 0;
}

static void epoll_destroy(struct ev_loop *loop)
{
  struct epoll_state *st = loop->backend_data;

  if (st->epfd >= 0)
    close(st->epfd);
  ev__free(st->events);
  ev__free(st->always);
  ev__free(st);
  loop->backend_data = NULL;
  ev__backend_fd_set(loop, -1);
}

static int epoll_fork(struct ev_loop *loop)
{
  struct epoll_state *st = loop->backend_data;

  /* The inherited instance is shared with the parent: any epoll_ctl on it would change the
   * parent's registrations. Drop our reference unseen and start empty; the loop re-submits
   * every watched fd with EV__IOFDSET. */
  int err = epoll_fresh_instance(loop, st);
  if (err < 0) {
    /* Without a set of its own the child must not touch the parent's either: the loop has
     * none now, every epoll_ctl reports the loss (EBADF) through the syserr callback. */
    if (st->epfd >= 0)
      close(st->epfd);
    st->epfd = -1;
    ev__backend_fd_set(loop, -1);
    return err;
  }
  for (int fd = 0; fd < loop->fd_cap; fd++) {
    loop->fds[fd].emask = 0;
    loop->fds[fd].eflags = 0;
  }
  st->always_n = 0;
  st->rebuild = 0;
  return 0;
}

const struct ev_backend_ops ev__backend_epoll = {
  .name = "epoll",
  .flag = EVBACKEND_EPOLL,
  .embeddable = 1,
  .available = NULL,
  .init = epoll_init,
  .destroy = epoll_destroy,
  .fork = epoll_fork,
  .modify = epoll_modify,
  .poll = epoll_poll,
};
