/*
 * ev++.h - C++ interface to evring (source compatible with the C++ API of libev 4.33).
 *
 * Everything lives in namespace ev:
 *   - constants mirroring the C ones (ev::READ, ev::TIMER, ev::EPOLL, ev::NOWAIT, ev::ONE, ...);
 *   - ev::loop_ref, a thin handle around a struct ev_loop *, plus the owning
 *     ev::dynamic_loop (ev_loop_new/ev_loop_destroy) and ev::default_loop;
 *   - one class per watcher kind (ev::io, timer, periodic, sig, child, stat, idle, prepare,
 *     check, fork, embed, async, cleanup).  Each one *is* the C watcher (public derivation),
 *     so &w can be handed to any ev_* function, and carries the loop it belongs to in `loop`.
 *
 * Callbacks are bound at compile time through template arguments:
 *     w.set<Klass, &Klass::member> (&obj);   member (ev::io &w, int revents)
 *     w.set<Klass, &Klass::member> (&obj);   member ()
 *     w.set (&obj);                          obj (ev::io &w, int revents)
 *     w.set<function> (data);                function (ev::io &w, int revents), data in w.data
 *
 * The header works in C++98 and later.  Define EV_H to include a differently named ev.h.
 */
#ifndef EVRING_EVXX_H
#define EVRING_EVXX_H

#ifdef EV_H
#include EV_H
#else
#include "ev.h"
#endif

#ifndef EV_USE_STDEXCEPT
#define EV_USE_STDEXCEPT 1
#endif
#if EV_USE_STDEXCEPT
#include <stdexcept>
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define EVRING_XX_RAISE(e) throw e
#else
#include <cstdlib>
#define EVRING_XX_RAISE(e) std::abort()
#endif

#if __cplusplus >= 201103L
#define EVRING_XX_NULL nullptr
#else
#define EVRING_XX_NULL 0
#endif

/* Loop argument helpers, private to this header (removed at its end). */
#if EV_MULTIPLICITY
#define EVRING_XX_LOOP(obj) (obj).raw_loop
#define EVRING_XX_LOOP_(obj) (obj).raw_loop,
#define EVRING_XX_CBLOOP_ struct ev_loop *,
#else
#define EVRING_XX_LOOP(obj)
#define EVRING_XX_LOOP_(obj)
#define EVRING_XX_CBLOOP_
#endif

#ifdef ERROR
#undef ERROR /* some platform headers define it; we need the name for ev::ERROR */
#endif

namespace ev {

typedef ev_tstamp tstamp;

/* --- event masks ---------------------------------------------------------------------------- */
enum {
  UNDEF = EV_UNDEF,
  NONE = EV_NONE,
  READ = EV_READ,
  WRITE = EV_WRITE,
  TIMER = EV_TIMER,
#if EV_COMPAT3
  TIMEOUT = EV_TIMER,
#endif
  PERIODIC = EV_PERIODIC,
  SIGNAL = EV_SIGNAL,
  CHILD = EV_CHILD,
  STAT = EV_STAT,
  IDLE = EV_IDLE,
  PREPARE = EV_PREPARE,
  CHECK = EV_CHECK,
  EMBED = EV_EMBED,
  FORK = EV_FORK,
  CLEANUP = EV_CLEANUP,
  ASYNC = EV_ASYNC,
  ERROR = EV_ERROR
};

/* --- loop flags and backends ---------------------------------------------------------------- */
enum {
  AUTO = EVFLAG_AUTO,
  NOENV = EVFLAG_NOENV,
  FORKCHECK = EVFLAG_FORKCHECK,
  SELECT = EVBACKEND_SELECT,
  POLL = EVBACKEND_POLL,
  EPOLL = EVBACKEND_EPOLL,
  KQUEUE = EVBACKEND_KQUEUE,
  DEVPOLL = EVBACKEND_DEVPOLL,
  PORT = EVBACKEND_PORT
};

/* --- run flags ------------------------------------------------------------------------------ */
enum {
  NOWAIT = EVRUN_NOWAIT,
  ONCE = EVRUN_ONCE
#if EV_COMPAT3
  ,
  NONBLOCK = EVRUN_NOWAIT,
  ONESHOT = EVRUN_ONCE
#endif
};

/* --- break modes ---------------------------------------------------------------------------- */
enum how_t { CANCEL = EVBREAK_CANCEL, ONE = EVBREAK_ONE, ALL = EVBREAK_ALL };

/* Thrown by default_loop / dynamic_loop when the C library refuses to create the loop. */
struct bad_loop
#if EV_USE_STDEXCEPT
    : std::exception
#endif
{
#if EV_USE_STDEXCEPT
  const char *what() const EV_NOEXCEPT
  {
    return "ev::bad_loop: the event loop could not be created (unusable flags or LIBEV_FLAGS?)";
  }
#endif
};

/* ============================================================================================ */
/* loop_ref: non-owning handle on a loop                                                        */
/* ============================================================================================ */
struct loop_ref {
#if EV_MULTIPLICITY
  struct ev_loop *raw_loop;

  loop_ref(struct ev_loop *l) EV_NOEXCEPT : raw_loop(l) {}

  operator struct ev_loop *() const EV_NOEXCEPT { return raw_loop; }
  operator const struct ev_loop *() const EV_NOEXCEPT { return raw_loop; }

  bool operator==(const loop_ref &o) const EV_NOEXCEPT { return raw_loop == o.raw_loop; }
  bool operator!=(const loop_ref &o) const EV_NOEXCEPT { return raw_loop != o.raw_loop; }
  bool operator==(const struct ev_loop *l) const EV_NOEXCEPT { return raw_loop == l; }
  bool operator!=(const struct ev_loop *l) const EV_NOEXCEPT { return raw_loop != l; }

  bool is_default() const EV_NOEXCEPT { return raw_loop == ev_default_loop(0); }
#else
  loop_ref() EV_NOEXCEPT {}
  bool operator==(const loop_ref &) const EV_NOEXCEPT { return true; }
  bool operator!=(const loop_ref &) const EV_NOEXCEPT { return false; }
#endif

  /* running and stopping */
  void run(int flags = 0) { ev_run(EVRING_XX_LOOP_(*this) flags); }
  void break_loop(how_t how = ONE) EV_NOEXCEPT { ev_break(EVRING_XX_LOOP_(*this) how); }
#if EV_COMPAT3
  void loop(int flags = 0) { run(flags); }
  void unloop(how_t how = ONE) EV_NOEXCEPT { break_loop(how); }
#endif

  /* state */
  void post_fork() EV_NOEXCEPT { ev_loop_fork(EVRING_XX_LOOP(*this)); }
  unsigned int backend() const EV_NOEXCEPT { return ev_backend(EVRING_XX_LOOP(*this)); }
  tstamp now() const EV_NOEXCEPT { return ev_now(EVRING_XX_LOOP(*this)); }
  void now_update() EV_NOEXCEPT { ev_now_update(EVRING_XX_LOOP(*this)); }
  void ref() EV_NOEXCEPT { ev_ref(EVRING_XX_LOOP(*this)); }
  void unref() EV_NOEXCEPT { ev_unref(EVRING_XX_LOOP(*this)); }
#if EV_FEATURE_API
  unsigned int iteration() const EV_NOEXCEPT { return ev_iteration(EVRING_XX_LOOP(*this)); }
  unsigned int depth() const EV_NOEXCEPT { return ev_depth(EVRING_XX_LOOP(*this)); }
  unsigned int pending_count() const EV_NOEXCEPT { return ev_pending_count(EVRING_XX_LOOP(*this)); }
  void invoke_pending() { ev_invoke_pending(EVRING_XX_LOOP(*this)); }
  void suspend() EV_NOEXCEPT { ev_suspend(EVRING_XX_LOOP(*this)); }
  void resume() EV_NOEXCEPT { ev_resume(EVRING_XX_LOOP(*this)); }
  void verify() EV_NOEXCEPT { ev_verify(EVRING_XX_LOOP(*this)); }
  void set_io_collect_interval(tstamp interval) EV_NOEXCEPT
  {
    ev_set_io_collect_interval(EVRING_XX_LOOP_(*this) interval);
  }
  void set_timeout_collect_interval(tstamp interval) EV_NOEXCEPT
  {
    ev_set_timeout_collect_interval(EVRING_XX_LOOP_(*this) interval);
  }
#endif

  /* feeding events by hand */
  void feed_fd_event(int fd, int revents) EV_NOEXCEPT
  {
    ev_feed_fd_event(EVRING_XX_LOOP_(*this) fd, revents);
  }
  void feed_signal_event(int signum) EV_NOEXCEPT
  {
    ev_feed_signal_event(EVRING_XX_LOOP_(*this) signum);
  }

  /* one-shot io-or-timeout callbacks (ev_once); the callback receives the revents */
  void once(int fd, int events, tstamp timeout, void (*cb)(int, void *), void *arg = EVRING_XX_NULL) EV_NOEXCEPT
  {
    ev_once(EVRING_XX_LOOP_(*this) fd, events, timeout, cb, arg);
  }

  template <class K, void (K::*member)(int)>
  void once(int fd, int events, tstamp timeout, K *object) EV_NOEXCEPT
  {
    once(fd, events, timeout, &once_member<K, member>, object);
  }

  template <class K, void (K::*member)()>
  void once(int fd, int events, tstamp timeout, K *object) EV_NOEXCEPT
  {
    once(fd, events, timeout, &once_member0<K, member>, object);
  }

  /* object with operator () (int revents) */
  template <class K>
  void once(int fd, int events, tstamp timeout, K *object) EV_NOEXCEPT
  {
    once(fd, events, timeout, &once_member<K, &K::operator()>, object);
  }

  template <void (*fn)(int)>
  void once(int fd, int events, tstamp timeout) EV_NOEXCEPT
  {
    once(fd, events, timeout, &once_fn<fn>, EVRING_XX_NULL);
  }

  template <void (*fn)()>
  void once(int fd, int events, tstamp timeout) EV_NOEXCEPT
  {
    once(fd, events, timeout, &once_fn0<fn>, EVRING_XX_NULL);
  }

  /* trampolines from the C ev_once callback to the C++ targets */
  template <class K, void (K::*member)(int)>
  static void once_member(int revents, void *arg)
  {
    (static_cast<K *>(arg)->*member)(revents);
  }
  template <class K, void (K::*member)()>
  static void once_member0(int, void *arg)
  {
    (static_cast<K *>(arg)->*member)();
  }
  template <void (*fn)(int)>
  static void once_fn(int revents, void *)
  {
    fn(revents);
  }
  template <void (*fn)()>
  static void once_fn0(int, void *)
  {
    fn();
  }
};

/* The default loop (ev_default_loop (flags)); never destroyed by this object. */
struct default_loop : loop_ref {
  default_loop(unsigned int flags = AUTO)
#if EV_MULTIPLICITY
      : loop_ref(ev_default_loop(flags))
  {
    if (!raw_loop)
      EVRING_XX_RAISE(bad_loop());
  }
#else
  {
    if (!ev_default_loop(flags))
      EVRING_XX_RAISE(bad_loop());
  }
#endif

private:
  default_loop(const default_loop &);            /* not copyable */
  default_loop &operator=(const default_loop &); /* not assignable */
};

#if EV_MULTIPLICITY
/* A private loop, created by ev_loop_new and destroyed with the object. */
struct dynamic_loop : loop_ref {
  dynamic_loop(unsigned int flags = AUTO) : loop_ref(ev_loop_new(flags))
  {
    if (!raw_loop)
      EVRING_XX_RAISE(bad_loop());
  }

  ~dynamic_loop() EV_NOEXCEPT
  {
    if (raw_loop)
      ev_loop_destroy(raw_loop);
    raw_loop = EVRING_XX_NULL;
  }

private:
  dynamic_loop(const dynamic_loop &);
  dynamic_loop &operator=(const dynamic_loop &);
};
#endif

inline loop_ref get_default_loop() EV_NOEXCEPT
{
#if EV_MULTIPLICITY
  return loop_ref(ev_default_loop(0));
#else
  return loop_ref();
#endif
}

/* --- free functions ------------------------------------------------------------------------- */
#if EV_MULTIPLICITY
inline tstamp now(struct ev_loop *l) EV_NOEXCEPT { return ev_now(l); }
#else
inline tstamp now() EV_NOEXCEPT { return ev_now(); }
#endif
inline void delay(tstamp seconds) EV_NOEXCEPT { ev_sleep(seconds); }
inline int version_major() EV_NOEXCEPT { return ev_version_major(); }
inline int version_minor() EV_NOEXCEPT { return ev_version_minor(); }
inline unsigned int supported_backends() EV_NOEXCEPT { return ev_supported_backends(); }
inline unsigned int recommended_backends() EV_NOEXCEPT { return ev_recommended_backends(); }
inline unsigned int embeddable_backends() EV_NOEXCEPT { return ev_embeddable_backends(); }
/* These take noexcept function pointers (as the C functions do); GCC would warn under C++11/14
 * that the mangled names change in C++17, which is irrelevant for inline functions. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wnoexcept-type"
#pragma GCC diagnostic ignored "-Wc++17-compat-mangling"
#endif
inline void set_allocator(void *(*cb)(void *ptr, long size) EV_NOEXCEPT) EV_NOEXCEPT
{
  ev_set_allocator(cb);
}
inline void set_syserr_cb(void (*cb)(const char *msg) EV_NOEXCEPT) EV_NOEXCEPT
{
  ev_set_syserr_cb(cb);
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ============================================================================================ */
/* Watchers                                                                                     */
/* ============================================================================================ */

/*
 * base<C, W>: what every watcher class W (deriving from the C watcher struct C) shares: its
 * loop, callback binding, state queries.  Starting and stopping are added per type below.
 */
template <class C, class W>
struct base : C {
  typedef void (*c_callback)(EVRING_XX_CBLOOP_ C *, int);

#if EV_MULTIPLICITY
  loop_ref loop; /* the loop start ()/stop () use */

  void set(struct ev_loop *l) EV_NOEXCEPT { loop = loop_ref(l); }
#endif

  base(loop_ref l) EV_NOEXCEPT
#if EV_MULTIPLICITY
      : loop(l)
#endif
  {
    (void)l;
    ev_init(self_c(), EVRING_XX_NULL);
  }

  /* low level: store data and a C callback */
  void set_(const void *user_data, c_callback c_cb) EV_NOEXCEPT
  {
    this->data = const_cast<void *>(user_data);
    ev_set_cb(self_c(), c_cb);
  }

  /* free function: fn (W &w, int revents); w.data holds `data` */
  template <void (*fn)(W &, int)>
  void set(void *user_data = EVRING_XX_NULL) EV_NOEXCEPT
  {
    set_(user_data, &call_fn<fn>);
  }

  /* member function: (object->*member) (W &w, int revents) */
  template <class K, void (K::*member)(W &, int)>
  void set(K *object) EV_NOEXCEPT
  {
    set_(object, &call_member<K, member>);
  }

  /* member function without arguments: (object->*member) () */
  template <class K, void (K::*member)()>
  void set(K *object) EV_NOEXCEPT
  {
    set_(object, &call_member0<K, member>);
  }

  /* function object: (*object) (W &w, int revents) */
  template <class K>
  void set(K *object) EV_NOEXCEPT
  {
    set_(object, &call_member<K, &K::operator()>);
  }

  /* invoke the callback directly, as the loop would */
  void operator()(int revents = EV_UNDEF)
  {
    C *w = self_c();
    ev_cb(w)(EVRING_XX_LOOP_(loop_of()) w, revents);
  }
  void call(int revents = EV_UNDEF) { (*this)(revents); }

  bool is_active() const EV_NOEXCEPT { return ev_is_active(static_cast<const C *>(this)); }
  bool is_pending() const EV_NOEXCEPT { return ev_is_pending(static_cast<const C *>(this)); }

  void feed_event(int revents) EV_NOEXCEPT
  {
    ev_feed_event(EVRING_XX_LOOP_(loop_of()) self_c(), revents);
  }

protected:
  C *self_c() EV_NOEXCEPT { return static_cast<C *>(this); }
#if EV_MULTIPLICITY
  const loop_ref &loop_of() const EV_NOEXCEPT { return loop; }
#else
  loop_ref loop_of() const EV_NOEXCEPT { return loop_ref(); }
#endif

  /* trampolines: C callback -> C++ target */
  template <void (*fn)(W &, int)>
  static void call_fn(EVRING_XX_CBLOOP_ C *w, int revents)
  {
    fn(*static_cast<W *>(w), revents);
  }
  template <class K, void (K::*member)(W &, int)>
  static void call_member(EVRING_XX_CBLOOP_ C *w, int revents)
  {
    (static_cast<K *>(w->data)->*member)(*static_cast<W *>(w), revents);
  }
  template <class K, void (K::*member)()>
  static void call_member0(EVRING_XX_CBLOOP_ C *w, int)
  {
    (static_cast<K *>(w->data)->*member)();
  }
};

namespace detail {

/* C start/stop entry points per watcher struct. */
template <class C>
struct c_ops;

#define EVRING_XX_OPS(kind)                                                                        \
  template <>                                                                                      \
  struct c_ops<ev_##kind> {                                                                        \
    static void start(EVRING_XX_CBLOOP_ ev_##kind *w) EV_NOEXCEPT                                  \
    {                                                                                              \
      ev_##kind##_start(EVRING_XX_PASS_ w);                                                        \
    }                                                                                              \
    static void stop(EVRING_XX_CBLOOP_ ev_##kind *w) EV_NOEXCEPT                                   \
    {                                                                                              \
      ev_##kind##_stop(EVRING_XX_PASS_ w);                                                         \
    }                                                                                              \
  };

/* the C start/stop functions take the loop first when there are several loops */
#if EV_MULTIPLICITY
#undef EVRING_XX_CBLOOP_
#define EVRING_XX_CBLOOP_ struct ev_loop *l,
#define EVRING_XX_PASS_ l,
#else
#define EVRING_XX_PASS_
#endif

EVRING_XX_OPS(io)
EVRING_XX_OPS(timer)
#if EV_PERIODIC_ENABLE
EVRING_XX_OPS(periodic)
#endif
#if EV_SIGNAL_ENABLE
EVRING_XX_OPS(signal)
#endif
#if EV_CHILD_ENABLE
EVRING_XX_OPS(child)
#endif
#if EV_STAT_ENABLE
EVRING_XX_OPS(stat)
#endif
#if EV_IDLE_ENABLE
EVRING_XX_OPS(idle)
#endif
#if EV_PREPARE_ENABLE
EVRING_XX_OPS(prepare)
#endif
#if EV_CHECK_ENABLE
EVRING_XX_OPS(check)
#endif
#if EV_EMBED_ENABLE
EVRING_XX_OPS(embed)
#endif
#if EV_FORK_ENABLE
EVRING_XX_OPS(fork)
#endif
#if EV_CLEANUP_ENABLE
EVRING_XX_OPS(cleanup)
#endif
#if EV_ASYNC_ENABLE
EVRING_XX_OPS(async)
#endif

#undef EVRING_XX_OPS
#undef EVRING_XX_PASS_
#undef EVRING_XX_CBLOOP_
#if EV_MULTIPLICITY
#define EVRING_XX_CBLOOP_ struct ev_loop *,
#else
#define EVRING_XX_CBLOOP_
#endif

/* Adds start/stop, stop-on-destruction and non-copyability to base<C, W>. */
template <class C, class W>
struct startable : base<C, W> {
  startable(loop_ref l) EV_NOEXCEPT : base<C, W>(l) {}
  ~startable() EV_NOEXCEPT { stop(); }

  void start() EV_NOEXCEPT { c_ops<C>::start(EVRING_XX_LOOP_(this->loop_of()) this->self_c()); }
  void stop() EV_NOEXCEPT { c_ops<C>::stop(EVRING_XX_LOOP_(this->loop_of()) this->self_c()); }

private:
  startable(const startable &);
  startable &operator=(const startable &);
};

/* Stops an active watcher for the lifetime of the object and restarts it afterwards,
 * so parameters can be changed on a running watcher. */
template <class W>
class restart_guard {
public:
  explicit restart_guard(W &w) EV_NOEXCEPT : w_(w), was_active_(w.is_active()) { if (was_active_) w_.stop(); }
  ~restart_guard() { if (was_active_) w_.start(); }

private:
  W &w_;
  bool was_active_;
  restart_guard(const restart_guard &);
  restart_guard &operator=(const restart_guard &);
};

} /* namespace detail */

/* The boilerplate every concrete watcher class needs: constructor and name imports. */
#define EVRING_XX_WATCHER_HEAD(cls, ctype)                                                          \
  typedef detail::startable<ctype, cls> startable_type;                                            \
  cls(loop_ref l = get_default_loop()) EV_NOEXCEPT : startable_type(l) {}                          \
  using startable_type::set;                                                                       \
  using startable_type::start;

/* --- io: readiness of a file descriptor ----------------------------------------------------- */
struct io : detail::startable<ev_io, io> {
  EVRING_XX_WATCHER_HEAD(io, ev_io)

  void set(int file, int mask) EV_NOEXCEPT
  {
    detail::restart_guard<io> g(*this);
    ev_io_set(self_c(), file, mask);
  }
  /* change only the event mask */
  void set(int mask) EV_NOEXCEPT
  {
    detail::restart_guard<io> g(*this);
    ev_io_modify(self_c(), mask);
  }
  void start(int file, int mask) EV_NOEXCEPT
  {
    set(file, mask);
    start();
  }
};

/* --- timer: relative timeouts --------------------------------------------------------------- */
struct timer : detail::startable<ev_timer, timer> {
  EVRING_XX_WATCHER_HEAD(timer, ev_timer)

  void set(tstamp first, tstamp every = 0.) EV_NOEXCEPT
  {
    detail::restart_guard<timer> g(*this);
    ev_timer_set(self_c(), first, every);
  }
  void start(tstamp first, tstamp every = 0.) EV_NOEXCEPT
  {
    set(first, every);
    start();
  }
  void again() EV_NOEXCEPT { ev_timer_again(EVRING_XX_LOOP_(loop_of()) self_c()); }
  tstamp remaining() { return ev_timer_remaining(EVRING_XX_LOOP_(loop_of()) self_c()); }
};

#if EV_PERIODIC_ENABLE
/* --- periodic: wall clock based timers ------------------------------------------------------ */
struct periodic : detail::startable<ev_periodic, periodic> {
  EVRING_XX_WATCHER_HEAD(periodic, ev_periodic)

  void set(tstamp when, tstamp every = 0.) EV_NOEXCEPT
  {
    detail::restart_guard<periodic> g(*this);
    ev_periodic_set(self_c(), when, every, EVRING_XX_NULL);
  }
  void start(tstamp when, tstamp every = 0.) EV_NOEXCEPT
  {
    set(when, every);
    start();
  }
  void again() EV_NOEXCEPT { ev_periodic_again(EVRING_XX_LOOP_(loop_of()) self_c()); }
};
#endif

#if EV_SIGNAL_ENABLE
/* --- sig: POSIX signals --------------------------------------------------------------------- */
struct sig : detail::startable<ev_signal, sig> {
  EVRING_XX_WATCHER_HEAD(sig, ev_signal)

  void set(int signo) EV_NOEXCEPT
  {
    detail::restart_guard<sig> g(*this);
    ev_signal_set(self_c(), signo);
  }
  void start(int signo) EV_NOEXCEPT
  {
    set(signo);
    start();
  }
};
#endif

#if EV_CHILD_ENABLE
/* --- child: status changes of child processes ----------------------------------------------- */
struct child : detail::startable<ev_child, child> {
  EVRING_XX_WATCHER_HEAD(child, ev_child)

  void set(int child_pid, int also_stopped = 0) EV_NOEXCEPT
  {
    detail::restart_guard<child> g(*this);
    ev_child_set(self_c(), child_pid, also_stopped);
  }
  void start(int child_pid, int also_stopped = 0) EV_NOEXCEPT
  {
    set(child_pid, also_stopped);
    start();
  }
};
#endif

#if EV_STAT_ENABLE
/* --- stat: file attribute changes ----------------------------------------------------------- */
struct stat : detail::startable<ev_stat, stat> {
  EVRING_XX_WATCHER_HEAD(stat, ev_stat)

  void set(const char *file, tstamp poll_every = 0.) EV_NOEXCEPT
  {
    detail::restart_guard<stat> g(*this);
    ev_stat_set(self_c(), file, poll_every);
  }
  void start(const char *file, tstamp poll_every = 0.) EV_NOEXCEPT
  {
    set(file, poll_every);
    start();
  }
  /* refresh attr/prev from the file system now */
  void update() EV_NOEXCEPT { ev_stat_stat(EVRING_XX_LOOP_(loop_of()) self_c()); }
};
#endif

/* Watchers without parameters: set () exists so generic code can call it. */
#define EVRING_XX_PLAIN_WATCHER(cls)                                                               \
  struct cls : detail::startable<ev_##cls, cls> {                                                  \
    EVRING_XX_WATCHER_HEAD(cls, ev_##cls)                                                          \
    void set() EV_NOEXCEPT {}                                                                      \
  };

#if EV_IDLE_ENABLE
EVRING_XX_PLAIN_WATCHER(idle)
#endif
#if EV_PREPARE_ENABLE
EVRING_XX_PLAIN_WATCHER(prepare)
#endif
#if EV_CHECK_ENABLE
EVRING_XX_PLAIN_WATCHER(check)
#endif
#if EV_FORK_ENABLE
EVRING_XX_PLAIN_WATCHER(fork)
#endif
#if EV_CLEANUP_ENABLE
EVRING_XX_PLAIN_WATCHER(cleanup)
#endif

#undef EVRING_XX_PLAIN_WATCHER

#if EV_EMBED_ENABLE
/* --- embed: run another loop's io inside this one ------------------------------------------- */
struct embed : detail::startable<ev_embed, embed> {
  EVRING_XX_WATCHER_HEAD(embed, ev_embed)

  /* named differently from set (struct ev_loop *), which chooses the *outer* loop */
  void set_embed(struct ev_loop *inner) EV_NOEXCEPT
  {
    detail::restart_guard<embed> g(*this);
    ev_embed_set(self_c(), inner);
  }
  void start(struct ev_loop *inner) EV_NOEXCEPT
  {
    set_embed(inner);
    start();
  }
  void sweep() { ev_embed_sweep(EVRING_XX_LOOP_(loop_of()) self_c()); }
};
#endif

#if EV_ASYNC_ENABLE
/* --- async: wake-ups from other threads or signal handlers ---------------------------------- */
struct async : detail::startable<ev_async, async> {
  EVRING_XX_WATCHER_HEAD(async, ev_async)

  void set() EV_NOEXCEPT {}
  void send() EV_NOEXCEPT { ev_async_send(EVRING_XX_LOOP_(loop_of()) self_c()); }
  bool async_pending() EV_NOEXCEPT { return ev_async_pending(self_c()); }
};
#endif

#undef EVRING_XX_WATCHER_HEAD

} /* namespace ev */

#undef EVRING_XX_LOOP
#undef EVRING_XX_LOOP_
#undef EVRING_XX_CBLOOP_
#undef EVRING_XX_RAISE
#undef EVRING_XX_NULL

#endif /* EVRING_EVXX_H */
