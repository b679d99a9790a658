/* ev.h - public header of evring.
 *
 * evring is an event loop library that can replace libev 4.33 as shipped by Debian 12
 * (libev.so.4). This header is evring's own text; it declares the same types, constants,
 * macros and functions as libev's header does, with the same binary layout, so programs
 * built against either header run against either library.
 *
 * Clients may configure the header before including it (EV_COMMON, EV_CB_DECLARE,
 * EV_MINPRI/EV_MAXPRI, EV_TSTAMP_T, EV_ATOMIC_T, EV_FEATURES, EV_MULTIPLICITY and the
 * EV_*_ENABLE switches). Changing any of them changes the layout of the watchers, so a client
 * doing that can no longer use the shared library. */
#ifndef EVRING_EV_H
#define EVRING_EV_H

#include <string.h>    /* memmove, used by ev_cb and ev_set_cb */
#include <signal.h>    /* sig_atomic_t */
#include <sys/stat.h>  /* struct stat, behind ev_statdata */

/* ------------------------------------------------------------------------------------------ */
/* C and C++ helpers                                                                          */

#ifdef __cplusplus
#define EV_CPP(x) x
#if __cplusplus >= 201103L
#define EV_NOEXCEPT noexcept
#else
#define EV_NOEXCEPT throw()
#endif
#else
#define EV_CPP(x)
#define EV_NOEXCEPT
#endif

/* The name used before libev 4.25. */
#define EV_THROW EV_NOEXCEPT

/* ------------------------------------------------------------------------------------------ */
/* Feature selection                                                                          */

/* EV_FEATURES is a bit set; each EV_FEATURE_* macro below is its bit (or 0 when cleared).
 * A size-optimised client build drops the two bits that only trade speed for size. */
#ifndef EV_FEATURES
#if defined __OPTIMIZE_SIZE__
#define EV_FEATURES 0x7c
#else
#define EV_FEATURES 0x7f
#endif
#endif

#define EV_FEATURE_CODE ((EV_FEATURES) & 1)
#define EV_FEATURE_DATA ((EV_FEATURES) & 2)
#define EV_FEATURE_CONFIG ((EV_FEATURES) & 4)
#define EV_FEATURE_API ((EV_FEATURES) & 8)
#define EV_FEATURE_WATCHERS ((EV_FEATURES) & 16)
#define EV_FEATURE_BACKENDS ((EV_FEATURES) & 32)
#define EV_FEATURE_OS ((EV_FEATURES) & 64)

/* Loops are passed explicitly unless the client turns multiplicity off. */
#ifndef EV_MULTIPLICITY
#define EV_MULTIPLICITY EV_FEATURE_CONFIG
#endif

/* One switch per optional watcher type. */
#ifndef EV_PERIODIC_ENABLE
#define EV_PERIODIC_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_STAT_ENABLE
#define EV_STAT_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_PREPARE_ENABLE
#define EV_PREPARE_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_CHECK_ENABLE
#define EV_CHECK_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_IDLE_ENABLE
#define EV_IDLE_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_FORK_ENABLE
#define EV_FORK_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_CLEANUP_ENABLE
#define EV_CLEANUP_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_SIGNAL_ENABLE
#define EV_SIGNAL_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_CHILD_ENABLE
#define EV_CHILD_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_ASYNC_ENABLE
#define EV_ASYNC_ENABLE EV_FEATURE_WATCHERS
#endif
#ifndef EV_EMBED_ENABLE
#define EV_EMBED_ENABLE EV_FEATURE_WATCHERS
#endif

/* ev_walk is not part of the libev 4.33 library this one replaces. */
#ifndef EV_WALK_ENABLE
#define EV_WALK_ENABLE 0
#endif

/* Declare the library's functions (0 leaves them to the client). */
#ifndef EV_PROTOTYPES
#define EV_PROTOTYPES 1
#endif

/* Keep the names of libev 3 (ev_loop (), ev_unloop (), EVLOOP_*, ...). */
#ifndef EV_COMPAT3
#define EV_COMPAT3 1
#endif

/* Switches that depend on each other. Child watchers are driven by SIGCHLD. */
#if EV_CHILD_ENABLE && !EV_SIGNAL_ENABLE
#undef EV_SIGNAL_ENABLE
#define EV_SIGNAL_ENABLE 1
#endif

/* An embedded loop needs a loop to be embedded into. */
#if !EV_MULTIPLICITY
#undef EV_EMBED_ENABLE
#define EV_EMBED_ENABLE 0
#endif

/* ------------------------------------------------------------------------------------------ */
/* Basic types and the loop argument macros                                                   */

#ifndef EV_TSTAMP_T
#define EV_TSTAMP_T double
#endif

/* Time in seconds, as a floating point number. */
typedef EV_TSTAMP_T ev_tstamp;

/* The type of ev_async's "sent" flag: written from signal handlers and other threads. */
#ifndef EV_ATOMIC_T
#define EV_ATOMIC_T sig_atomic_t volatile
#endif

/* What ev_stat reports about a path. */
typedef struct stat ev_statdata;

#if EV_MULTIPLICITY
struct ev_loop;
/* The parameter (EV_P) and argument (EV_A) that name the loop, alone or followed by more. */
#define EV_P struct ev_loop *loop
#define EV_P_ EV_P,
#define EV_A loop
#define EV_A_ EV_A,
/* The default loop, created on first use (EV_DEFAULT) or assumed to exist (EV_DEFAULT_UC). */
#define EV_DEFAULT_UC ev_default_loop_uc_()
#define EV_DEFAULT_UC_ EV_DEFAULT_UC,
#define EV_DEFAULT ev_default_loop(0)
#define EV_DEFAULT_ EV_DEFAULT,
#else
#define EV_P void
#define EV_P_
#define EV_A
#define EV_A_
#define EV_DEFAULT
#define EV_DEFAULT_
#define EV_DEFAULT_UC
#define EV_DEFAULT_UC_
#endif

#define EV_INLINE static inline

#ifdef EV_API_STATIC
#define EV_API_DECL static
#else
#define EV_API_DECL extern
#endif

#define EV_VERSION_MAJOR 4
#define EV_VERSION_MINOR 33

/* Watcher priorities. With the same lower and upper bound the "priority" member is left out
 * of every watcher. */
#ifndef EV_MINPRI
#define EV_MINPRI (EV_FEATURE_CONFIG ? -2 : 0)
#endif
#ifndef EV_MAXPRI
#define EV_MAXPRI (EV_FEATURE_CONFIG ? +2 : 0)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Constants (anonymous enums: every enumerator has type int)                                 */

/* Event bits, passed to callbacks as "revents" and used as io event masks. */
enum {
  EV_UNDEF = (int)0xFFFFFFFF, /* guard value, never reported */
  EV_NONE = 0x00,
  EV_READ = 0x01,
  EV_WRITE = 0x02,
  EV__IOFDSET = 0x80, /* internal: the fd of an io watcher was (re)set */
  EV_IO = EV_READ,
  EV_TIMER = 0x00000100,
#if EV_COMPAT3
  EV_TIMEOUT = EV_TIMER,
#endif
  EV_PERIODIC = 0x00000200,
  EV_SIGNAL = 0x00000400,
  EV_CHILD = 0x00000800,
  EV_STAT = 0x00001000,
  EV_IDLE = 0x00002000,
  EV_PREPARE = 0x00004000,
  EV_CHECK = 0x00008000,
  EV_EMBED = 0x00010000,
  EV_FORK = 0x00020000,
  EV_CLEANUP = 0x00040000,
  EV_ASYNC = 0x00080000,
  EV_CUSTOM = 0x01000000, /* free for the application's own use */
  EV_ERROR = (int)0x80000000
};

/* Loop flags for ev_default_loop and ev_loop_new. */
enum {
  EVFLAG_AUTO = 0x00000000,
  EVFLAG_NOENV = 0x01000000,     /* ignore the LIBEV_FLAGS environment variable */
  EVFLAG_FORKCHECK = 0x02000000, /* compare getpid () on every iteration */
  EVFLAG_NOINOTIFY = 0x00100000, /* ev_stat does not use inotify */
#if EV_COMPAT3
  EVFLAG_NOSIGFD = 0,            /* obsolete, has no effect */
#endif
  EVFLAG_SIGNALFD = 0x00200000,  /* receive signals through a signalfd */
  EVFLAG_NOSIGMASK = 0x00400000, /* leave the signal mask alone */
  EVFLAG_NOTIMERFD = 0x00800000  /* no timerfd to notice wall clock jumps */
};

/* Backends, one bit each. */
enum {
  EVBACKEND_SELECT = 0x00000001,
  EVBACKEND_POLL = 0x00000002,
  EVBACKEND_EPOLL = 0x00000004,
  EVBACKEND_KQUEUE = 0x00000008,
  EVBACKEND_DEVPOLL = 0x00000010,
  EVBACKEND_PORT = 0x00000020,
  EVBACKEND_LINUXAIO = 0x00000040,
  EVBACKEND_IOURING = 0x00000080,
  EVBACKEND_ALL = 0x000000FF,
  EVBACKEND_MASK = 0x0000FFFF
};

/* Flags of ev_run. */
enum {
  EVRUN_NOWAIT = 1, /* poll once without blocking */
  EVRUN_ONCE = 2    /* block until something happened, once */
};

/* How ev_break unwinds. */
enum {
  EVBREAK_CANCEL = 0, /* take back an earlier request */
  EVBREAK_ONE = 1,    /* leave the innermost ev_run */
  EVBREAK_ALL = 2     /* leave every nested ev_run */
};

#if EV_COMPAT3
#define EVLOOP_NONBLOCK EVRUN_NOWAIT
#define EVLOOP_ONESHOT EVRUN_ONCE
#define EVUNLOOP_CANCEL EVBREAK_CANCEL
#define EVUNLOOP_ONE EVBREAK_ONE
#define EVUNLOOP_ALL EVBREAK_ALL
#endif

/* ------------------------------------------------------------------------------------------ */
/* Watchers                                                                                   */

/* Members every watcher starts with. "active" and "pending" belong to the library (non-zero
 * while started / while queued for its callback); "data" is the application's. */
#if EV_MINPRI == EV_MAXPRI
#undef EV_DECL_PRIORITY
#define EV_DECL_PRIORITY
#elif !defined EV_DECL_PRIORITY
#define EV_DECL_PRIORITY int priority;
#endif

#ifndef EV_COMMON
#define EV_COMMON void *data;
#endif

#ifndef EV_CB_DECLARE
#define EV_CB_DECLARE(type) void (*cb)(EV_P_ struct type *w, int revents);
#endif

#ifndef EV_CB_INVOKE
#define EV_CB_INVOKE(watcher, revents) (watcher)->cb(EV_A_(watcher), (revents))
#endif

#define EV_WATCHER(type)                                                                           \
  int active;                                                                                      \
  int pending;                                                                                     \
  EV_DECL_PRIORITY                                                                                 \
  EV_COMMON                                                                                        \
  EV_CB_DECLARE(type)

/* A watcher that the library keeps in a singly linked list. */
#define EV_WATCHER_LIST(type)                                                                      \
  EV_WATCHER(type)                                                                                 \
  struct ev_watcher_list *next;

/* A watcher that the library keeps in a heap ordered by "at". */
#define EV_WATCHER_TIME(type)                                                                      \
  EV_WATCHER(type)                                                                                 \
  ev_tstamp at;

/* The generic views of a watcher. */
typedef struct ev_watcher {
  EV_WATCHER(ev_watcher)
} ev_watcher;

typedef struct ev_watcher_list {
  EV_WATCHER_LIST(ev_watcher_list)
} ev_watcher_list;

typedef struct ev_watcher_time {
  EV_WATCHER_TIME(ev_watcher_time)
} ev_watcher_time;

/* File descriptor readiness: EV_READ and/or EV_WRITE on fd. */
typedef struct ev_io {
  EV_WATCHER_LIST(ev_io)
  int fd;     /* read-only once started */
  int events; /* read-only once started */
} ev_io;

/* Relative timeout, optionally repeating. */
typedef struct ev_timer {
  EV_WATCHER_TIME(ev_timer)
  ev_tstamp repeat; /* read-write */
} ev_timer;

/* Wall clock based timeout: absolute, on an interval grid, or computed by a callback. */
typedef struct ev_periodic {
  EV_WATCHER_TIME(ev_periodic)
  ev_tstamp offset;   /* read-write */
  ev_tstamp interval; /* read-write */
  ev_tstamp (*reschedule_cb)(struct ev_periodic *w, ev_tstamp now) EV_NOEXCEPT; /* read-write */
} ev_periodic;

/* Delivery of a signal. */
typedef struct ev_signal {
  EV_WATCHER_LIST(ev_signal)
  int signum; /* read-only */
} ev_signal;

/* Status changes of a child process (default loop only). */
typedef struct ev_child {
  EV_WATCHER_LIST(ev_child)
  int flags;   /* private */
  int pid;     /* read-only: 0 means any child */
  int rpid;    /* read-write: the pid that changed status */
  int rstatus; /* read-write: its status, as waitpid reports it */
} ev_child;

/* Changes of the attributes of a path. */
typedef struct ev_stat {
  EV_WATCHER_LIST(ev_stat)
  ev_timer timer;     /* private: the polling timer */
  ev_tstamp interval; /* read-only */
  const char *path;   /* read-only */
  ev_statdata prev;   /* read-only: attributes before the change */
  ev_statdata attr;   /* read-only: current attributes */
  int wd;             /* private: inotify watch descriptor, or negative */
} ev_stat;

/* Called when the loop has nothing else to do. */
typedef struct ev_idle {
  EV_WATCHER(ev_idle)
} ev_idle;

/* Called before the loop blocks. */
typedef struct ev_prepare {
  EV_WATCHER(ev_prepare)
} ev_prepare;

/* Called after the loop has blocked. */
typedef struct ev_check {
  EV_WATCHER(ev_check)
} ev_check;

/* Called in the child once the loop notices a fork. */
typedef struct ev_fork {
  EV_WATCHER(ev_fork)
} ev_fork;

/* Called when the loop is destroyed. */
typedef struct ev_cleanup {
  EV_WATCHER(ev_cleanup)
} ev_cleanup;

/* Embedding of another loop ("other") into this one. The inner watchers are private. */
typedef struct ev_embed {
  EV_WATCHER(ev_embed)
  struct ev_loop *other; /* read-only */
  ev_io io;
  ev_prepare prepare;
  ev_check check;
  ev_timer timer;
  ev_periodic periodic;
  ev_idle idle;
  ev_fork fork;
  ev_cleanup cleanup;
} ev_embed;

/* Wake-up from another thread or a signal handler. */
typedef struct ev_async {
  EV_WATCHER(ev_async)
  EV_ATOMIC_T sent; /* private */
} ev_async;

/* ev_embed relies on its io and prepare watchers. */
#if EV_EMBED_ENABLE
#undef EV_IO_ENABLE
#define EV_IO_ENABLE 1
#undef EV_PREPARE_ENABLE
#define EV_PREPARE_ENABLE 1
#endif

/* Storage large enough for any watcher. */
union ev_any_watcher {
  struct ev_watcher w;
  struct ev_watcher_list wl;
  struct ev_io io;
  struct ev_timer timer;
#if EV_PERIODIC_ENABLE
  struct ev_periodic periodic;
#endif
#if EV_SIGNAL_ENABLE
  struct ev_signal signal;
#endif
#if EV_CHILD_ENABLE
  struct ev_child child;
#endif
#if EV_STAT_ENABLE
  struct ev_stat stat;
#endif
#if EV_IDLE_ENABLE
  struct ev_idle idle;
#endif
#if EV_PREPARE_ENABLE
  struct ev_prepare prepare;
#endif
#if EV_CHECK_ENABLE
  struct ev_check check;
#endif
#if EV_FORK_ENABLE
  struct ev_fork fork;
#endif
#if EV_CLEANUP_ENABLE
  struct ev_cleanup cleanup;
#endif
#if EV_EMBED_ENABLE
  struct ev_embed embed;
#endif
#if EV_ASYNC_ENABLE
  struct ev_async async;
#endif
};

/* The type of ev_set_invoke_pending_cb's callback. */
typedef void (*ev_loop_callback)(EV_P);

#if !EV_COMPAT3
/* Without the libev 3 function ev_loop (), the loop type may have a plain name too. */
typedef struct ev_loop ev_loop;
#endif

/* ------------------------------------------------------------------------------------------ */
/* Library functions                                                                          */

#if EV_PROTOTYPES

/* Before C++17 the noexcept of a callback parameter is not part of the function's type, and
 * compilers warn that C++ mangling would change. These are C functions: nothing is mangled. */
#if defined __cplusplus && defined __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc++17-compat-mangling"
#elif defined __cplusplus && defined __GNUC__ && __GNUC__ >= 7
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnoexcept-type"
#endif

/* Process-wide functions. */
EV_API_DECL int ev_version_major(void) EV_NOEXCEPT;
EV_API_DECL int ev_version_minor(void) EV_NOEXCEPT;

EV_API_DECL unsigned int ev_supported_backends(void) EV_NOEXCEPT;
EV_API_DECL unsigned int ev_recommended_backends(void) EV_NOEXCEPT;
EV_API_DECL unsigned int ev_embeddable_backends(void) EV_NOEXCEPT;

EV_API_DECL ev_tstamp ev_time(void) EV_NOEXCEPT;
EV_API_DECL void ev_sleep(ev_tstamp delay) EV_NOEXCEPT;

/* Replace the allocator (realloc semantics; size 0 frees and returns NULL). */
EV_API_DECL void ev_set_allocator(void *(*cb)(void *ptr, long size) EV_NOEXCEPT) EV_NOEXCEPT;

/* Called with a message when a system call fails unexpectedly; NULL: print and abort. */
EV_API_DECL void ev_set_syserr_cb(void (*cb)(const char *msg) EV_NOEXCEPT) EV_NOEXCEPT;

#if EV_MULTIPLICITY

/* The default loop: created by the first call, returned by later ones. */
EV_API_DECL struct ev_loop *ev_default_loop(unsigned int flags EV_CPP(= 0)) EV_NOEXCEPT;

#ifdef EV_API_STATIC
EV_API_DECL struct ev_loop *ev_default_loop_ptr;
#endif

/* The default loop if it exists, without creating it. */
EV_INLINE struct ev_loop *ev_default_loop_uc_(void) EV_NOEXCEPT
{
#ifndef EV_API_STATIC
  /* Declared here and not at file scope: only this function reads it. */
  extern struct ev_loop *ev_default_loop_ptr;
#endif
  return ev_default_loop_ptr;
}

EV_INLINE int ev_is_default_loop(EV_P) EV_NOEXCEPT
{
  return loop == ev_default_loop_uc_();
}

EV_API_DECL struct ev_loop *ev_loop_new(unsigned int flags EV_CPP(= 0)) EV_NOEXCEPT;

/* The loop's cached time. */
EV_API_DECL ev_tstamp ev_now(EV_P) EV_NOEXCEPT;

#else /* !EV_MULTIPLICITY */

EV_API_DECL int ev_default_loop(unsigned int flags EV_CPP(= 0)) EV_NOEXCEPT;

EV_API_DECL ev_tstamp ev_rt_now;

EV_INLINE ev_tstamp ev_now(void) EV_NOEXCEPT
{
  return ev_rt_now;
}

EV_INLINE int ev_is_default_loop(void) EV_NOEXCEPT
{
  return 1;
}

#endif /* EV_MULTIPLICITY */

/* Destroying a loop runs its ev_cleanup watchers, hence no EV_NOEXCEPT. */
EV_API_DECL void ev_loop_destroy(EV_P);

/* Ask the loop to recreate its kernel state in the child after fork (). */
EV_API_DECL void ev_loop_fork(EV_P) EV_NOEXCEPT;

EV_API_DECL unsigned int ev_backend(EV_P) EV_NOEXCEPT;
EV_API_DECL void ev_now_update(EV_P) EV_NOEXCEPT;

#if EV_WALK_ENABLE
/* Call cb for every watcher of the given types (not in the libev 4.33 library). */
EV_API_DECL void ev_walk(EV_P_ int types, void (*cb)(EV_P_ int type, void *w)) EV_NOEXCEPT;
#endif

/* Run the loop; returns the number of watchers that still keep it alive. */
EV_API_DECL int ev_run(EV_P_ int flags EV_CPP(= 0));
EV_API_DECL void ev_break(EV_P_ int how EV_CPP(= EVBREAK_ONE)) EV_NOEXCEPT;

/* Adjust the count of watchers that keep ev_run going. */
EV_API_DECL void ev_ref(EV_P) EV_NOEXCEPT;
EV_API_DECL void ev_unref(EV_P) EV_NOEXCEPT;

/* Wait once for fd (unless negative) and/or a timeout (unless negative), then call cb. */
EV_API_DECL void ev_once(EV_P_ int fd, int events, ev_tstamp timeout,
                         void (*cb)(int revents, void *arg), void *arg) EV_NOEXCEPT;

EV_API_DECL void ev_invoke_pending(EV_P);

EV_API_DECL unsigned int ev_iteration(EV_P) EV_NOEXCEPT;
EV_API_DECL unsigned int ev_depth(EV_P) EV_NOEXCEPT;
EV_API_DECL void ev_verify(EV_P) EV_NOEXCEPT;

EV_API_DECL void ev_set_io_collect_interval(EV_P_ ev_tstamp interval) EV_NOEXCEPT;
EV_API_DECL void ev_set_timeout_collect_interval(EV_P_ ev_tstamp interval) EV_NOEXCEPT;

/* Application data attached to the loop, and hooks for running it from several threads. */
EV_API_DECL void ev_set_userdata(EV_P_ void *data) EV_NOEXCEPT;
EV_API_DECL void *ev_userdata(EV_P) EV_NOEXCEPT;
EV_API_DECL void ev_set_invoke_pending_cb(EV_P_ ev_loop_callback invoke_pending_cb) EV_NOEXCEPT;
EV_API_DECL void ev_set_loop_release_cb(EV_P_ void (*release)(EV_P) EV_NOEXCEPT,
                                        void (*acquire)(EV_P) EV_NOEXCEPT) EV_NOEXCEPT;

EV_API_DECL unsigned int ev_pending_count(EV_P) EV_NOEXCEPT;

/* Stop counting time (for example around a process suspension), and resume. */
EV_API_DECL void ev_suspend(EV_P) EV_NOEXCEPT;
EV_API_DECL void ev_resume(EV_P) EV_NOEXCEPT;

#if defined __cplusplus && defined __clang__
#pragma clang diagnostic pop
#elif defined __cplusplus && defined __GNUC__ && __GNUC__ >= 7
#pragma GCC diagnostic pop
#endif

#endif /* EV_PROTOTYPES */

/* ------------------------------------------------------------------------------------------ */
/* Watcher macros                                                                             */

/* The part every watcher starts with, seen through the generic types. These small functions
 * do what a pointer cast would do; unlike a cast of a watcher's address written in the macros
 * below, they do not trip GCC's -Wstrict-aliasing in client code. */
EV_INLINE ev_watcher *ev__watcher(void *w) EV_NOEXCEPT
{
  return (ev_watcher *)w;
}

EV_INLINE const ev_watcher *ev__watcher_ro(const void *w) EV_NOEXCEPT
{
  return (const ev_watcher *)w;
}

EV_INLINE ev_watcher_time *ev__watcher_time(void *w) EV_NOEXCEPT
{
  return (ev_watcher_time *)w;
}

EV_INLINE const ev_watcher_time *ev__watcher_time_ro(const void *w) EV_NOEXCEPT
{
  return (const ev_watcher_time *)w;
}

#define ev_is_active(w) (0 + ev__watcher_ro(w)->active)
#define ev_is_pending(w) (0 + ev__watcher_ro(w)->pending)

#if EV_MINPRI == EV_MAXPRI
#define ev_priority(w) ((void)(w), EV_MINPRI)
#define ev_set_priority(w, pri) ((void)(w), (void)(pri))
#else
#define ev_priority(w) (0 + ev__watcher_ro(w)->priority)
#define ev_set_priority(w, pri) (ev__watcher(w)->priority = (pri))
#endif

/* The callback member with the watcher's own type (rarely needed directly). */
#define ev_cb_(w) (w)->cb

/* The callback is accessed through both the typed and the generic view of the watcher;
 * copying it between the two (the same bytes) keeps either view valid for the compiler. */
#define ev_cb(w) (memmove(&ev_cb_(w), &ev__watcher(w)->cb, sizeof(ev_cb_(w))), ev_cb_(w))

#ifndef ev_set_cb
#define ev_set_cb(w, cb_)                                                                          \
  ((void)(ev_cb_(w) = (cb_)), (void)memmove(&ev__watcher(w)->cb, &ev_cb_(w), sizeof(ev_cb_(w))))
#endif

#define ev_periodic_at(w) (0 + ev__watcher_time_ro(w)->at)
#define ev_async_pending(w) (0 + (w)->sent)

/* Put a watcher into the "initialised, inactive" state with callback cb_. */
#define ev_init(w, cb_)                                                                            \
  do {                                                                                             \
    ev__watcher(w)->active = 0;                                                                    \
    ev__watcher(w)->pending = 0;                                                                   \
    ev_set_priority((w), 0);                                                                       \
    ev_set_cb((w), (cb_));                                                                         \
  } while (0)

/* Per-type parameters; only valid while the watcher is inactive. */
#define ev_io_set(w, fd_, events_)                                                                 \
  do {                                                                                             \
    (w)->fd = (fd_);                                                                               \
    (w)->events = (events_) | EV__IOFDSET;                                                         \
  } while (0)

#define ev_timer_set(w, after_, repeat_)                                                           \
  do {                                                                                             \
    ev__watcher_time(w)->at = (after_);                                                            \
    (w)->repeat = (repeat_);                                                                       \
  } while (0)

#define ev_periodic_set(w, offset_, interval_, reschedule_cb_)                                     \
  do {                                                                                             \
    (w)->offset = (offset_);                                                                       \
    (w)->interval = (interval_);                                                                   \
    (w)->reschedule_cb = (reschedule_cb_);                                                         \
  } while (0)

#define ev_signal_set(w, signum_)                                                                  \
  do {                                                                                             \
    (w)->signum = (signum_);                                                                       \
  } while (0)

#define ev_child_set(w, pid_, trace_)                                                              \
  do {                                                                                             \
    (w)->pid = (pid_);                                                                             \
    (w)->flags = !!(trace_);                                                                       \
  } while (0)

#define ev_stat_set(w, path_, interval_)                                                           \
  do {                                                                                             \
    (w)->path = (path_);                                                                           \
    (w)->interval = (interval_);                                                                   \
    (w)->wd = -2;                                                                                  \
  } while (0)

#define ev_embed_set(w, other_)                                                                    \
  do {                                                                                             \
    (w)->other = (other_);                                                                         \
  } while (0)

/* These watcher types have no parameters. */
#define ev_idle_set(w)
#define ev_prepare_set(w)
#define ev_check_set(w)
#define ev_fork_set(w)
#define ev_cleanup_set(w)
#define ev_async_set(w)

/* Change the events of an io watcher, keeping its internal bit. */
#define ev_io_modify(w, events_)                                                                   \
  do {                                                                                             \
    (w)->events = ((w)->events & EV__IOFDSET) | (events_);                                         \
  } while (0)

/* ev_init followed by the type's ev_TYPE_set. */
#define ev_io_init(w, cb_, fd_, events_)                                                           \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_io_set((w), (fd_), (events_));                                                              \
  } while (0)

#define ev_timer_init(w, cb_, after_, repeat_)                                                     \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_timer_set((w), (after_), (repeat_));                                                        \
  } while (0)

#define ev_periodic_init(w, cb_, offset_, interval_, reschedule_cb_)                               \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_periodic_set((w), (offset_), (interval_), (reschedule_cb_));                                \
  } while (0)

#define ev_signal_init(w, cb_, signum_)                                                            \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_signal_set((w), (signum_));                                                                 \
  } while (0)

#define ev_child_init(w, cb_, pid_, trace_)                                                        \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_child_set((w), (pid_), (trace_));                                                           \
  } while (0)

#define ev_stat_init(w, cb_, path_, interval_)                                                     \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_stat_set((w), (path_), (interval_));                                                        \
  } while (0)

#define ev_embed_init(w, cb_, other_)                                                              \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_embed_set((w), (other_));                                                                   \
  } while (0)

#define ev_idle_init(w, cb_)                                                                       \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_idle_set((w));                                                                              \
  } while (0)

#define ev_prepare_init(w, cb_)                                                                    \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_prepare_set((w));                                                                           \
  } while (0)

#define ev_check_init(w, cb_)                                                                      \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_check_set((w));                                                                             \
  } while (0)

#define ev_fork_init(w, cb_)                                                                       \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_fork_set((w));                                                                              \
  } while (0)

#define ev_cleanup_init(w, cb_)                                                                    \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_cleanup_set((w));                                                                           \
  } while (0)

#define ev_async_init(w, cb_)                                                                      \
  do {                                                                                             \
    ev_init((w), (cb_));                                                                           \
    ev_async_set((w));                                                                             \
  } while (0)

/* Declare a callback for watcher type ev_TYPE (unofficial convenience). */
#define EV_CB(type, name) void name(EV_P_ struct ev_##type *w, int revents)

/* ------------------------------------------------------------------------------------------ */
/* Watcher functions                                                                          */

#if EV_PROTOTYPES

/* Generic: w may point to any watcher. */
EV_API_DECL void ev_feed_event(EV_P_ void *w, int revents) EV_NOEXCEPT;
EV_API_DECL void ev_feed_fd_event(EV_P_ int fd, int revents) EV_NOEXCEPT;
#if EV_SIGNAL_ENABLE
EV_API_DECL void ev_feed_signal(int signum) EV_NOEXCEPT;
EV_API_DECL void ev_feed_signal_event(EV_P_ int signum) EV_NOEXCEPT;
#endif
/* Call the watcher's callback now; it may throw. */
EV_API_DECL void ev_invoke(EV_P_ void *w, int revents);
/* Returns the pending events of w (0 if none) and removes w from the pending queue. */
EV_API_DECL int ev_clear_pending(EV_P_ void *w) EV_NOEXCEPT;

/* Starting an active watcher and stopping an inactive one do nothing. */
EV_API_DECL void ev_io_start(EV_P_ ev_io *w) EV_NOEXCEPT;
EV_API_DECL void ev_io_stop(EV_P_ ev_io *w) EV_NOEXCEPT;

EV_API_DECL void ev_timer_start(EV_P_ ev_timer *w) EV_NOEXCEPT;
EV_API_DECL void ev_timer_stop(EV_P_ ev_timer *w) EV_NOEXCEPT;
/* Restart with "repeat" as the timeout, or stop when repeat is 0. */
EV_API_DECL void ev_timer_again(EV_P_ ev_timer *w) EV_NOEXCEPT;
EV_API_DECL ev_tstamp ev_timer_remaining(EV_P_ ev_timer *w) EV_NOEXCEPT;

#if EV_PERIODIC_ENABLE
EV_API_DECL void ev_periodic_start(EV_P_ ev_periodic *w) EV_NOEXCEPT;
EV_API_DECL void ev_periodic_stop(EV_P_ ev_periodic *w) EV_NOEXCEPT;
EV_API_DECL void ev_periodic_again(EV_P_ ev_periodic *w) EV_NOEXCEPT;
#endif

#if EV_SIGNAL_ENABLE
/* A signal can be watched by one loop at a time. */
EV_API_DECL void ev_signal_start(EV_P_ ev_signal *w) EV_NOEXCEPT;
EV_API_DECL void ev_signal_stop(EV_P_ ev_signal *w) EV_NOEXCEPT;
#endif

#if EV_CHILD_ENABLE
/* Only on the default loop. */
EV_API_DECL void ev_child_start(EV_P_ ev_child *w) EV_NOEXCEPT;
EV_API_DECL void ev_child_stop(EV_P_ ev_child *w) EV_NOEXCEPT;
#endif

#if EV_STAT_ENABLE
EV_API_DECL void ev_stat_start(EV_P_ ev_stat *w) EV_NOEXCEPT;
EV_API_DECL void ev_stat_stop(EV_P_ ev_stat *w) EV_NOEXCEPT;
/* Refresh w->attr now. */
EV_API_DECL void ev_stat_stat(EV_P_ ev_stat *w) EV_NOEXCEPT;
#endif

#if EV_IDLE_ENABLE
EV_API_DECL void ev_idle_start(EV_P_ ev_idle *w) EV_NOEXCEPT;
EV_API_DECL void ev_idle_stop(EV_P_ ev_idle *w) EV_NOEXCEPT;
#endif

#if EV_PREPARE_ENABLE
EV_API_DECL void ev_prepare_start(EV_P_ ev_prepare *w) EV_NOEXCEPT;
EV_API_DECL void ev_prepare_stop(EV_P_ ev_prepare *w) EV_NOEXCEPT;
#endif

#if EV_CHECK_ENABLE
EV_API_DECL void ev_check_start(EV_P_ ev_check *w) EV_NOEXCEPT;
EV_API_DECL void ev_check_stop(EV_P_ ev_check *w) EV_NOEXCEPT;
#endif

#if EV_FORK_ENABLE
EV_API_DECL void ev_fork_start(EV_P_ ev_fork *w) EV_NOEXCEPT;
EV_API_DECL void ev_fork_stop(EV_P_ ev_fork *w) EV_NOEXCEPT;
#endif

#if EV_CLEANUP_ENABLE
/* Cleanup watchers do not keep the loop alive. */
EV_API_DECL void ev_cleanup_start(EV_P_ ev_cleanup *w) EV_NOEXCEPT;
EV_API_DECL void ev_cleanup_stop(EV_P_ ev_cleanup *w) EV_NOEXCEPT;
#endif

#if EV_EMBED_ENABLE
EV_API_DECL void ev_embed_start(EV_P_ ev_embed *w) EV_NOEXCEPT;
EV_API_DECL void ev_embed_stop(EV_P_ ev_embed *w) EV_NOEXCEPT;
/* Run the embedded loop once without blocking. */
EV_API_DECL void ev_embed_sweep(EV_P_ ev_embed *w) EV_NOEXCEPT;
#endif

#if EV_ASYNC_ENABLE
EV_API_DECL void ev_async_start(EV_P_ ev_async *w) EV_NOEXCEPT;
EV_API_DECL void ev_async_stop(EV_P_ ev_async *w) EV_NOEXCEPT;
/* Safe from any thread and from signal handlers. */
EV_API_DECL void ev_async_send(EV_P_ ev_async *w) EV_NOEXCEPT;
#endif

/* ------------------------------------------------------------------------------------------ */
/* libev 3 names                                                                              */

#if EV_COMPAT3
EV_INLINE void ev_loop(EV_P_ int flags)
{
  (void)ev_run(EV_A_ flags);
}

EV_INLINE void ev_unloop(EV_P_ int how) EV_NOEXCEPT
{
  ev_break(EV_A_ how);
}

EV_INLINE void ev_default_destroy(void)
{
  ev_loop_destroy(EV_DEFAULT);
}

EV_INLINE void ev_default_fork(void) EV_NOEXCEPT
{
  ev_loop_fork(EV_DEFAULT);
}

EV_INLINE unsigned int ev_loop_count(EV_P) EV_NOEXCEPT
{
  return ev_iteration(EV_A);
}

EV_INLINE unsigned int ev_loop_depth(EV_P) EV_NOEXCEPT
{
  return ev_depth(EV_A);
}

EV_INLINE void ev_loop_verify(EV_P) EV_NOEXCEPT
{
  ev_verify(EV_A);
}
#endif /* EV_COMPAT3 */

#endif /* EV_PROTOTYPES */

#ifdef __cplusplus
}
#endif

#endif /* EVRING_EV_H */
