/* internal.h - the loop structure and the interfaces between evring's files.
 *
 * Public API: include/ev.h (libev 4.33 ABI). Everything here is private to the library.
 * Naming: ev_* are the public libev functions, ev__* are internal functions shared
 * between files, plain static names stay inside one file. */
#ifndef EVRING_INTERNAL_H
#define EVRING_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Every declaration of ev.h and evring.h is an exported symbol; everything else in the library is hidden
 * (the library is compiled with -fvisibility=hidden). */
#pragma GCC visibility push(default)
#include "ev.h"
#include "evring.h"
#pragma GCC visibility pop

#include "stats.h"

#define EV__EXPORT __attribute__((visibility("default")))

/* Exported data read by the inline ev_default_loop_uc_() of every client. */
extern EV__EXPORT struct ev_loop *ev_default_loop_ptr;

#define EV__NUMPRI (EV_MAXPRI - EV_MINPRI + 1)
#define EV__PRI_INDEX(w) ((w)->priority - EV_MINPRI)

#define EV__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Usage errors that libev asserts on abort with a message (kept in every build type, like
 * Debian's libev). Kernel and peer answers never go through here. */
#define EV__REQUIRE(cond, msg)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ev__usage_error(msg, __FILE__, __LINE__);                                                    \
  } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Backend interface: one const struct per backend file, listed in loop.c in priority order.  */

struct ev_backend_ops {
  const char *name;
  unsigned int flag;  /* the EVBACKEND_* bit */
  int embeddable;     /* has a pollable fd (loop->backend_fd) usable by ev_embed */

  /* Probe whether the running kernel supports this backend at all (cached by the caller).
   * NULL means always available. */
  int (*available)(void);

  /* Optional: whether ev_recommended_backends() includes it where it is available, i.e. it
   * was measured not slower than epoll on this kernel. NULL means yes. */
  int (*recommended)(void);

  /* Create kernel state for a fresh loop. 0 or -errno. Sets loop->backend_data and, for an
   * embeddable backend, loop->backend_fd. */
  int (*init)(struct ev_loop *loop);

  /* Release everything init created. Called in the process that created it. */
  void (*destroy)(struct ev_loop *loop);

  /* In the child after fork: drop the inherited kernel state without telling the kernel about
   * its registrations (they are shared with the parent) and create a fresh one. The loop then
   * re-submits every fd with modify(fd, 0, mask | EV__IOFDSET). 0 or -errno. */
  int (*fork)(struct ev_loop *loop);

  /* The wanted mask of fd changed from oev to nev (EV_READ|EV_WRITE, 0 = not watched).
   * nev carries EV__IOFDSET when the fd number may now refer to a different file than the one
   * registered before, so the registration must be renewed even if the mask is unchanged.
   * Called for every changed fd right before poll(); a backend may just record the change
   * and turn all of them into kernel requests inside poll(). */
  void (*modify)(struct ev_loop *loop, int fd, int oev, int nev);

  /* Optional: the last watcher of fd was stopped, and the program may close the fd before the
   * next poll(). A backend whose kernel request holds a reference to the file drops it now,
   * so that the close really closes (as on epoll). modify() follows as usual. */
  void (*release)(struct ev_loop *loop, int fd);

  /* Wait at most timeout seconds (0 = just look) and report readiness with ev__fd_event(),
   * bad descriptors with ev__fd_error(). The backend rounds the timeout itself. */
  void (*poll)(struct ev_loop *loop, ev_tstamp timeout);

  /* Optional: bring the kernel up to date without waiting, so that loop->backend_fd reports
   * readiness correctly while another loop polls it (ev_embed). */
  void (*flush)(struct ev_loop *loop);
};

extern const struct ev_backend_ops ev__backend_select;
extern const struct ev_backend_ops ev__backend_poll;
extern const struct ev_backend_ops ev__backend_epoll;
extern const struct ev_backend_ops ev__backend_iouring;

/* ------------------------------------------------------------------------------------------ */
/* Loop structure                                                                             */

/* Per file-descriptor number. */
struct ev_fd {
  ev_watcher_list *head; /* io watchers of this fd, linked through ->next */
  unsigned char events;  /* union of the watchers' masks, as last given to the backend */
  unsigned char reify;   /* non-zero while queued on loop->changes; EV__IOFDSET: new file? */
  unsigned char emask;   /* backend private: mask currently registered in the kernel */
  unsigned char eflags;  /* backend private */
  uint32_t egen;         /* backend private: generation of the current registration */
};

struct ev_pending {
  ev_watcher *w;
  int revents;
};

/* Timer and periodic heaps: the expiry time is cached next to the watcher pointer. */
struct ev_heap_node {
  ev_tstamp at;
  ev_watcher_time *w;
};

/* An unordered set of watchers whose `active` is their index + 1. */
struct ev_wlist {
  ev_watcher **v;
  int n, cap;
};

struct ev_loop {
  /* time */
  ev_tstamp now;        /* cached wall-clock time (ev_now) */
  ev_tstamp mn_now;     /* cached monotonic time: timers run on it */
  ev_tstamp rtmn_diff;  /* now - mn_now */
  ev_tstamp now_floor;  /* mn_now when rtmn_diff was last resynchronised */
  ev_tstamp io_blocktime;
  ev_tstamp timeout_blocktime;

  /* backend */
  const struct ev_backend_ops *backend;
  void *backend_data;
  int backend_fd;       /* pollable kernel object for ev_embed, -1 if none */
  unsigned int backend_fd_gen; /* bumped whenever backend_fd is (re)placed: ev__backend_fd_set */
  unsigned int embed_fd_gen;   /* backend_fd_gen that an ev_embed of this loop registered */
  unsigned int flags;   /* flags the loop was created with, after LIBEV_FLAGS */

  /* statistics (stats.h): counted by every file, reported by stats.c */
  struct ev__stats stats;

  /* fd table and the batched change list */
  struct ev_fd *fds;
  int fd_cap;
  int *changes;
  int change_n, change_cap;

  /* pending callbacks, one queue per priority, run last-in first-out */
  struct ev_pending *pendings[EV__NUMPRI];
  int pending_n[EV__NUMPRI], pending_cap[EV__NUMPRI];
  ev_watcher pending_dummy; /* takes the slot of a watcher whose pending state was cleared */

  /* scratch list that feeds expired timers in expiry order */
  ev_watcher **rfeeds;
  int rfeed_n, rfeed_cap;

  /* timers (monotonic) and periodics (wall clock): 4-ary heaps, root at EV__HEAP_ROOT */
  struct ev_heap_node *timers;
  int timer_n, timer_cap; /* timer_n counts used slots including the unused ones below root */
  struct ev_heap_node *periodics;
  int periodic_n, periodic_cap;

  /* simple watcher sets */
  struct ev_wlist idles[EV__NUMPRI];
  int idle_all; /* number of active idle watchers over all priorities */
  struct ev_wlist prepares, checks, forks, cleanups, asyncs;

  /* run control */
  int activecnt;        /* referencing active watchers (ev_ref/ev_unref) */
  unsigned int iteration;
  unsigned int depth;
  int loop_done;        /* EVBREAK_* requested */
  int postfork;         /* 1: the process forked, kernel state must be recreated */
  pid_t fork_pid;       /* EVFLAG_FORKCHECK: the process this loop last ran in */
  void *userdata;
  ev_loop_callback invoke_cb;
  void (*release_cb)(struct ev_loop *loop);
  void (*acquire_cb)(struct ev_loop *loop);

  /* wake-ups from other threads and signal handlers: one eventfd, watched by pipe_w */
  int evfd;
  ev_io pipe_w;
  atomic_int pipe_write_wanted;  /* the loop is (about to be) blocked in the backend */
  atomic_int pipe_write_skipped; /* a wake-up was requested while it was not blocked */
  atomic_int async_pending;
  atomic_int sig_pending;

  /* signalfd (EVFLAG_SIGNALFD) */
  int sigfd;
  ev_io sigfd_w;
  sigset_t sigfd_set;

  /* ev_child: the default loop's internal SIGCHLD watcher */
  ev_signal childev;

  /* ev_periodic: a timerfd that reports wall-clock jumps (not with EVFLAG_NOTIMERFD) */
  int timerfd;
  ev_io timerfd_w;

  /* ev_stat: inotify */
  int inotify_fd;
  ev_io inotify_w;
  struct ev_wlist stat_watches; /* active ev_stat watchers, for inotify dispatch */

  /* evring.h operations (src/evring/), created by the first one */
  struct ev__ops *ops;

};

#define EV__HEAP_ARITY 4
#define EV__HEAP_ROOT (EV__HEAP_ARITY - 1)

/* ------------------------------------------------------------------------------------------ */
/* Shared internal functions                                                                  */

/* memory.c */
void *ev__realloc(void *ptr, size_t size);
void ev__free(void *ptr);
/* Make room for at least `need` elements of `size` bytes in *arr (capacity *cap). */
void ev__grow(void **arr, int *cap, int need, size_t size);
#define EV__GROW(arr, cap, need) ev__grow((void **)&(arr), &(cap), (need), sizeof *(arr))
void ev__syserr(const char *msg);
void ev__usage_error(const char *msg, const char *file, int line) __attribute__((noreturn));

/* loop.c: the calling process's pid, a system call only once per process (see loop.c) */
pid_t ev__getpid(void);

/* loop.c: watcher state and the pending queue */
void ev__start(struct ev_loop *loop, ev_watcher *w, int active);
void ev__stop(struct ev_loop *loop, ev_watcher *w);
void ev__clear_pending(struct ev_loop *loop, ev_watcher *w);
void ev__feed_reverse(struct ev_loop *loop, ev_watcher *w);
void ev__feed_reverse_done(struct ev_loop *loop, int revents);
void ev__wlist_add(struct ev_loop *loop, struct ev_wlist *list, ev_watcher *w);
void ev__wlist_del(struct ev_loop *loop, struct ev_wlist *list, ev_watcher *w);
void ev__wlist_free(struct ev_wlist *list);
void ev__queue_all(struct ev_loop *loop, struct ev_wlist *list, int revents);

/* io.c: the fd table */
void ev__fd_event(struct ev_loop *loop, int fd, int revents);
void ev__fd_error(struct ev_loop *loop, int fd);
int ev__fd_is_loop_own(struct ev_loop *loop, int fd); /* the wake-up, signalfd, inotify or timerfd */
int ev__fd_valid(int fd);
void ev__fd_change(struct ev_loop *loop, int fd, int flags);
void ev__fd_reify(struct ev_loop *loop);
void ev__fd_rearm_all(struct ev_loop *loop);
void ev__fd_free(struct ev_loop *loop);
/* Unwatched (internal) io watchers: started and stopped without touching the ref count. */
void ev__io_start_internal(struct ev_loop *loop, ev_io *w);
void ev__io_stop_internal(struct ev_loop *loop, ev_io *w);

/* time.c */
ev_tstamp ev__monotonic(void);
void ev__time_init(struct ev_loop *loop);
void ev__time_update(struct ev_loop *loop);
void ev__time_resync(struct ev_loop *loop);

/* timer.c: ev_timer and ev_periodic */
ev_tstamp ev__next_timeout(struct ev_loop *loop, ev_tstamp max);
void ev__timers_reify(struct ev_loop *loop);
void ev__periodics_reify(struct ev_loop *loop);
void ev__timers_shift(struct ev_loop *loop, ev_tstamp delta);
void ev__periodics_reschedule(struct ev_loop *loop);
void ev__timers_free(struct ev_loop *loop);
void ev__timers_verify(struct ev_loop *loop);
void ev__timerfd_close(struct ev_loop *loop);
void ev__timerfd_fork(struct ev_loop *loop);

/* wakeup.c: the loop's eventfd, ev_async */
void ev__evpipe_prepare(struct ev_loop *loop);
int ev__evpipe_init(struct ev_loop *loop);
void ev__evpipe_close(struct ev_loop *loop);
void ev__evpipe_fork(struct ev_loop *loop);
void ev__evpipe_write(struct ev_loop *loop, atomic_int *flag);

/* signal.c */
void ev__signals_process(struct ev_loop *loop);
void ev__signals_loop_destroy(struct ev_loop *loop);
void ev__signals_fork(struct ev_loop *loop);

/* child.c */
void ev__child_init_default(struct ev_loop *loop);
void ev__child_destroy_default(struct ev_loop *loop);

/* stat.c */
void ev__stat_loop_destroy(struct ev_loop *loop);
void ev__stat_fork(struct ev_loop *loop);

/* watchers.c */
void ev__idle_reify(struct ev_loop *loop);

#endif
