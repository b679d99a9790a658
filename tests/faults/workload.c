/* workload.c - every watcher kind once, with a verdict per kind: the program that
 * tests/faults.sh runs under injected system-call failures (tests/faults/faultrun.c).
 *
 *   workload [--many N] [--nofile-before K | --nofile-after K]
 *
 * The default loop is created on the backend named by EVRING_TEST_BACKEND (select, poll,
 * epoll, iouring; iouring may fall back to epoll, as ev_default_loop(0) would). Then one io
 * watcher of each kind (socketpair read and write, a regular file, N (100) more socketpairs, half
 * of them started after the first iteration), a timer, a periodic, a signal, a signal on a
 * second loop made with EVFLAG_SIGNALFD, a child, a stat, an async sent from another thread,
 * idle, prepare, check, a fork watcher in a forked child that keeps running the loop (and
 * stops the watcher it inherited for io-late, whose data the parent sends 0.1 s after the
 * fork), an embedded loop and a cleanup watcher of that loop. The workload makes none of the
 * calls faults are injected into for the library (socketpair with SOCK_NONBLOCK instead of
 * pipe + fcntl), so every injected failure is one the library sees.
 *
 * --nofile-before K / --nofile-after K: lower RLIMIT_NOFILE and use up every descriptor but
 * K, before the loop is created or after every watcher was started and the loop ran once.
 *
 * Output, one line per kind: "kind: fired", "kind: error" (EV_ERROR delivered), "kind:
 * syserr" (did not fire, but the syserr callback reported a failure), "kind: skipped
 * (why)", or "kind: MISSING" (did not fire, nothing reported: a silent loss). The fork kind
 * reports what the forked child found ("fork: CRASH" if it died of a signal). Then
 * "backend: requested X got Y", "syserr: N" and "verdict: ok" or "verdict: DEFECT".
 * Exit status 0 for ok, 1 for a defect, 2 if the workload could not set itself up, 3 if no
 * loop could be created (ev_default_loop returned NULL, which libev documents). A hang is
 * caught by the caller's timeout. Events that do not come within EVRING_FAULTS_DEADLINE
 * seconds (default 3; 0.3 s after a syserr report) are missing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

enum {
  K_IO_READ, K_IO_WRITE, K_IO_FILE, K_IO_MANY, K_TIMER, K_PERIODIC, K_SIGNAL, K_SIGNALFD,
  K_CHILD, K_STAT, K_ASYNC, K_IDLE, K_PREPARE, K_CHECK, K_FORK, K_EMBED, K_CLEANUP, K_IO_LATE,
  K_COUNT
};

static const char *const kind_names[K_COUNT] = {
  "io-read", "io-write", "io-file", "io-many", "timer", "periodic", "signal", "signalfd",
  "child", "stat", "async", "idle", "prepare", "check", "fork", "embed", "cleanup", "io-late",
};

struct kind {
  int fired;
  int errors;
  const char *skip; /* why this kind is not checked, or NULL */
  char detail[64];
};

static struct kind kinds[K_COUNT];
static volatile int syserr_count;

/* fork kind: what the forked child found, as its exit status */
enum { CHILD_OK = 0, CHILD_SYSERR = 10, CHILD_ERROR = 11, CHILD_MISSING = 12 };
static int in_fork_child;
static int child_fork_cb, child_fork_io, child_fork_timer, child_fork_error;

static struct ev_loop *loop, *sloop, *inner;
static int many_n = 100, many_got;
static int sp_read[2], sp_write[2], sp_embed[2], sp_fork[2], sp_late[2], (*sp_many)[2];
static int file_fd, stat_fd;
static char file_path[4096], stat_path[4096];

static ev_io w_read, w_write, w_file, *w_many, w_embed_io, w_fork_io, w_late;
static ev_timer w_timer, w_kick, w_ticker, w_deadline, w_fork_timer, w_late_kick;
static ev_periodic w_periodic;
static ev_signal w_signal, w_signalfd;
static ev_child w_child, w_fork_child;
static ev_stat w_stat;
static ev_async w_async;
static ev_idle w_idle;
static ev_prepare w_prepare;
static ev_check w_check;
static ev_fork w_fork;
static ev_embed w_embed;
static ev_cleanup w_cleanup;

static void say(const char *s)
{
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

static void syserr_cb(const char *msg)
{
  /* Written at once: the library may still abort after we return. */
  char buf[256];
  snprintf(buf, sizeof buf, "workload: syserr: %s: %s\n", msg, strerror(errno));
  say(buf);
  syserr_count++;
}

static void setup_failed(const char *what)
{
  printf("setup: %s failed: %s\n", what, strerror(errno));
  exit(2);
}

static void make_socketpair(int sp[2])
{
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
    setup_failed("socketpair");
}

static void put(int fd)
{
  if (write(fd, "x", 1) != 1)
    setup_failed("write");
}

/* ------------------------------------------------------------------------------------------ */
/* Callbacks */

/* The io callbacks stop their watcher once they got what they wait for, or an error; a
 * readiness without data (possible, e.g. an fd the backend must treat as always ready) is
 * answered like a careful program does: by waiting on. */
static void io_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
  struct kind *k = &kinds[(long)w->data];
  char c;
  if (revents & EV_ERROR)
    k->errors++;
  else if (read(w->fd, &c, 1) == 1)
    k->fired = 1;
  else
    return;
  ev_io_stop(l, w);
}

static void io_write_cb(struct ev_loop *l, ev_io *w, int revents)
{
  if (revents & EV_ERROR)
    kinds[K_IO_WRITE].errors++;
  else if (revents & EV_WRITE)
    kinds[K_IO_WRITE].fired = 1;
  ev_io_stop(l, w);
}

static void io_file_cb(struct ev_loop *l, ev_io *w, int revents)
{
  if (revents & EV_ERROR)
    kinds[K_IO_FILE].errors++;
  else if (revents & EV_READ)
    kinds[K_IO_FILE].fired = 1;
  ev_io_stop(l, w);
}

static void io_many_cb(struct ev_loop *l, ev_io *w, int revents)
{
  char c;
  if (revents & EV_ERROR)
    kinds[K_IO_MANY].errors++;
  else if (read(w->fd, &c, 1) == 1) {
    if (++many_got == many_n)
      kinds[K_IO_MANY].fired = 1;
  } else
    return;
  ev_io_stop(l, w);
}

static void timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  (void)l, (void)w, (void)revents;
  kinds[K_TIMER].fired = 1;
}

static void periodic_cb(struct ev_loop *l, ev_periodic *w, int revents)
{
  (void)l, (void)w, (void)revents;
  kinds[K_PERIODIC].fired = 1;
}

static void signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
  (void)revents;
  kinds[(long)w->data].fired = 1;
  ev_signal_stop(l, w);
}

static void child_cb(struct ev_loop *l, ev_child *w, int revents)
{
  (void)revents;
  ev_child_stop(l, w);
  if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) == 7)
    kinds[K_CHILD].fired = 1;
  else
    snprintf(kinds[K_CHILD].detail, sizeof kinds[K_CHILD].detail, "status %#x", w->rstatus);
}

static void stat_cb(struct ev_loop *l, ev_stat *w, int revents)
{
  (void)l, (void)revents;
  if (w->attr.st_size > 0)
    kinds[K_STAT].fired = 1;
}

static void async_cb(struct ev_loop *l, ev_async *w, int revents)
{
  (void)l, (void)w, (void)revents;
  kinds[K_ASYNC].fired = 1;
}

static void idle_cb(struct ev_loop *l, ev_idle *w, int revents)
{
  (void)revents;
  kinds[K_IDLE].fired = 1;
  ev_idle_stop(l, w);
}

static void prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
  (void)l, (void)w, (void)revents;
  kinds[K_PREPARE].fired = 1;
}

static void cleanup_cb(struct ev_loop *l, ev_cleanup *w, int revents)
{
  (void)l, (void)w, (void)revents;
  kinds[K_CLEANUP].fired = 1;
}

static void fork_cb(struct ev_loop *l, ev_fork *w, int revents)
{
  (void)l, (void)w, (void)revents;
  if (in_fork_child)
    child_fork_cb = 1;
}

static void fork_io_cb(struct ev_loop *l, ev_io *w, int revents)
{
  char c;
  if (revents & EV_ERROR)
    child_fork_error = 1;
  else if (read(w->fd, &c, 1) == 1)
    child_fork_io = 1;
  else
    return;
  ev_io_stop(l, w);
}

/* In the forked child, after the loop renewed its kernel state: the child stops the watcher
 * it inherited for the parent's io-late socket, as a worker drops its parent's watchers. That
 * must not reach the parent's registration. */
static void fork_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  (void)w, (void)revents;
  child_fork_timer = 1;
  ev_io_stop(l, &w_late);
}

/* In the parent, well after the fork: data for the io-late watcher. */
static void late_kick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  (void)l, (void)w, (void)revents;
  put(sp_late[1]);
}

static void fork_child_cb(struct ev_loop *l, ev_child *w, int revents)
{
  (void)revents;
  struct kind *k = &kinds[K_FORK];
  ev_child_stop(l, w);
  if (WIFSIGNALED(w->rstatus)) {
    snprintf(k->detail, sizeof k->detail, "CRASH signal %d", WTERMSIG(w->rstatus));
    return;
  }
  switch (WEXITSTATUS(w->rstatus)) {
  case CHILD_OK: k->fired = 1; break;
  case CHILD_SYSERR: snprintf(k->detail, sizeof k->detail, "syserr in the child"); break;
  case CHILD_ERROR: k->errors++; break;
  default: snprintf(k->detail, sizeof k->detail, "MISSING in the child (exit %d)",
                    WEXITSTATUS(w->rstatus));
  }
}

static void fork_child_exit(void)
{
  int code = CHILD_OK;
  if (!(child_fork_cb && child_fork_io && child_fork_timer))
    code = child_fork_error ? CHILD_ERROR : syserr_count ? CHILD_SYSERR : CHILD_MISSING;
  _exit(code);
}

static void *async_thread(void *arg)
{
  (void)arg;
  struct timespec ts = {0, 5 * 1000 * 1000};
  nanosleep(&ts, NULL);
  ev_async_send(loop, &w_async);
  return NULL;
}

static int all_fired(void)
{
  for (int i = 0; i < K_COUNT; i++)
    if (i != K_CLEANUP && !kinds[i].skip && !kinds[i].fired && !kinds[i].errors &&
        !kinds[i].detail[0])
      return 0;
  return 1;
}

static void check_cb(struct ev_loop *l, ev_check *w, int revents)
{
  (void)w, (void)revents;
  if (in_fork_child) {
    /* One more iteration after the timer, so that its ev_io_stop reaches the kernel. */
    static int iterations_after_timer;
    if (child_fork_cb && child_fork_io && child_fork_timer && iterations_after_timer++)
      fork_child_exit();
    return;
  }
  kinds[K_CHECK].fired = 1;
  if (sloop)
    ev_run(sloop, EVRUN_NOWAIT);
  if (all_fired())
    ev_break(l, EVBREAK_ALL);
}

static void deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  (void)w, (void)revents;
  if (in_fork_child)
    fork_child_exit();
  ev_break(l, EVBREAK_ALL);
}

/* Keeps iterations coming for the second loop. After a syserr report nothing is expected to
 * fire any more: the run ends soon, after the library had a little time to crash or hang. */
static void ticker_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  static int shortened;
  (void)w, (void)revents;
  if (syserr_count && !shortened) {
    shortened = 1;
    ev_timer_stop(l, &w_deadline);
    ev_timer_set(&w_deadline, 0.3, 0.);
    ev_timer_start(l, &w_deadline);
  }
}

/* The events that need a running loop: signals, children, the stat change, the async send
 * from another thread, the fork. */
static void kick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
  (void)w, (void)revents;
  kill(getpid(), SIGUSR1);
  if (sloop)
    kill(getpid(), SIGUSR2);

  pid_t pid = fork();
  if (pid < 0)
    setup_failed("fork");
  if (pid == 0)
    _exit(7);
  ev_child_set(&w_child, pid, 0);
  ev_child_start(l, &w_child);

  if (write(stat_fd, "changed", 7) != 7)
    setup_failed("write");

  pthread_t t;
  if (pthread_create(&t, NULL, async_thread, NULL) != 0)
    setup_failed("pthread_create");
  pthread_detach(t);

  put(sp_fork[1]);
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    setup_failed("fork");
  if (pid == 0) {
    /* The forked child keeps running this loop: fork watcher, an inherited fd, a timer. */
    in_fork_child = 1;
    syserr_count = 0;
    ev_loop_fork(l);
    /* The sockets are shared with the parent: the child must not read the parent's data.
     * These stops reach no kernel (the loop renews its kernel state first); io-late's
     * watcher is stopped later, see fork_timer_cb. */
    ev_io_stop(l, &w_read);
    ev_io_stop(l, &w_write);
    ev_io_stop(l, &w_file);
    for (int i = 0; i < many_n; i++)
      ev_io_stop(l, &w_many[i]);
    if (inner)
      ev_embed_stop(l, &w_embed);
    ev_io_init(&w_fork_io, fork_io_cb, sp_fork[0], EV_READ);
    ev_io_start(l, &w_fork_io);
    ev_timer_init(&w_fork_timer, fork_timer_cb, 0.01, 0.);
    ev_timer_start(l, &w_fork_timer);
    ev_timer_stop(l, &w_late_kick);
    return;
  }
  ev_timer_init(&w_late_kick, late_kick_cb, 0.1, 0.);
  ev_timer_start(l, &w_late_kick);
  ev_child_set(&w_fork_child, pid, 0);
  ev_child_start(l, &w_fork_child);
}

/* ------------------------------------------------------------------------------------------ */

static unsigned int requested_backend(const char **name)
{
  const char *b = getenv("EVRING_TEST_BACKEND");
  *name = b ? b : "epoll";
  if (!b || !strcmp(b, "epoll"))
    return EVBACKEND_EPOLL;
  if (!strcmp(b, "select"))
    return EVBACKEND_SELECT;
  if (!strcmp(b, "poll"))
    return EVBACKEND_POLL;
  if (!strcmp(b, "iouring"))
    return EVBACKEND_IOURING;
  fprintf(stderr, "unknown EVRING_TEST_BACKEND %s\n", b);
  exit(2);
}

static const char *backend_name(unsigned int b)
{
  switch (b) {
  case EVBACKEND_SELECT: return "select";
  case EVBACKEND_POLL: return "poll";
  case EVBACKEND_EPOLL: return "epoll";
  case EVBACKEND_IOURING: return "iouring";
  default: return "?";
  }
}

/* Lower RLIMIT_NOFILE to a little above what is in use, then use up all descriptors but
 * `keep` with copies of fd 0. */
static void exhaust_fds(int keep)
{
  int top = dup(0);
  if (top < 0)
    setup_failed("dup");
  close(top);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = (rlim_t)top + 32 < rl.rlim_max ? (rlim_t)top + 32 : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    setup_failed("setrlimit");
  int *fds = NULL, n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      fds = realloc(fds, (size_t)cap * sizeof *fds);
      if (!fds)
        setup_failed("realloc");
    }
    int fd = dup(0);
    if (fd < 0)
      break;
    fds[n++] = fd;
  }
  if (errno != EMFILE)
    setup_failed("dup until EMFILE");
  int freed = 0;
  for (; freed < keep && n > 0; freed++)
    close(fds[--n]);
  free(fds);
  printf("nofile: limit %ld, %d descriptors left\n", (long)rl.rlim_cur, freed);
}

int main(int argc, char **argv)
{
  int nofile_before = -1, nofile_after = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--many") && i + 1 < argc)
      many_n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--nofile-before") && i + 1 < argc)
      nofile_before = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--nofile-after") && i + 1 < argc)
      nofile_after = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: workload [--many N] [--nofile-before K | --nofile-after K]\n");
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *d = getenv("EVRING_FAULTS_DEADLINE");
  double deadline = d && atof(d) > 0. ? atof(d) : 3.;
  if (many_n < 1)
    many_n = 1;
  ev_set_syserr_cb(syserr_cb);

  const char *want_name;
  unsigned int want = requested_backend(&want_name);

  /* The workload's own descriptors first. */
  make_socketpair(sp_read);
  make_socketpair(sp_write);
  make_socketpair(sp_embed);
  make_socketpair(sp_fork);
  make_socketpair(sp_late);
  sp_many = calloc((size_t)many_n, sizeof *sp_many);
  w_many = calloc((size_t)many_n, sizeof *w_many);
  if (!sp_many || !w_many)
    setup_failed("calloc");
  for (int i = 0; i < many_n; i++) {
    make_socketpair(sp_many[i]);
    put(sp_many[i][1]);
  }
  put(sp_read[1]);
  put(sp_embed[1]);
  /* In $TMPDIR: tests/faults.sh points it at a directory it removes, since a run that
   * crashes or is killed leaves its stat file behind. */
  const char *tmpdir = getenv("TMPDIR");
  if (!tmpdir || !*tmpdir)
    tmpdir = "/tmp";
  snprintf(file_path, sizeof file_path, "%s/evring-faults-file-XXXXXX", tmpdir);
  snprintf(stat_path, sizeof stat_path, "%s/evring-faults-stat-XXXXXX", tmpdir);
  file_fd = mkostemp(file_path, O_CLOEXEC);
  stat_fd = mkostemp(stat_path, O_CLOEXEC);
  if (file_fd < 0 || stat_fd < 0)
    setup_failed("mkostemp");
  unlink(file_path);

  if (nofile_before >= 0)
    exhaust_fds(nofile_before);

  /* io_uring may fall back to epoll, as the default choice does; the others are asked for
   * alone. */
  unsigned int flags = want == EVBACKEND_IOURING ? EVBACKEND_IOURING | EVBACKEND_EPOLL : want;
  loop = ev_default_loop(flags | EVFLAG_NOENV);
  if (!loop) {
    printf("backend: requested %s got none (ev_default_loop returned NULL)\n", want_name);
    printf("syserr: %d\nverdict: noloop\n", syserr_count);
    unlink(stat_path);
    return 3;
  }
  unsigned int got = ev_backend(loop);

  for (int i = 0; i < K_COUNT; i++)
    kinds[i].skip = NULL;

  ev_io_init(&w_read, io_read_cb, sp_read[0], EV_READ);
  w_read.data = (void *)(long)K_IO_READ;
  ev_io_start(loop, &w_read);
  ev_io_init(&w_write, io_write_cb, sp_write[0], EV_WRITE);
  ev_io_start(loop, &w_write);
  ev_io_init(&w_file, io_file_cb, file_fd, EV_READ);
  ev_io_start(loop, &w_file);
  ev_io_init(&w_late, io_read_cb, sp_late[0], EV_READ);
  w_late.data = (void *)(long)K_IO_LATE;
  ev_io_start(loop, &w_late);
  /* Half of the many now, half after the first iteration: a backend that sizes its kernel
   * state by the number of fds (the io_uring ring) grows it with registrations in place. */
  for (int i = 0; i < many_n; i++)
    ev_io_init(&w_many[i], io_many_cb, sp_many[i][0], EV_READ);
  for (int i = 0; i < many_n / 2; i++)
    ev_io_start(loop, &w_many[i]);
  ev_timer_init(&w_timer, timer_cb, 0.01, 0.);
  ev_timer_start(loop, &w_timer);
  ev_periodic_init(&w_periodic, periodic_cb, ev_now(loop) + 0.02, 0., NULL);
  ev_periodic_start(loop, &w_periodic);
  ev_signal_init(&w_signal, signal_cb, SIGUSR1);
  w_signal.data = (void *)(long)K_SIGNAL;
  ev_signal_start(loop, &w_signal);

  /* A second loop whose signals come through a signalfd (or, where that fails, a handler). */
  sloop = ev_loop_new(want | EVFLAG_SIGNALFD | EVFLAG_NOENV);
  if (sloop) {
    ev_signal_init(&w_signalfd, signal_cb, SIGUSR2);
    w_signalfd.data = (void *)(long)K_SIGNALFD;
    ev_signal_start(sloop, &w_signalfd);
  } else
    kinds[K_SIGNALFD].skip = "ev_loop_new returned NULL";

  ev_child_init(&w_child, child_cb, 0, 0);
  ev_child_init(&w_fork_child, fork_child_cb, 0, 0);
  ev_stat_init(&w_stat, stat_cb, stat_path, 0.1);
  ev_stat_start(loop, &w_stat);
  ev_async_init(&w_async, async_cb);
  ev_async_start(loop, &w_async);
  ev_idle_init(&w_idle, idle_cb);
  ev_idle_start(loop, &w_idle);
  ev_prepare_init(&w_prepare, prepare_cb);
  ev_prepare_start(loop, &w_prepare);
  ev_check_init(&w_check, check_cb);
  ev_check_start(loop, &w_check);
  ev_fork_init(&w_fork, fork_cb);
  ev_fork_start(loop, &w_fork);

  /* The embedded loop: the backend under test where it can be embedded, else epoll. */
  unsigned int emb = ev_embeddable_backends() & ev_supported_backends() & want;
  if (!emb)
    emb = ev_embeddable_backends() & ev_supported_backends() & EVBACKEND_EPOLL;
  inner = emb ? ev_loop_new(emb | EVFLAG_NOENV) : NULL;
  if (inner) {
    ev_io_init(&w_embed_io, io_read_cb, sp_embed[0], EV_READ);
    w_embed_io.data = (void *)(long)K_EMBED;
    ev_io_start(inner, &w_embed_io);
    ev_cleanup_init(&w_cleanup, cleanup_cb);
    ev_cleanup_start(inner, &w_cleanup);
    ev_embed_init(&w_embed, NULL, inner);
    ev_embed_start(loop, &w_embed);
  } else {
    kinds[K_EMBED].skip = kinds[K_CLEANUP].skip =
      emb ? "ev_loop_new returned NULL" : "no embeddable backend";
  }

  /* One iteration registers everything with the kernel; the events that need a running
   * loop are set off by the kick timer after that (and after --nofile-after). */
  ev_run(loop, EVRUN_NOWAIT);
  if (nofile_after >= 0)
    exhaust_fds(nofile_after);
  for (int i = many_n / 2; i < many_n; i++)
    ev_io_start(loop, &w_many[i]);
  ev_timer_init(&w_kick, kick_cb, 0.005, 0.);
  ev_timer_start(loop, &w_kick);
  ev_timer_init(&w_ticker, ticker_cb, 0.01, 0.01);
  ev_timer_start(loop, &w_ticker);
  ev_timer_init(&w_deadline, deadline_cb, deadline, 0.);
  ev_timer_start(loop, &w_deadline);
  ev_run(loop, 0);
  if (in_fork_child)
    fork_child_exit(); /* the loop ran out of watchers in the child */

  /* Late results: the children may still be on their way after the deadline. */
  for (int i = 0; i < 20 && (w_child.active || w_fork_child.active); i++)
    ev_run(loop, EVRUN_ONCE);

  /* A signal the library left blocked and pending must not kill us when a loop unblocks it
   * on destruction: the verdicts below already say whether it arrived. */
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);

  if (inner) {
    ev_embed_stop(loop, &w_embed);
    ev_loop_destroy(inner);
  }
  unsigned int final = ev_backend(loop);

  int defect = 0;
  for (int i = 0; i < K_COUNT; i++) {
    struct kind *k = &kinds[i];
    const char *v;
    if (k->skip)
      v = "skipped";
    else if (k->errors)
      v = "error";
    else if (k->fired)
      v = "fired";
    else if (i == K_FORK && k->detail[0] && !strncmp(k->detail, "syserr", 6))
      v = "syserr";
    else if (syserr_count)
      v = "syserr";
    else {
      v = "MISSING";
      defect = 1;
    }
    if (i == K_FORK && !strncmp(k->detail, "CRASH", 5)) {
      v = "CRASH";
      defect = 1;
    } else if (i == K_FORK && !k->fired && !strncmp(k->detail, "MISSING", 7))
      defect = 1, v = "MISSING";
    printf("%s: %s%s%s%s\n", kind_names[i], v, k->skip || k->detail[0] ? " (" : "",
           k->skip ? k->skip : k->detail, k->skip || k->detail[0] ? ")" : "");
  }
  printf("backend: requested %s got %s%s%s\n", want_name, backend_name(got),
         final != got ? " then " : "", final != got ? backend_name(final) : "");
  printf("syserr: %d\nverdict: %s\n", syserr_count, defect ? "DEFECT" : "ok");
  unlink(stat_path);
  if (sloop)
    ev_loop_destroy(sloop);
  ev_loop_destroy(loop);
  return defect;
}
