/* stress.c - threads and forks against one library:
 * - ev_async_send from 4 and 8 threads, every send counted;
 * - loops made, run (io watchers on pipes that must fire) and destroyed across short-lived
 *   threads whose pthread_t values glibc recycles, one thread running more loops than it has
 *   registered-ring slots, a loop destroyed by another thread than the one that ran it;
 * - every way of making a child process (glibc fork(), syscall(SYS_fork), clone without
 *   CLONE_VM, _Fork) with and without ev_loop_fork in the child and in the parent, with and
 *   without EVFLAG_FORKCHECK: both loops keep their io watchers, fork watchers run where a
 *   fork was noticed, and a socket stopped and closed shows EOF to its peer (also after
 *   ev_loop_fork without any fork).
 *
 * Every test body runs in a forked child of the test program with an alarm (test_run_child),
 * so a hang fails the test instead of blocking the run. Inside, checks print a "# " line and
 * _exit(1); cmocka only sees the exit status. Every wait for an event is bounded by an
 * ev_timer or a deadline, never by a sleep that assumes a fast machine. */
#include "test.h"

#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      dprintf(2, "# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                       \
      dprintf(2, __VA_ARGS__);                                                                     \
      dprintf(2, "\n");                                                                            \
      _exit(1);                                                                                    \
    }                                                                                              \
  } while (0)

/* How long an event that is already due may take to be reported, on a loaded machine. */
#define EVENT_LIMIT 3.

/* Run body(arg) in a child process (20 s alarm, stderr kept) and fail unless it exits 0. */
static void isolated(void (*body)(void *), void *arg)
{
  char how[64];
  int status = test_run_child(body, arg, 2);
  fflush(stdout);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    test_describe_status(status, how, sizeof how);
    fail_msg("test body failed: %s", how);
  }
}

/* A TAP comment line from a test body (the child exits with _exit: flush now). */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  printf("# ");
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

static void write_byte(int fd)
{
  ssize_t r;
  while ((r = write(fd, "x", 1)) < 0 && errno == EINTR)
    ;
  CHECK(r == 1, "write to fd %d: %s", fd, strerror(errno));
}

/* Read everything there is (the fds are non-blocking); the number of bytes read. */
static int drain(int fd)
{
  char buf[64];
  int total = 0;
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0)
      total += (int)r;
  return total;
}

static void make_socketpair(int sv[2])
{
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
        strerror(errno));
  test_nonblock(sv[0]);
  test_nonblock(sv[1]);
}

/* An io watcher for reading that counts its callbacks (each drains the fd and ends ev_run). */
struct counted {
  ev_io io;
  int n;
};

static void counted_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  drain(w->fd);
  ((struct counted *)w)->n++;
  ev_break(loop, EVBREAK_ONE);
}

static void counted_start(struct ev_loop *loop, struct counted *c, int fd)
{
  c->n = 0;
  ev_io_init(&c->io, counted_cb, fd, EV_READ);
  ev_io_start(loop, &c->io);
}

static __thread int timed_out; /* loops run in several threads */
static void limit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  timed_out = 1;
  ev_break(loop, EVBREAK_ONE);
}

/* Write a byte to wfd and run the loop until c's callback reports it, at most EVENT_LIMIT
 * seconds. The watcher is not restarted: it must keep working as it was started. `what`
 * names the situation in the failure message. */
static void io_must_fire(struct ev_loop *loop, struct counted *c, int wfd, const char *what)
{
  ev_timer limit;
  int before = c->n;
  timed_out = 0;
  ev_timer_init(&limit, limit_cb, EVENT_LIMIT, 0.);
  ev_timer_start(loop, &limit);
  write_byte(wfd);
  while (c->n == before && !timed_out)
    ev_run(loop, 0);
  ev_timer_stop(loop, &limit);
  CHECK(c->n > before, "%s: the io watcher of fd %d did not fire within %g s (backend %s)", what,
        c->io.fd, EVENT_LIMIT, test_backend_name());
}

/* ------------------------------------------------------------------------------------------ */
/* ev_async_send from N threads                                                               */

/* Each sender thread numbers its sends 1..M in sent[i] and sends after each increment; the
 * loop's callback copies sent[] into seen[] and wakes the senders. A sender sends again only
 * after seen[i] reached its last number, so no send of it can coalesce with another of its own:
 * every send must be answered, and a lost wake-up leaves its sender waiting until its
 * deadline, when it writes the rescue pipe (an io watcher, independent of the async path)
 * to stop the loop and the test fails naming the lost send. The loop has no timer that could
 * wake it by chance. M is at most nsends, less when SEND_BUDGET runs out first; each sender
 * reports its M in last[i] and then sends done_w, which ends the loop when all are done.
 * With one watcher per thread the callbacks of a watcher must number exactly M; with one
 * watcher shared by all threads the sends of different threads coalesce, so only seen[] is
 * exact. */
#define MAX_SENDERS 8
#define SEND_DEADLINE 5. /* seconds a sender waits for one answer */
#define SEND_BUDGET 3.   /* seconds of sending: fewer sends on a slow machine, as many checks */
#define SEND_MIN 50      /* sends per thread even past the budget */

struct async_stress {
  struct ev_loop *loop;
  int nthreads, nsends, shared;
  ev_async w[MAX_SENDERS];
  atomic_uint sent[MAX_SENDERS];
  atomic_uint seen[MAX_SENDERS];
  unsigned int calls[MAX_SENDERS]; /* loop thread only */
  unsigned int calls_total;
  atomic_uint last[MAX_SENDERS]; /* a sender's number of sends, once it is done */
  atomic_int done;               /* senders whose last send was answered */
  ev_async done_w;               /* sent by each sender when done */
  double send_until;
  atomic_int stop;
  unsigned int lost_at[MAX_SENDERS];
  double waited[MAX_SENDERS];
  int rescue[2];
  ev_io rescue_w;
};

static void futex_wait(atomic_uint *addr, unsigned int val, long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  syscall(SYS_futex, (void *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(atomic_uint *addr)
{
  syscall(SYS_futex, (void *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

struct sender_arg {
  struct async_stress *st;
  int i;
};

static void *sender_main(void *arg)
{
  struct async_stress *st = ((struct sender_arg *)arg)->st;
  int i = ((struct sender_arg *)arg)->i;
  ev_async *w = &st->w[st->shared ? 0 : i];
  unsigned int k;
  for (k = 1; k <= (unsigned int)st->nsends; k++) {
    if (k > SEND_MIN && mono() > st->send_until)
      break;
    atomic_store(&st->sent[i], k);
    ev_async_send(st->loop, w);
    double start = mono();
    unsigned int v;
    while ((v = atomic_load(&st->seen[i])) < k) {
      if (atomic_load(&st->stop))
        return NULL;
      if (mono() - start > SEND_DEADLINE) {
        st->lost_at[i] = k;
        st->waited[i] = mono() - start;
        atomic_store(&st->stop, 1);
        write_byte(st->rescue[1]);
        return NULL;
      }
      futex_wait(&st->seen[i], v, 100);
    }
  }
  atomic_store(&st->last[i], k - 1);
  atomic_fetch_add(&st->done, 1);
  ev_async_send(st->loop, &st->done_w);
  return NULL;
}

/* Copy sender j's number into seen[j]: the callback ran after its send. */
static void async_acknowledge(struct async_stress *st, int j)
{
  unsigned int s = atomic_load(&st->sent[j]);
  unsigned int old = atomic_load(&st->seen[j]);
  if (s == old)
    return;
  CHECK(s == old + 1, "sender %d: send %u seen after %u (a sender sends only when answered)",
        j, s, old);
  atomic_store(&st->seen[j], s);
  futex_wake(&st->seen[j]);
}

static void stress_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
  struct async_stress *st = ev_userdata(loop);
  int i = (int)(w - st->w);
  CHECK(revents == EV_ASYNC, "revents %#x", revents);
  st->calls[i]++;
  st->calls_total++;
  if (st->shared) {
    for (int j = 0; j < st->nthreads; j++)
      async_acknowledge(st, j);
  } else {
    unsigned int before = atomic_load(&st->seen[i]);
    async_acknowledge(st, i);
    CHECK(atomic_load(&st->seen[i]) == before + 1,
          "watcher %d called without a new send (seen %u, sent %u)", i, before,
          atomic_load(&st->sent[i]));
  }
}

static void senders_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
  struct async_stress *st = ev_userdata(loop);
  if (atomic_load(&st->done) == st->nthreads)
    ev_break(loop, EVBREAK_ALL);
}

static void rescue_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  ev_break(loop, EVBREAK_ALL);
}

static void async_stress_run(int nthreads, int nsends, int shared)
{
  static struct async_stress st; /* zeroed: every run is in a fresh child */
  st.nthreads = nthreads;
  st.nsends = nsends;
  st.shared = shared;
  st.loop = test_loop(0);
  ev_set_userdata(st.loop, &st);
  make_pipe(st.rescue);
  ev_io_init(&st.rescue_w, rescue_cb, st.rescue[0], EV_READ);
  ev_io_start(st.loop, &st.rescue_w);
  for (int i = 0; i < (shared ? 1 : nthreads); i++) {
    ev_async_init(&st.w[i], stress_async_cb);
    ev_async_start(st.loop, &st.w[i]);
  }
  ev_async_init(&st.done_w, senders_done_cb);
  ev_async_start(st.loop, &st.done_w);

  pthread_t tids[MAX_SENDERS];
  struct sender_arg args[MAX_SENDERS];
  double start = mono();
  st.send_until = start + SEND_BUDGET;
  for (int i = 0; i < nthreads; i++) {
    args[i].st = &st;
    args[i].i = i;
    CHECK(pthread_create(&tids[i], NULL, sender_main, &args[i]) == 0, "pthread_create");
  }
  ev_run(st.loop, 0); /* no timer: only the senders' wake-ups and the rescue pipe end it */
  atomic_store(&st.stop, 1);
  for (int i = 0; i < nthreads; i++)
    pthread_join(tids[i], NULL);
  double took = mono() - start;

  for (int i = 0; i < nthreads; i++)
    CHECK(!st.lost_at[i],
          "%s: sender %d's send %u was never answered (waited %.1f s: lost wake-up)",
          shared ? "shared watcher" : "own watcher", i, st.lost_at[i], st.waited[i]);
  unsigned int sent = 0, seen = 0, least = UINT_MAX;
  for (int i = 0; i < nthreads; i++) {
    unsigned int last = atomic_load(&st.last[i]);
    CHECK(last >= SEND_MIN, "sender %d made %u sends", i, last);
    CHECK(atomic_load(&st.seen[i]) == last, "sender %d: %u of %u sends seen", i,
          atomic_load(&st.seen[i]), last);
    sent += last;
    seen += atomic_load(&st.seen[i]);
    least = last < least ? last : least;
    if (!shared)
      CHECK(st.calls[i] == last, "watcher %d: %u callbacks for %u sends", i, st.calls[i], last);
  }
  CHECK(seen == sent, "%u sends seen of %u", seen, sent);
  CHECK(st.calls_total >= 1 && st.calls_total <= sent, "%u callbacks for %u sends",
        st.calls_total, sent);
  note("%s: %d threads x %u..%d sends = %u sends, all seen, %u callbacks, %.2f s\n",
       shared ? "one shared watcher" : "one watcher per thread", nthreads, least, nsends, sent,
       st.calls_total, took);
  ev_loop_destroy(st.loop);
}

static void body_async_own_watchers(void *arg)
{
  async_stress_run(4, 4000, 0);
}

static void body_async_own_watchers_8(void *arg)
{
  async_stress_run(8, 2000, 0);
}

static void body_async_shared_watcher(void *arg)
{
  async_stress_run(8, 2000, 1);
}

static void async_sends_from_4_threads_each_on_its_own_watcher_all_arrive(void **state)
{
  isolated(body_async_own_watchers, NULL);
}

static void async_sends_from_8_threads_each_on_its_own_watcher_all_arrive(void **state)
{
  isolated(body_async_own_watchers_8, NULL);
}

static void async_sends_from_8_threads_on_one_shared_watcher_all_arrive(void **state)
{
  isolated(body_async_shared_watcher, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* loops across short-lived threads (recycled pthread_t values)                               */

/* pthread_t values of the threads started so far, to count recycled ones. */
#define MAX_THREAD_IDS 1024
static pthread_t thread_ids[MAX_THREAD_IDS];
static int thread_id_n, recycled_ids;

static void run_in_thread(void *(*fn)(void *), void *arg)
{
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fn, arg) == 0, "pthread_create");
  for (int i = 0; i < thread_id_n; i++)
    if (pthread_equal(thread_ids[i], t)) {
      recycled_ids++;
      break;
    }
  if (thread_id_n < MAX_THREAD_IDS)
    thread_ids[thread_id_n++] = t;
  CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

static struct ev_loop *new_loop_checked(void)
{
  struct ev_loop *loop = ev_loop_new(test_backend() | EVFLAG_NOENV);
  CHECK(loop && ev_backend(loop) == test_backend(), "ev_loop_new in a thread");
  return loop;
}

/* Shared by the threads of one round: loop a with pipe pa, loop b with pipe pb. */
struct handoff {
  struct ev_loop *a, *b;
  int pa[2], pb[2];
  struct counted ca, cb; /* started once, in the thread that made the loop */
  int variant;
};

/* Thread 1: runs loop a, which another thread created. */
static void *thread_runs_a(void *arg)
{
  struct handoff *h = arg;
  io_must_fire(h->a, &h->ca, h->pa[1], "thread 1 runs loop a");
  return NULL;
}

/* Thread 2 (usually thread 1's pthread_t again): a loop of its own, run first, then loop a;
 * variants also run a before making b, destroy a and/or b here. */
static void *thread_runs_b_then_a(void *arg)
{
  struct handoff *h = arg;
  if (h->variant & 8) /* before it has a loop of its own */
    io_must_fire(h->a, &h->ca, h->pa[1], "thread 2 runs loop a before making loop b");
  h->b = new_loop_checked();
  make_pipe(h->pb);
  counted_start(h->b, &h->cb, h->pb[0]);
  io_must_fire(h->b, &h->cb, h->pb[1], "thread 2 runs its own loop b");
  io_must_fire(h->a, &h->ca, h->pa[1], "thread 2 runs loop a after its own loop b");
  io_must_fire(h->b, &h->cb, h->pb[1], "thread 2 runs loop b again after loop a");
  if (h->variant & 1) {
    ev_loop_destroy(h->a);
    h->a = NULL;
    io_must_fire(h->b, &h->cb, h->pb[1], "thread 2 runs loop b after destroying loop a");
  }
  if (h->variant & 2) {
    ev_loop_destroy(h->b);
    h->b = NULL;
  }
  return NULL;
}

/* Thread 3: runs whatever is left of a and b (created and run by other threads). */
static void *thread_runs_leftovers(void *arg)
{
  struct handoff *h = arg;
  if (h->a)
    io_must_fire(h->a, &h->ca, h->pa[1], "thread 3 runs loop a after threads 1 and 2");
  if (h->b)
    io_must_fire(h->b, &h->cb, h->pb[1], "thread 3 runs loop b after thread 2 made it");
  if (h->a && (h->variant & 4)) {
    ev_loop_destroy(h->a);
    h->a = NULL;
  }
  return NULL;
}

static void handoff_round(int variant, int with_leftovers)
{
  struct handoff h;
  memset(&h, 0, sizeof h);
  h.variant = variant;
  h.a = test_loop(0);
  make_pipe(h.pa);
  counted_start(h.a, &h.ca, h.pa[0]);
  run_in_thread(thread_runs_a, &h);
  run_in_thread(thread_runs_b_then_a, &h);
  if (with_leftovers)
    run_in_thread(thread_runs_leftovers, &h);
  if (h.a)
    io_must_fire(h.a, &h.ca, h.pa[1], "the main thread runs loop a after the threads");
  if (h.b)
    io_must_fire(h.b, &h.cb, h.pb[1], "the main thread runs loop b after the threads");
  if (h.a)
    ev_loop_destroy(h.a);
  if (h.b)
    ev_loop_destroy(h.b);
  close(h.pb[0]);
  close(h.pb[1]);
  close(h.pa[0]);
  close(h.pa[1]);
}

/* The smallest case: loop a run by thread 1, then by thread 2 that has thread 1's pthread_t
 * and a loop of its own that it ran first. Repeated until a recycled id was seen. */
static void body_recycled_id_minimal(void *arg)
{
  for (int round = 0; round < 20 && recycled_ids == 0; round++)
    handoff_round(0, 0);
  note("recycled thread ids: %d of %d threads\n", recycled_ids, thread_id_n);
  CHECK(recycled_ids > 0, "glibc gave no thread a previous thread's id: nothing was tested");
}

#define HANDOFF_ROUNDS 40

static void body_recycled_id_stress(void *arg)
{
  double start = mono();
  int loops = 0;
  for (int round = 0; round < HANDOFF_ROUNDS; round++) {
    handoff_round(round % 16, 1);
    loops += 2;
  }
  note("%d loops over %d short-lived threads (%d rounds), recycled thread ids: %d, "
         "%.2f s\n",
         loops, thread_id_n, HANDOFF_ROUNDS, recycled_ids, mono() - start);
  CHECK(recycled_ids > 0, "glibc gave no thread a previous thread's id: nothing was tested");
}

/* One long-lived thread runs many loops, more than a thread has slots for registered rings
 * (16 in Linux): each loop made and run by the thread and destroyed by another, short-lived
 * thread while the first lives on, then as many kept alive at once and run again. */
#define MANY_LOOPS 40

static void *destroy_loop_thread(void *arg)
{
  ev_loop_destroy(arg);
  return NULL;
}

static void *thread_runs_many_loops(void *arg)
{
  static struct ev_loop *loops[MANY_LOOPS];
  static struct counted cs[MANY_LOOPS];
  static int ps[MANY_LOOPS][2];
  int p[2];
  make_pipe(p);
  for (int i = 0; i < MANY_LOOPS; i++) {
    struct ev_loop *l = new_loop_checked();
    struct counted c;
    counted_start(l, &c, p[0]);
    io_must_fire(l, &c, p[1], "a loop made and run by a thread that ran many loops before");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, destroy_loop_thread, l) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
  }
  for (int i = 0; i < MANY_LOOPS; i++) {
    loops[i] = new_loop_checked();
    make_pipe(ps[i]);
    counted_start(loops[i], &cs[i], ps[i][0]);
    io_must_fire(loops[i], &cs[i], ps[i][1], "one of many loops alive in one thread");
  }
  for (int i = 0; i < MANY_LOOPS; i++)
    io_must_fire(loops[i], &cs[i], ps[i][1], "one of many loops alive in one thread, again");
  for (int i = 0; i < MANY_LOOPS; i++) {
    ev_loop_destroy(loops[i]);
    close(ps[i][0]);
    close(ps[i][1]);
  }
  close(p[0]);
  close(p[1]);
  return NULL;
}

static void body_many_loops_one_thread(void *arg)
{
  run_in_thread(thread_runs_many_loops, NULL);
}

static void one_thread_running_more_loops_than_it_can_register_sees_all_their_io(void **state)
{
  isolated(body_many_loops_one_thread, NULL);
}

/* The peer sv[1] of a closed socket must see EOF within EVENT_LIMIT seconds (no loop runs). */
static void peer_sees_eof(int peer, const char *who)
{
  struct pollfd pfd = { peer, POLLIN, 0 };
  double start = mono();
  int r;
  while ((r = poll(&pfd, 1, 100)) <= 0 && mono() - start < EVENT_LIMIT)
    ;
  char c;
  CHECK(r > 0 && read(peer, &c, 1) == 0,
        "%s: the peer saw no EOF within %g s after the socket was closed (backend %s)", who,
        EVENT_LIMIT, test_backend_name());
}

/* A thread runs a loop watching a socket; another thread destroys the loop, then the socket
 * is closed while the first thread lives on: nothing may still hold the socket. */
static void *thread_runs_then_has_its_loop_destroyed(void *arg)
{
  struct ev_loop *l = new_loop_checked();
  int p[2], sv[2];
  make_pipe(p);
  make_socketpair(sv);
  struct counted pw, sw;
  counted_start(l, &pw, p[0]);
  counted_start(l, &sw, sv[0]);
  io_must_fire(l, &pw, p[1], "the loop before it is destroyed");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, destroy_loop_thread, l) == 0, "pthread_create");
  CHECK(pthread_join(t, NULL) == 0, "pthread_join");
  close(sv[0]);
  peer_sees_eof(sv[1], "loop destroyed by another thread than the one that ran it");
  close(sv[1]);
  close(p[0]);
  close(p[1]);
  return NULL;
}

static void body_destroyed_by_another_thread(void *arg)
{
  run_in_thread(thread_runs_then_has_its_loop_destroyed, NULL);
}

static void a_loop_destroyed_by_another_thread_lets_go_of_the_sockets_it_watched(void **state)
{
  isolated(body_destroyed_by_another_thread, NULL);
}

static void a_loop_run_by_a_thread_with_a_recycled_id_sees_its_io_events(void **state)
{
  isolated(body_recycled_id_minimal, NULL);
}

static void loops_created_run_and_destroyed_across_recycled_threads_see_their_io(void **state)
{
  isolated(body_recycled_id_stress, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* forks                                                                                      */

enum fork_kind { GLIBC_FORK, SYSCALL_FORK, CLONE_NO_VM, UNDERSCORE_FORK, NKINDS };
static const char *const kind_names[NKINDS] = { "fork()", "syscall(SYS_fork)",
                                                "clone(SIGCHLD) without CLONE_VM", "_Fork()" };

static pid_t make_child(enum fork_kind kind)
{
  fflush(NULL);
  switch (kind) {
  case GLIBC_FORK:
    return fork();
  case SYSCALL_FORK:
    return (pid_t)syscall(SYS_fork);
  case CLONE_NO_VM:
    return (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, NULL, NULL, 0UL);
  case UNDERSCORE_FORK:
    return _Fork();
  default:
    return -1;
  }
}

struct fork_case {
  enum fork_kind kind;
  int forkcheck, child_loop_fork, parent_loop_fork;
  char name[160];
};

/* w watches sv[0] and is armed in the kernel. Stop it, close sv[0] and let the loop run: the
 * peer sv[1] must see EOF, which it does only when nothing in the kernel still holds the
 * socket (a poll request of a ring the loop dropped would). */
static void closed_socket_shows_eof(struct ev_loop *loop, ev_io *w, int sv[2], const char *who)
{
  ev_io_stop(loop, w);
  close(sv[0]);
  double start = mono();
  int eof = 0;
  while (!eof && mono() - start < EVENT_LIMIT) {
    ev_run(loop, EVRUN_NOWAIT);
    struct pollfd pfd = { sv[1], POLLIN, 0 };
    if (poll(&pfd, 1, 20) > 0) {
      char c;
      ssize_t r = read(sv[1], &c, 1);
      CHECK(r == 0 || (r < 0 && errno == EAGAIN), "%s: read from the peer: %zd", who, r);
      eof = r == 0;
    }
  }
  CHECK(eof, "%s: the peer saw no EOF within %g s after the socket was stopped and closed "
        "(backend %s)", who, EVENT_LIMIT, test_backend_name());
  close(sv[1]);
}

/* What the parent set up before the fork, all watched by `loop` and armed in the kernel. */
struct fork_setup {
  const struct fork_case *c;
  struct ev_loop *loop;
  int par[2], chd[2], sv[2], report[2], release[2];
  struct counted par_w, chd_w, sock_w;
  ev_fork fork_w;
  int forks_seen; /* fork_w's callbacks in this process */
};

static void count_fork_cb(struct ev_loop *loop, ev_fork *w, int revents)
{
  (*(int *)w->data)++;
}

/* The child. It uses the inherited loop when it called ev_loop_fork or when EVFLAG_FORKCHECK
 * must notice the fork, with the watcher of chd[0] started before the fork; otherwise
 * (libev's rules forbid touching the loop then) it makes a new loop. Reports a byte when done,
 * then waits for the parent's release, so that the parent's checks run while the child still
 * holds everything it inherited. */
static void fork_child_side(struct fork_setup *f)
{
  const struct fork_case *c = f->c;
  alarm(15);
  close(f->report[0]);
  close(f->release[1]);
  int inherited = c->child_loop_fork || c->forkcheck;
  struct ev_loop *l = f->loop;
  struct counted own, *cw = &f->chd_w;
  if (c->child_loop_fork)
    ev_loop_fork(f->loop);
  if (inherited) {
    /* Not ours: the parent's pipe and socket. Stopped, and one iteration so that the loop
     * drops them from its kernel state, which must be its own by now: in the parent's, that
     * would end the parent's watchers. */
    ev_io_stop(l, &f->par_w.io);
    ev_io_stop(l, &f->sock_w.io);
    ev_run(l, EVRUN_NOWAIT);
    CHECK(f->forks_seen == 1,
          "child made by %s: %d fork watcher callbacks in the first iteration, expected 1 (%s)",
          kind_names[c->kind], f->forks_seen,
          c->child_loop_fork ? "ev_loop_fork was called" : "EVFLAG_FORKCHECK must notice");
  } else {
    l = new_loop_checked();
    cw = &own;
    counted_start(l, cw, f->chd[0]);
  }
  /* The socket's copies must go for the parent's EOF check. */
  close(f->par[0]);
  close(f->par[1]);
  close(f->sv[0]);
  close(f->sv[1]);

  for (int i = 0; i < 3; i++)
    io_must_fire(l, cw, f->chd[1],
                 inherited ? "child: watcher started before the fork, inherited loop"
                           : "child: pipe from before the fork, new loop");
  int np[2];
  make_pipe(np);
  struct counted npw, csw;
  counted_start(l, &npw, np[0]);
  for (int i = 0; i < 3; i++)
    io_must_fire(l, &npw, np[1], "child: pipe made after the fork");
  int csv[2];
  make_socketpair(csv);
  counted_start(l, &csw, csv[0]);
  io_must_fire(l, &npw, np[1], "child: pipe made after the fork, with a socket watched");
  closed_socket_shows_eof(l, &csw.io, csv, "child");

  write_byte(f->report[1]);
  char b;
  while (read(f->release[0], &b, 1) < 0 && errno == EINTR)
    ;
  _exit(0);
}

static void body_fork_case(void *arg)
{
  static struct fork_setup setup;
  struct fork_setup *f = &setup;
  const struct fork_case *c = arg;
  f->c = c;
  f->loop = test_loop(c->forkcheck ? EVFLAG_FORKCHECK : 0);
  make_pipe(f->par);
  make_pipe(f->chd);
  make_socketpair(f->sv);
  CHECK(pipe(f->report) == 0 && pipe(f->release) == 0, "pipe");
  counted_start(f->loop, &f->par_w, f->par[0]);
  counted_start(f->loop, &f->chd_w, f->chd[0]);
  counted_start(f->loop, &f->sock_w, f->sv[0]);
  ev_fork_init(&f->fork_w, count_fork_cb);
  f->fork_w.data = &f->forks_seen;
  ev_fork_start(f->loop, &f->fork_w);
  /* Everything armed in the kernel before the fork. */
  io_must_fire(f->loop, &f->par_w, f->par[1], "parent before the fork");
  io_must_fire(f->loop, &f->chd_w, f->chd[1], "parent before the fork");

  pid_t pid = make_child(c->kind);
  CHECK(pid >= 0, "%s: %s", kind_names[c->kind], strerror(errno));
  if (pid == 0)
    fork_child_side(f);
  close(f->report[1]);
  close(f->release[0]);
  /* The child's pipe is the child's: the parent stops watching it and closes its ends. */
  ev_io_stop(f->loop, &f->chd_w.io);
  close(f->chd[0]);
  close(f->chd[1]);

  /* The child goes first. */
  char b = 0;
  ssize_t r;
  while ((r = read(f->report[0], &b, 1)) < 0 && errno == EINTR)
    ;
  if (r != 1) {
    int status = 0;
    waitpid(pid, &status, 0);
    char how[64];
    test_describe_status(status, how, sizeof how);
    CHECK(0, "the child failed (%s)", how);
  }

  if (c->parent_loop_fork)
    ev_loop_fork(f->loop);
  for (int i = 0; i < 3; i++)
    io_must_fire(f->loop, &f->par_w, f->par[1], "parent: watcher started before the fork");
  CHECK(f->forks_seen == c->parent_loop_fork, "parent: %d fork watcher callbacks, expected %d",
        f->forks_seen, c->parent_loop_fork);
  closed_socket_shows_eof(f->loop, &f->sock_w.io, f->sv, "parent");
  io_must_fire(f->loop, &f->par_w, f->par[1], "parent: after closing the socket");

  write_byte(f->release[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exited with status %#x",
        status);
  ev_loop_destroy(f->loop);
}

static void fork_case_test(void **state)
{
  isolated(body_fork_case, *state);
}

/* The smallest case of the parent's EOF check: ev_loop_fork in the process that made the
 * loop, without any fork (libev allows the call anywhere and suggests it in the parent too).
 * The socket watched before the call is then stopped and closed: the peer must see EOF. */
static void body_loop_fork_without_fork(void *arg)
{
  struct ev_loop *loop = test_loop(0);
  int p[2], sv[2];
  make_pipe(p);
  make_socketpair(sv);
  struct counted pw, sw;
  counted_start(loop, &pw, p[0]);
  counted_start(loop, &sw, sv[0]);
  io_must_fire(loop, &pw, p[1], "before ev_loop_fork");
  ev_loop_fork(loop);
  io_must_fire(loop, &pw, p[1], "after ev_loop_fork");
  closed_socket_shows_eof(loop, &sw.io, sv, "after ev_loop_fork");
  io_must_fire(loop, &pw, p[1], "after closing the socket");
  ev_loop_destroy(loop);
}

static void loop_fork_without_a_fork_then_a_stopped_and_closed_socket_shows_eof(void **state)
{
  isolated(body_loop_fork_without_fork, NULL);
}

#define NFORK_CASES (NKINDS * 8)
static struct fork_case fork_cases[NFORK_CASES];
static const char *const kind_ids[NKINDS] = { "glibc_fork", "syscall_fork", "clone_without_vm",
                                              "underscore_fork" };

/* ------------------------------------------------------------------------------------------ */

int main(void)
{
  struct CMUnitTest tests[8 + NFORK_CASES] = {
    cmocka_unit_test(async_sends_from_4_threads_each_on_its_own_watcher_all_arrive),
    cmocka_unit_test(async_sends_from_8_threads_each_on_its_own_watcher_all_arrive),
    cmocka_unit_test(async_sends_from_8_threads_on_one_shared_watcher_all_arrive),
    cmocka_unit_test(a_loop_run_by_a_thread_with_a_recycled_id_sees_its_io_events),
    cmocka_unit_test(loops_created_run_and_destroyed_across_recycled_threads_see_their_io),
    cmocka_unit_test(one_thread_running_more_loops_than_it_can_register_sees_all_their_io),
    cmocka_unit_test(a_loop_destroyed_by_another_thread_lets_go_of_the_sockets_it_watched),
    cmocka_unit_test(loop_fork_without_a_fork_then_a_stopped_and_closed_socket_shows_eof),
  };
  int n = 8;
  for (int k = 0; k < NKINDS; k++)
    for (int m = 0; m < 8; m++) {
      struct fork_case *c = &fork_cases[k * 8 + m];
      c->kind = (enum fork_kind)k;
      c->forkcheck = m & 1;
      c->child_loop_fork = !!(m & 2);
      c->parent_loop_fork = !!(m & 4);
      snprintf(c->name, sizeof c->name,
               "after_%s_%s_%s_%s_both_loops_see_io_and_closed_sockets_show_eof", kind_ids[k],
               c->forkcheck ? "forkcheck" : "no_forkcheck",
               c->child_loop_fork ? "child_loop_fork" : "no_child_loop_fork",
               c->parent_loop_fork ? "parent_loop_fork" : "no_parent_loop_fork");
      tests[n].name = c->name;
      tests[n].test_func = fork_case_test;
      tests[n].setup_func = NULL;
      tests[n].teardown_func = NULL;
      tests[n].initial_state = c;
      n++;
    }
  return test_run("stress", tests, (size_t)n);
}
