/* loop.c - loop creation, backend choice, ev_run and the pending queue. */
#include "internal.h"
#include "evring/ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

EV__EXPORT struct ev_loop *ev_default_loop_ptr;

/* The default loop lives in static storage, as in libev: clients (gevent) still call
 * ev_userdata() and stop watchers on it after ev_loop_destroy, and expect the next
 * ev_default_loop() to return the same address. */
static struct ev_loop default_loop_storage;

/* Tried in this order when several backends are allowed; the first that initialises wins. */
static const struct ev_backend_ops *const backends[] = {
  &ev__backend_iouring,
  &ev__backend_epoll,
  &ev__backend_poll,
  &ev__backend_select,
};
#define BACKEND_COUNT (sizeof backends / sizeof backends[0])

int ev_version_major(void)
{
  return EV_VERSION_MAJOR;
}

int ev_version_minor(void)
{
  return EV_VERSION_MINOR;
}

/* Each backend's kernel probe runs at most once per process (the backend caches its answer);
 * the answer cannot change while the process lives. */
static int backend_available(const struct ev_backend_ops *b)
{
  return !b->available || b->available();
}

unsigned int ev_supported_backends(void)
{
  unsigned int set = 0;
  for (size_t i = 0; i < BACKEND_COUNT; i++)
    if (backend_available(backends[i]))
      set |= backends[i]->flag;
  return set;
}

unsigned int ev_recommended_backends(void)
{
  /* Every backend evring implements works as documented; io_uring is recommended only where
   * its mechanism on this kernel was measured not slower than epoll. */
  unsigned int set = 0;
  for (size_t i = 0; i < BACKEND_COUNT; i++)
    if (backend_available(backends[i]) &&
        (!backends[i]->recommended || backends[i]->recommended()))
      set |= backends[i]->flag;
  return set;
}

unsigned int ev_embeddable_backends(void)
{
  /* As in libev: the set of backend kinds that can be embedded at all, not filtered by what
   * this kernel offers (epoll, kqueue, port, io_uring). */
  return EVBACKEND_EPOLL | EVBACKEND_KQUEUE | EVBACKEND_PORT | EVBACKEND_IOURING;
}

/* ------------------------------------------------------------------------------------------ */
/* Fork detection for EVFLAG_FORKCHECK. libev compares getpid() with the loop's pid in every
 * iteration: correct for every kind of child (fork(), the fork system call, _Fork, clone
 * without CLONE_VM), but a system call per iteration. Here the current pid is cached in a
 * page marked MADV_WIPEONFORK, which the kernel hands to every such child zeroed: a zero
 * means "new process, ask getpid() once". Where madvise refuses (kernels before 4.14),
 * getpid() is called in every iteration, as libev does. */

static pid_t *pid_page; /* NULL: no wipe-on-fork page, ask getpid() every time */

static void pid_page_setup(void)
{
  long size = sysconf(_SC_PAGESIZE);
  if (size <= 0)
    return;
  void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return;
  if (madvise(p, (size_t)size, MADV_WIPEONFORK) < 0) {
    munmap(p, (size_t)size);
    return;
  }
  pid_page = p;
}

static pthread_once_t pid_page_once = PTHREAD_ONCE_INIT;

/* The calling process's pid, without a system call except once per process. Threads racing
 * on a zeroed page all store the same value. */
pid_t ev__getpid(void)
{
  pthread_once(&pid_page_once, pid_page_setup);
  if (!pid_page)
    return getpid();
  pid_t pid = __atomic_load_n(pid_page, __ATOMIC_RELAXED);
  if (!pid) {
    pid = getpid();
    __atomic_store_n(pid_page, pid, __ATOMIC_RELAXED);
  }
  return pid;
}

/* ------------------------------------------------------------------------------------------ */
/* Loop creation */

static int environment_is_trusted(void)
{
  return getuid() == geteuid() && getgid() == getegid();
}

static unsigned int effective_flags(unsigned int flags)
{
  /* LIBEV_FLAGS replaces the whole word, except EVFLAG_FORKCHECK which stays the caller's. */
  if (!(flags & EVFLAG_NOENV) && environment_is_trusted()) {
    const char *env = getenv("LIBEV_FLAGS");
    if (env)
      flags = (unsigned int)atoi(env) | (flags & EVFLAG_FORKCHECK);
  }
  return flags;
}

/* Stands in for a watcher whose pending state was cleared; never called. */
static void pending_dummy_cb(struct ev_loop *loop, ev_watcher *w, int revents)
{
  (void)loop;
  (void)w;
  (void)revents;
}

static int loop_init(struct ev_loop *loop, unsigned int flags)
{
  memset(loop, 0, sizeof *loop);
  flags = effective_flags(flags);
  loop->flags = flags;
  loop->backend_fd = -1;
  ev__evpipe_prepare(loop);
  loop->sigfd = -1;
  loop->inotify_fd = -1;
  loop->timerfd = -1;
  loop->invoke_cb = ev_invoke_pending;
  loop->pending_dummy.cb = pending_dummy_cb;
  ev__time_init(loop);

  if (flags & EVFLAG_FORKCHECK) {
    loop->fork_pid = ev__getpid();
  }

  /* Only the kernel probes of backends that may be chosen run: a program that asks for
   * epoll never sets up an io_uring ring. */
  unsigned int want = flags & EVBACKEND_MASK;
  if (!want)
    want = ev_recommended_backends();

  for (size_t i = 0; i < BACKEND_COUNT; i++) {
    if (!(want & backends[i]->flag))
      continue;
    int r = -ENOSYS; /* not offered by this kernel (or masked) */
    if (backend_available(backends[i])) {
      loop->backend = backends[i];
      r = backends[i]->init(loop);
      if (r == 0) {
        ev__stats_loop_init(loop);
        return 0;
      }
    }
    loop->stats.backends_refused |= backends[i]->flag;
    ev__stats_fallback(loop, EVRING_FALLBACK_BACKEND, -r);
    loop->backend = NULL;
    loop->backend_data = NULL;
    loop->backend_fd = -1;
  }
  return -1;
}

struct ev_loop *ev_loop_new(unsigned int flags)
{
  struct ev_loop *loop = ev__realloc(NULL, sizeof *loop);
  if (loop_init(loop, flags) < 0) {
    ev__free(loop);
    return NULL;
  }
  return loop;
}

/* What a destroyed default loop keeps for its next life: the userdata and the iteration
 * count (libev does not reset them either). */
static void default_loop_reset(struct ev_loop *loop)
{
  void *userdata = loop->userdata;
  unsigned int iteration = loop->iteration;
  memset(loop, 0, sizeof *loop);
  loop->userdata = userdata;
  loop->iteration = iteration;
  loop->backend_fd = loop->evfd = loop->sigfd = loop->inotify_fd = loop->timerfd = -1;
}

struct ev_loop *ev_default_loop(unsigned int flags)
{
  if (!ev_default_loop_ptr) {
    struct ev_loop *loop = &default_loop_storage;
    void *userdata = loop->userdata;
    unsigned int iteration = loop->iteration;
    int r = loop_init(loop, flags);
    loop->userdata = userdata;
    loop->iteration = iteration;
    if (r < 0) {
      default_loop_reset(loop);
      return NULL;
    }
    ev_default_loop_ptr = loop;
    ev__child_init_default(loop);
  }
  return ev_default_loop_ptr;
}

/* A destroyed default loop has no backend until ev_default_loop() creates it again; stopping
 * a watcher on it only marks the watcher stopped. */
static int loop_destroyed(const struct ev_loop *loop)
{
  return !loop->backend;
}

void ev_loop_destroy(struct ev_loop *loop)
{
  if (!loop || loop_destroyed(loop))
    return;

  /* Cleanup watchers are the last callbacks a loop runs. */
  if (loop->cleanups.n) {
    ev__queue_all(loop, &loop->cleanups, EV_CLEANUP);
    loop->invoke_cb(loop);
  }

  if (loop == ev_default_loop_ptr)
    ev__child_destroy_default(loop);

  ev__signals_loop_destroy(loop);
  ev__stat_loop_destroy(loop);
  ev__timerfd_close(loop);
  ev__evpipe_close(loop);
  ev__ops_destroy(loop);
  if (loop->backend)
    loop->backend->destroy(loop);
  ev__ops_free(loop);
  ev__stats_loop_destroy(loop);

  ev__fd_free(loop);
  ev__timers_free(loop);
  for (int i = 0; i < EV__NUMPRI; i++) {
    ev__free(loop->pendings[i]);
    ev__wlist_free(&loop->idles[i]);
  }
  ev__free(loop->rfeeds);
  ev__wlist_free(&loop->prepares);
  ev__wlist_free(&loop->checks);
  ev__wlist_free(&loop->forks);
  ev__wlist_free(&loop->cleanups);
  ev__wlist_free(&loop->asyncs);
  ev__wlist_free(&loop->stat_watches);

  if (loop == &default_loop_storage) {
    if (ev_default_loop_ptr == loop)
      ev_default_loop_ptr = NULL;
    default_loop_reset(loop);
    return;
  }
  ev__free(loop);
}

void ev_loop_fork(struct ev_loop *loop)
{
  loop->postfork = 1;
}

/* Runs in the child, in the first iteration after a fork was noticed: fresh kernel state,
 * every fd re-registered. */
static void loop_reinit_after_fork(struct ev_loop *loop)
{
  ev__stats_fork(loop);
  if (loop->backend->fork(loop) < 0)
    ev__syserr("(libev) cannot recreate the backend after fork");
  ev__ops_fork(loop);
  ev__evpipe_fork(loop);
  ev__signals_fork(loop);
  ev__stat_fork(loop);
  ev__timerfd_fork(loop);
  ev__fd_rearm_all(loop);
  loop->postfork = 0;
}

unsigned int ev_backend(struct ev_loop *loop)
{
  return loop->backend ? loop->backend->flag : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Simple accessors */

unsigned int ev_iteration(struct ev_loop *loop)
{
  return loop->iteration;
}

unsigned int ev_depth(struct ev_loop *loop)
{
  return loop->depth;
}

void ev_set_io_collect_interval(struct ev_loop *loop, ev_tstamp interval)
{
  loop->io_blocktime = interval;
}

void ev_set_timeout_collect_interval(struct ev_loop *loop, ev_tstamp interval)
{
  loop->timeout_blocktime = interval;
}

void ev_set_userdata(struct ev_loop *loop, void *data)
{
  loop->userdata = data;
}

void *ev_userdata(struct ev_loop *loop)
{
  return loop->userdata;
}

void ev_set_invoke_pending_cb(struct ev_loop *loop, ev_loop_callback invoke_pending_cb)
{
  loop->invoke_cb = invoke_pending_cb;
}

void ev_set_loop_release_cb(struct ev_loop *loop, void (*release)(struct ev_loop *loop),
                            void (*acquire)(struct ev_loop *loop))
{
  loop->release_cb = release;
  loop->acquire_cb = acquire;
}

void ev_ref(struct ev_loop *loop)
{
  loop->activecnt++;
}

void ev_unref(struct ev_loop *loop)
{
  loop->activecnt--;
}

void ev_break(struct ev_loop *loop, int how)
{
  loop->loop_done = how;
}

/* ------------------------------------------------------------------------------------------ */
/* Watcher state and the pending queue */

static void clamp_priority(ev_watcher *w)
{
  if (w->priority < EV_MINPRI)
    w->priority = EV_MINPRI;
  if (w->priority > EV_MAXPRI)
    w->priority = EV_MAXPRI;
}

void ev__start(struct ev_loop *loop, ev_watcher *w, int active)
{
  clamp_priority(w);
  w->active = active;
  ev_ref(loop);
}

void ev__stop(struct ev_loop *loop, ev_watcher *w)
{
  ev_unref(loop);
  w->active = 0;
}

void ev_feed_event(struct ev_loop *loop, void *watcher, int revents)
{
  ev_watcher *w = watcher;

  if (w->pending) {
    /* Already queued: the slot collects both sets of events. */
    loop->pendings[EV__PRI_INDEX(w)][w->pending - 1].revents |= revents;
    return;
  }
  /* A watcher fed before it was ever started may carry any priority value. */
  clamp_priority(w);
  int pri = EV__PRI_INDEX(w);
  EV__GROW(loop->pendings[pri], loop->pending_cap[pri], loop->pending_n[pri] + 1);
  struct ev_pending *p = &loop->pendings[pri][loop->pending_n[pri]++];
  p->w = w;
  p->revents = revents;
  w->pending = loop->pending_n[pri];
}

void ev__clear_pending(struct ev_loop *loop, ev_watcher *w)
{
  if (w->pending && loop_destroyed(loop)) {
    w->pending = 0; /* its queue is gone */
    return;
  }
  if (w->pending) {
    /* The slot stays (ev_pending_count keeps counting it) but now calls nobody. */
    loop->pendings[EV__PRI_INDEX(w)][w->pending - 1].w = &loop->pending_dummy;
    w->pending = 0;
  }
}

int ev_clear_pending(struct ev_loop *loop, void *watcher)
{
  ev_watcher *w = watcher;
  if (!w->pending)
    return 0;
  int revents = loop->pendings[EV__PRI_INDEX(w)][w->pending - 1].revents;
  ev__clear_pending(loop, w);
  return revents;
}

unsigned int ev_pending_count(struct ev_loop *loop)
{
  unsigned int n = 0;
  for (int i = 0; i < EV__NUMPRI; i++)
    n += (unsigned int)loop->pending_n[i];
  return n;
}

void ev_invoke(struct ev_loop *loop, void *watcher, int revents)
{
  ev_watcher *w = watcher;
  loop->stats.callbacks++;
  w->cb(loop, w, revents);
}

void ev_invoke_pending(struct ev_loop *loop)
{
  /* Highest priority first, each queue last-in first-out. A callback may queue more events,
   * also of a higher priority: they run in this same pass, in priority order. */
  int pri = EV__NUMPRI - 1;
  while (pri >= 0) {
    if (!loop->pending_n[pri]) {
      pri--;
      continue;
    }
    struct ev_pending *p = &loop->pendings[pri][--loop->pending_n[pri]];
    ev_watcher *w = p->w;
    int revents = p->revents;
    if (w == &loop->pending_dummy)
      continue;
    w->pending = 0;
    if (revents & EV__OP_PENDING)
      ev__op_invoke(loop, (evring_op *)w, revents); /* counts the callback it makes */
    else {
      loop->stats.callbacks++;
      w->cb(loop, w, revents);
    }
    pri = EV__NUMPRI - 1;
  }
}

/* Expired timers are collected and then fed newest-first, so that the LIFO queue runs them in
 * expiry order. */
void ev__feed_reverse(struct ev_loop *loop, ev_watcher *w)
{
  EV__GROW(loop->rfeeds, loop->rfeed_cap, loop->rfeed_n + 1);
  loop->rfeeds[loop->rfeed_n++] = w;
}

void ev__feed_reverse_done(struct ev_loop *loop, int revents)
{
  while (loop->rfeed_n)
    ev_feed_event(loop, loop->rfeeds[--loop->rfeed_n], revents);
}

/* ------------------------------------------------------------------------------------------ */
/* Unordered watcher sets (prepare, check, idle, fork, cleanup, async) */

void ev__wlist_add(struct ev_loop *loop, struct ev_wlist *list, ev_watcher *w)
{
  EV__GROW(list->v, list->cap, list->n + 1);
  list->v[list->n++] = w;
  ev__start(loop, w, list->n);
}

void ev__wlist_del(struct ev_loop *loop, struct ev_wlist *list, ev_watcher *w)
{
  if (loop_destroyed(loop)) {
    w->active = 0; /* the list is gone */
    return;
  }
  int i = w->active - 1;
  EV__REQUIRE(i >= 0 && i < list->n && list->v[i] == w, "watcher list corrupted");
  list->v[i] = list->v[--list->n];
  list->v[i]->active = i + 1;
  ev__stop(loop, w);
}

void ev__wlist_free(struct ev_wlist *list)
{
  ev__free(list->v);
  list->v = NULL;
  list->n = list->cap = 0;
}

void ev__queue_all(struct ev_loop *loop, struct ev_wlist *list, int revents)
{
  for (int i = 0; i < list->n; i++)
    ev_feed_event(loop, list->v[i], revents);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_run */

static int fork_noticed(struct ev_loop *loop)
{
  if (!(loop->flags & EVFLAG_FORKCHECK))
    return 0;
  pid_t pid = ev__getpid();
  if (pid == loop->fork_pid)
    return 0;
  loop->fork_pid = pid;
  return 1;
}

/* How long the backend may block: until the next timer or periodic, or not at all. */
static ev_tstamp block_time(struct ev_loop *loop, int flags)
{
  if ((flags & EVRUN_NOWAIT) || loop->idle_all || !loop->activecnt ||
      atomic_load(&loop->pipe_write_skipped))
    return 0.;

  ev_tstamp waittime = ev__next_timeout(loop, 1e100);
  if (waittime > 1e99)
    waittime = 60.; /* nothing scheduled: wake up now and then anyway, like libev */

  /* Collect intervals trade latency for fewer wake-ups (ev_set_*_collect_interval). */
  if (loop->timeout_blocktime > waittime)
    waittime = loop->timeout_blocktime;
  if (waittime < 0.)
    waittime = 0.;
  return waittime;
}

static void poll_backend(struct ev_loop *loop, int flags)
{
  ev_tstamp last_poll_end = loop->mn_now; /* still the time taken right after the last wait */
  ev__time_update(loop);

  /* Announce the wait before computing it: an ev_async_send from now on writes the eventfd,
   * one before it set pipe_write_skipped, which makes the wait non-blocking. */
  atomic_store(&loop->pipe_write_wanted, 1);
  ev_tstamp waittime = block_time(loop, flags);

  /* ev_set_io_collect_interval: let events accumulate for what is left of the interval
   * after the callbacks of the last iteration ran, but never past the next timer. */
  if (loop->io_blocktime > 0. && waittime > 0.) {
    ev_tstamp sleeptime = loop->io_blocktime - (loop->mn_now - last_poll_end);
    if (sleeptime > waittime)
      sleeptime = waittime;
    if (sleeptime > 0.) {
      loop->stats.sys_other++;
      ev_sleep(sleeptime);
      waittime -= sleeptime;
    }
  }

  /* The wait belongs to the iteration it counts; the release/acquire callbacks bracket the
   * wait alone (not the collect sleep above), so they see the new count, as in libev. */
  loop->iteration++;
  loop->stats.iterations++;
  if (loop->release_cb)
    loop->release_cb(loop);
  loop->backend->poll(loop, waittime);
  if (loop->acquire_cb)
    loop->acquire_cb(loop);

  atomic_store(&loop->pipe_write_wanted, 0);
  if (atomic_load(&loop->pipe_write_skipped))
    ev_feed_event(loop, &loop->pipe_w, EV_CUSTOM);

  ev__time_update(loop);
}

int ev_run(struct ev_loop *loop, int flags)
{
  loop->depth++;
  loop->loop_done = EVBREAK_CANCEL;

  /* Run what is left from before, so that nested runs keep a clean order. */
  loop->invoke_cb(loop);

  do {
    if (fork_noticed(loop))
      loop->postfork = 1;

    if (loop->postfork && loop->forks.n) {
      ev__queue_all(loop, &loop->forks, EV_FORK);
      loop->invoke_cb(loop);
    }

    if (loop->prepares.n) {
      ev__queue_all(loop, &loop->prepares, EV_PREPARE);
      loop->invoke_cb(loop);
    }

    if (loop->loop_done)
      break;

    if (loop->postfork)
      loop_reinit_after_fork(loop);

    ev__fd_reify(loop);

    poll_backend(loop, flags);

    ev__timers_reify(loop);
    ev__periodics_reify(loop);
    ev__idle_reify(loop);

    if (loop->checks.n)
      ev__queue_all(loop, &loop->checks, EV_CHECK);

    loop->invoke_cb(loop);
  } while (loop->activecnt && !loop->loop_done && !(flags & (EVRUN_NOWAIT | EVRUN_ONCE)));

  if (loop->loop_done == EVBREAK_ONE)
    loop->loop_done = EVBREAK_CANCEL;

  loop->depth--;
  return loop->activecnt;
}

/* ------------------------------------------------------------------------------------------ */
/* ev_verify: walk the internal structures, abort on an inconsistency. */

static void verify_wlist(struct ev_wlist *list)
{
  for (int i = 0; i < list->n; i++)
    EV__REQUIRE(list->v[i]->active == i + 1, "ev_verify: watcher list index mismatch");
}

void ev_verify(struct ev_loop *loop)
{
  for (int pri = 0; pri < EV__NUMPRI; pri++) {
    for (int i = 0; i < loop->pending_n[pri]; i++) {
      ev_watcher *w = loop->pendings[pri][i].w;
      EV__REQUIRE(w == &loop->pending_dummy || w->pending == i + 1,
                  "ev_verify: pending index mismatch");
    }
    verify_wlist(&loop->idles[pri]);
  }
  verify_wlist(&loop->prepares);
  verify_wlist(&loop->checks);
  verify_wlist(&loop->forks);
  verify_wlist(&loop->cleanups);
  verify_wlist(&loop->asyncs);
  for (int fd = 0; fd < loop->fd_cap; fd++)
    for (ev_watcher_list *w = loop->fds[fd].head; w; w = w->next) {
      EV__REQUIRE(w->active == 1, "ev_verify: inactive io watcher in fd list");
      EV__REQUIRE(((ev_io *)w)->fd == fd, "ev_verify: io watcher on the wrong fd list");
    }
  for (int i = 0; i < loop->change_n; i++)
    EV__REQUIRE(loop->fds[loop->changes[i]].reify, "ev_verify: fd change without reify flag");
  ev__timers_verify(loop);
}
