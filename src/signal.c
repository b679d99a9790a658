/* signal.c - ev_signal.
 *
 * A signal number belongs to at most one loop at a time. The handler only marks the signal
 * and wakes that loop through its eventfd; the loop then feeds the signal's watchers. With
 * EVFLAG_SIGNALFD the watched signals are blocked and read from a signalfd instead. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define SIGNAL_MAX 64 /* signal numbers 1..64, as in libev on Linux */

struct signal_slot {
  struct ev_loop *_Atomic loop; /* read by the handler */
  ev_watcher_list *head;
  atomic_int pending;
};

static struct signal_slot signals[SIGNAL_MAX];

static int signum_valid(int signum)
{
  return signum > 0 && signum <= SIGNAL_MAX;
}

void ev_feed_signal(int signum)
{
  /* Async-signal-safe: atomics and, through ev__evpipe_write, one write(). */
  if (!signum_valid(signum))
    return;
  struct signal_slot *s = &signals[signum - 1];
  struct ev_loop *loop = atomic_load(&s->loop);
  if (!loop)
    return;
  atomic_store(&s->pending, 1);
  ev__evpipe_write(loop, &loop->sig_pending);
}

static void signal_handler(int signum)
{
  ev_feed_signal(signum);
}

void ev_feed_signal_event(struct ev_loop *loop, int signum)
{
  if (!signum_valid(signum))
    return;
  struct signal_slot *s = &signals[signum - 1];
  if (atomic_load(&s->loop) != loop)
    return;
  atomic_store(&s->pending, 0);
  for (ev_watcher_list *w = s->head; w; w = w->next)
    ev_feed_event(loop, w, EV_SIGNAL);
}

/* Highest number first: the pending queue is last-in first-out, so the lowest signal number
 * runs first, as in libev. */
void ev__signals_process(struct ev_loop *loop)
{
  for (int signum = SIGNAL_MAX; signum >= 1; signum--) {
    struct signal_slot *s = &signals[signum - 1];
    if (atomic_load(&s->pending) && atomic_load(&s->loop) == loop)
      ev_feed_signal_event(loop, signum);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* signalfd */

static void sigfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)w;
  (void)revents;
  struct signalfd_siginfo si[4];
  for (;;) {
    atomic_fetch_add_explicit(&loop->stats.sys_wakeup, 1, memory_order_relaxed);
    ssize_t r = read(loop->sigfd, si, sizeof si);
    if (r <= 0)
      break;
    for (size_t i = 0; i < (size_t)r / sizeof si[0]; i++)
      ev_feed_signal_event(loop, (int)si[i].ssi_signo);
    if ((size_t)r < sizeof si)
      break;
  }
}

static int sigfd_update(struct ev_loop *loop)
{
  if (loop->sigfd < 0) {
    sigemptyset(&loop->sigfd_set);
    int fd = signalfd(-1, &loop->sigfd_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
      return -errno;
    loop->sigfd = fd;
    ev_io_init(&loop->sigfd_w, sigfd_cb, fd, EV_READ);
    ev_set_priority(&loop->sigfd_w, EV_MAXPRI);
    ev__io_start_internal(loop, &loop->sigfd_w);
    return 0;
  }
  return signalfd(loop->sigfd, &loop->sigfd_set, 0) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------------------------------------ */

static void install_handler(struct ev_loop *loop, int signum)
{
  if (loop->sigfd >= 0) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    sigaddset(&loop->sigfd_set, signum);
    sigprocmask(SIG_BLOCK, &one, NULL);
    if (sigfd_update(loop) < 0)
      ev__syserr("(libev) signalfd");
    return;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = signal_handler;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(signum, &sa, NULL);

  /* Debian's libev unblocks the signal only when EVFLAG_NOSIGMASK is given (the opposite of
   * its manual); clients depend on what the binary does, so we do the same. */
  if (loop->flags & EVFLAG_NOSIGMASK) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
  }
}

static void remove_handler(struct ev_loop *loop, int signum)
{
  if (loop->sigfd >= 0 && sigismember(&loop->sigfd_set, signum)) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    sigdelset(&loop->sigfd_set, signum);
    sigfd_update(loop);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    return;
  }
  signal(signum, SIG_DFL);
}

void ev_signal_start(struct ev_loop *loop, ev_signal *w)
{
  if (w->active)
    return;
  int signum = w->signum;
  EV__REQUIRE(signum_valid(signum), "ev_signal_start called with illegal signal number");
  struct signal_slot *s = &signals[signum - 1];
  struct ev_loop *owner = atomic_load(&s->loop);
  EV__REQUIRE(!owner || owner == loop,
              "a signal must not be attached to two different loops");

  if ((loop->flags & EVFLAG_SIGNALFD) && loop->sigfd < 0 && sigfd_update(loop) < 0)
    loop->flags &= ~(unsigned int)EVFLAG_SIGNALFD; /* no signalfd: use a handler */
  if (loop->sigfd < 0 && ev__evpipe_init(loop) < 0)
    ev__syserr("(libev) error creating signal/async pipe");

  atomic_store(&s->loop, loop);
  ev__start(loop, (ev_watcher *)w, 1);
  int first = !s->head;
  w->next = s->head;
  s->head = (ev_watcher_list *)w;
  if (first)
    install_handler(loop, signum);
}

void ev_signal_stop(struct ev_loop *loop, ev_signal *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  struct signal_slot *s = &signals[w->signum - 1];
  ev_watcher_list **link = &s->head;
  while (*link && *link != (ev_watcher_list *)w)
    link = &(*link)->next;
  if (*link)
    *link = w->next;
  ev__stop(loop, (ev_watcher *)w);

  /* The slot may already belong to no loop or to another one (this loop was destroyed). */
  if (!s->head && atomic_load(&s->loop) == loop) {
    atomic_store(&s->loop, NULL);
    remove_handler(loop, w->signum);
  }
}

void ev__signals_fork(struct ev_loop *loop)
{
  (void)loop; /* a signalfd reads the signals of whoever reads it: nothing to recreate */
}

void ev__signals_loop_destroy(struct ev_loop *loop)
{
  /* Watchers stay "active" (libev does not stop user watchers), but the signals must not
   * reach a loop that is gone. */
  for (int signum = 1; signum <= SIGNAL_MAX; signum++) {
    struct signal_slot *s = &signals[signum - 1];
    if (atomic_load(&s->loop) == loop) {
      atomic_store(&s->loop, NULL);
      s->head = NULL;
      remove_handler(loop, signum);
    }
  }
  if (loop->sigfd >= 0) {
    ev__io_stop_internal(loop, &loop->sigfd_w);
    close(loop->sigfd);
    loop->sigfd = -1;
  }
}
