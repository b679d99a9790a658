/* stats.c - the loop's statistics: evring_stats_get(), and the block EVRING_STATS prints.
 *
 * The counters (stats.h) are incremented where things happen, in every file. This file only
 * reads them. With EVRING_STATS set when a loop is created, the loop goes on a process-wide
 * list; ev_loop_destroy takes it off and prints its block, and at exit (a destructor of the
 * library, which runs after the program's atexit handlers and after the destructors of the
 * libraries that use this one) the loops still on the list are printed. Each block goes out
 * with one write(), so blocks of several processes appending to one file do not mix.
 *
 * Forks: a child inherits the list with the parent's loops on it. A loop counts for the
 * process that re-created its kernel state last (stats.pid, reset with the counters when a
 * child re-creates it, see ev__stats_fork); the others are not printed by the child, whose
 * exit would otherwise print the parent's numbers a second time. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The live loops that print a block. A forked child may inherit the mutex locked by a thread
 * that does not exist there: the exit handler only tries it, for a bounded time. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev_loop *report_loops;

/* The environment's wish, or NULL: off, unset, or a setuid/setgid program (which must not
 * write where its caller says). */
static const char *stats_env(const char *name)
{
  const char *v = secure_getenv(name);
  if (!v || !*v || !strcmp(v, "0"))
    return NULL;
  return v;
}

void ev__stats_loop_init(struct ev_loop *loop)
{
  struct ev__stats *s = &loop->stats;
  s->pid = ev__getpid();
  const char *to = stats_env("EVRING_STATS");
  if (!to)
    return;
  s->report = 1;
  if (strcmp(to, "1") && strcmp(to, "stderr")) {
    size_t n = strlen(to) + 1;
    s->report_path = ev__realloc(NULL, n);
    memcpy(s->report_path, to, n);
  }
  pthread_mutex_lock(&report_lock);
  s->report_next = report_loops;
  report_loops = loop;
  pthread_mutex_unlock(&report_lock);
}

void ev__stats_fork(struct ev_loop *loop)
{
  struct ev__stats *s = &loop->stats;
  pid_t pid = ev__getpid();
  if (s->pid == pid)
    return; /* ev_loop_fork in the process that has the loop: the counts go on */
  /* What the parent did is the parent's block. Kept: where to report, and what describes the
   * loop rather than counts its work (the backend replaces the ring next and says so). */
  struct ev__stats keep = *s;
  memset(s, 0, sizeof *s);
  s->report = keep.report;
  s->report_path = keep.report_path;
  s->report_next = keep.report_next;
  s->iouring_mode = keep.iouring_mode;
  s->sq_entries = keep.sq_entries;
  s->cq_entries = keep.cq_entries;
  s->ring_flags = keep.ring_flags;
  s->cancel_any = keep.cancel_any;
  s->fallbacks = keep.fallbacks;
  s->backends_refused = keep.backends_refused;
  memcpy(s->fallback_errno, keep.fallback_errno, sizeof s->fallback_errno);
  s->pid = pid;
}

void ev__stats_fallback(struct ev_loop *loop, unsigned int kind, int err)
{
  struct ev__stats *s = &loop->stats;
  s->fallbacks |= kind;
  for (int i = 0; i < 8; i++)
    if (kind == 1u << i)
      s->fallback_errno[i] = err;
}

/* ------------------------------------------------------------------------------------------ */

int evring_stats_get(struct ev_loop *loop, struct evring_stats *out, size_t size)
{
  if (!loop || !out)
    return -EINVAL;
  const struct ev__stats *s = &loop->stats;
  struct evring_stats st;
  memset(&st, 0, sizeof st);
  st.backend = ev_backend(loop);
  st.iouring_mode = s->iouring_mode;
  st.iterations = s->iterations;
  st.callbacks = s->callbacks;
  st.syscalls_wait = s->sys_wait;
  st.syscalls_fd = s->sys_fd;
  st.syscalls_ring = s->sys_ring;
  st.syscalls_wakeup = atomic_load_explicit(&s->sys_wakeup, memory_order_relaxed);
  st.syscalls_other = s->sys_other;
  st.syscalls = st.syscalls_wait + st.syscalls_fd + st.syscalls_ring + st.syscalls_wakeup +
                st.syscalls_other;
  st.fd_changes = s->fd_changes;
  st.fd_changes_ring = s->fd_ring;
  st.fd_changes_syscall = s->fd_syscall;
  st.sq_entries = s->sq_entries;
  st.cq_entries = s->cq_entries;
  st.ring_flags = s->ring_flags;
  st.fallbacks = s->fallbacks;
  st.backends_refused = s->backends_refused;
  memcpy(st.fallback_errno, s->fallback_errno, sizeof st.fallback_errno);
  st.sqes = s->sqes;
  st.cqes = s->cqes;
  st.ring_replacements = s->recreates;
  st.ring_growth_refused = s->refusals;
  st.cq_overflow_rounds = s->overflow_rounds;
  st.epoll_rebuilds = s->rebuilds;
  st.ops_started = s->ops_started;
  st.ops_completed = s->ops_completed;

  size_t n = size < sizeof st ? size : sizeof st;
  memcpy(out, &st, n);
  if (size > n)
    memset((char *)out + n, 0, size - n);
  return (int)n;
}

/* ------------------------------------------------------------------------------------------ */
/* The printed block                                                                          */

struct text {
  char buf[4096];
  size_t len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
  if (t->len >= sizeof t->buf)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - t->len - 1;
}

static const char *backend_name(unsigned int flag)
{
  switch (flag) {
  case EVBACKEND_SELECT:
    return "select";
  case EVBACKEND_POLL:
    return "poll";
  case EVBACKEND_EPOLL:
    return "epoll";
  case EVBACKEND_IOURING:
    return "io_uring";
  }
  return "none";
}

static const char *const fallback_names[8] = {
  "backend", "ring_lost", "ring_poll", "no_defer_taskrun", "no_ring_growth",
};

static void per_iteration(struct text *t, const char *name, uint64_t n, uint64_t iterations)
{
  if (iterations)
    put(t, " %s=%.2f", name, (double)n / (double)iterations);
}

static void format_block(struct ev_loop *loop, const char *when, struct text *t)
{
  struct evring_stats st;
  evring_stats_get(loop, &st, sizeof st);

  put(t, "evring-stats: pid=%ld loop=%p%s at=%s\n", (long)loop->stats.pid, (void *)loop,
      loop == ev_default_loop_ptr ? " default=1" : "", when);
  put(t, "  backend=%s", backend_name(st.backend));
  if (st.iouring_mode)
    put(t, " mode=%s", st.iouring_mode == EVRING_STATS_RING_EPOLL ? "ring-epoll" : "ring-poll");
  put(t, "\n  iterations=%llu callbacks=%llu", (unsigned long long)st.iterations,
      (unsigned long long)st.callbacks);
  per_iteration(t, "callbacks_per_iteration", st.callbacks, st.iterations);
  put(t, "\n  syscalls=%llu syscalls_wait=%llu syscalls_fd=%llu syscalls_ring=%llu "
         "syscalls_wakeup=%llu syscalls_other=%llu",
      (unsigned long long)st.syscalls, (unsigned long long)st.syscalls_wait,
      (unsigned long long)st.syscalls_fd, (unsigned long long)st.syscalls_ring,
      (unsigned long long)st.syscalls_wakeup, (unsigned long long)st.syscalls_other);
  per_iteration(t, "syscalls_per_iteration", st.syscalls, st.iterations);
  put(t, "\n  fd_changes=%llu fd_changes_ring=%llu fd_changes_syscall=%llu\n",
      (unsigned long long)st.fd_changes, (unsigned long long)st.fd_changes_ring,
      (unsigned long long)st.fd_changes_syscall);
  if (st.sq_entries || st.sqes)
    put(t, "  ring: sq_entries=%u cq_entries=%u ring_flags=%#x sqes=%llu cqes=%llu "
           "direct_waits=%llu ring_replacements=%llu ring_growth_refused=%llu "
           "cq_overflow_rounds=%llu\n",
        st.sq_entries, st.cq_entries, st.ring_flags, (unsigned long long)st.sqes,
        (unsigned long long)st.cqes, (unsigned long long)loop->stats.direct_waits,
        (unsigned long long)st.ring_replacements, (unsigned long long)st.ring_growth_refused,
        (unsigned long long)st.cq_overflow_rounds);
  if (st.epoll_rebuilds)
    put(t, "  epoll_rebuilds=%llu\n", (unsigned long long)st.epoll_rebuilds);
  if (!st.fallbacks)
    put(t, "  fallbacks=none\n");
  for (int i = 0; i < 8; i++) {
    if (!(st.fallbacks & 1u << i))
      continue;
    put(t, "  fallback=%s", fallback_names[i] ? fallback_names[i] : "other");
    if (i == 0)
      for (unsigned int b = 1; b <= EVBACKEND_IOURING; b <<= 1)
        if (st.backends_refused & b)
          put(t, " refused=%s", backend_name(b));
    if (st.fallback_errno[i])
      put(t, " errno=%d (%s)", st.fallback_errno[i], strerror(st.fallback_errno[i]));
    put(t, "\n");
  }
  if (st.ops_started || st.ops_completed)
    put(t, "  ops_started=%llu ops_completed=%llu\n", (unsigned long long)st.ops_started,
        (unsigned long long)st.ops_completed);
}

static void write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void print_block(struct ev_loop *loop, const char *when)
{
  int saved = errno;
  struct text t;
  t.len = 0;
  format_block(loop, when, &t);
  const char *path = loop->stats.report_path;
  int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : 2;
  if (fd >= 0) {
    write_all(fd, t.buf, t.len);
    if (fd != 2)
      close(fd);
  }
  errno = saved;
}

/* EVRING_IOURING_STATS=1: the io_uring backend's counters on one line (tests read it). */
static void print_iouring_line(struct ev_loop *loop)
{
  const char *v = stats_env("EVRING_IOURING_STATS");
  if (!v || !loop->backend || loop->backend->flag != EVBACKEND_IOURING)
    return;
  const struct ev__stats *s = &loop->stats;
  struct text t;
  t.len = 0;
  put(&t,
      "evring-iouring: mode=%s ring_flags=%#x sq=%u cancel_any=%d enters=%llu direct_waits=%llu "
      "sqes=%llu cqes=%llu overflow_rounds=%llu recreates=%llu refusals=%llu rebuilds=%llu "
      "sweeps=%llu errors=%llu\n",
      s->iouring_mode == EVRING_STATS_RING_EPOLL ? "epoll" : "poll", s->ring_flags, s->sq_entries,
      s->cancel_any, (unsigned long long)s->iou_enters, (unsigned long long)s->direct_waits,
      (unsigned long long)s->sqes, (unsigned long long)s->cqes,
      (unsigned long long)s->overflow_rounds, (unsigned long long)s->recreates,
      (unsigned long long)s->refusals, (unsigned long long)s->rebuilds,
      (unsigned long long)s->sweeps, (unsigned long long)s->errors);
  int saved = errno;
  write_all(2, t.buf, t.len);
  errno = saved;
}

/* Called by ev_loop_destroy after the backend released its kernel state (whose cancellation
 * the counters include), before the loop's memory goes. */
void ev__stats_loop_destroy(struct ev_loop *loop)
{
  struct ev__stats *s = &loop->stats;
  print_iouring_line(loop);
  if (!s->report)
    return;
  int listed = 0;
  pthread_mutex_lock(&report_lock);
  for (struct ev_loop **p = &report_loops; *p; p = &(*p)->stats.report_next)
    if (*p == loop) {
      *p = s->report_next;
      listed = 1;
      break;
    }
  pthread_mutex_unlock(&report_lock);
  /* Not listed: printed at exit already (a loop destroyed by a later destructor). */
  if (listed && s->pid == ev__getpid())
    print_block(loop, "destroy");
  ev__free(s->report_path);
  s->report_path = NULL;
  s->report = 0;
}

/* At exit: the loops nobody destroyed. Taken off the list, so that a destroy after this
 * prints nothing more. */
__attribute__((destructor)) static void stats_at_exit(void)
{
  if (!report_loops)
    return;
  int locked = 0;
  for (int i = 0; i < 100 && !(locked = pthread_mutex_trylock(&report_lock) == 0); i++) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  if (!locked)
    return; /* held by a thread that is gone (forked child) or stuck: print nothing */
  pid_t me = ev__getpid();
  for (struct ev_loop *loop = report_loops; loop; loop = loop->stats.report_next)
    if (loop->stats.pid == me)
      print_block(loop, "exit");
  report_loops = NULL;
  pthread_mutex_unlock(&report_lock);
}
