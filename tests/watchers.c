/* watchers.c - the small watchers: ev_idle, ev_prepare, ev_check, ev_fork, ev_cleanup,
 * ev_async (threads, signal handlers, coalescing), ev_embed, ev_once. */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static void close_pipe(int p[2])
{
  close(p[0]);
  close(p[1]);
}

static int ncalls, last_rev;
#define COUNT_CB(type)                                                                             \
  static void count_##type(struct ev_loop *l, type *w, int rev)                                    \
  {                                                                                                \
    ncalls++;                                                                                      \
    last_rev = rev;                                                                                \
  }
COUNT_CB(ev_fork)
COUNT_CB(ev_cleanup)

/* Stops the loop if a test hangs. */
static int guard_fired;
static void guard_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  guard_fired = 1;
  ev_break(l, EVBREAK_ALL);
}

/* ------------------------------------------------------------------------------------------ */
/* idle, prepare, check, fork, cleanup                                                        */

static int idle_active_in_cb;
static void idle_cb(struct ev_loop *l, ev_idle *w, int rev)
{
  last_rev = rev;
  idle_active_in_cb &= ev_is_active(w) != 0;
  if (++ncalls == 3)
    ev_idle_stop(l, w);
}

static void idle_is_called_with_EV_IDLE_every_iteration_until_stopped(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_idle i;
  ncalls = last_rev = 0;
  idle_active_in_cb = 1;
  ev_idle_init(&i, idle_cb);
  assert_false(ev_is_active(&i));
  ev_idle_start(l, &i);
  assert_true(ev_is_active(&i));
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(ncalls, 3);
  assert_int_equal(last_rev, EV_IDLE);
  assert_int_equal(idle_active_in_cb, 1);
  assert_int_equal(ev_iteration(l), 3);
  assert_false(ev_is_active(&i));
  ev_loop_destroy(l);
}

static int nprep, ncheck, prep_rev, check_rev;
static void prep_cb(struct ev_loop *l, ev_prepare *w, int rev)
{
  nprep++;
  prep_rev = rev;
}
static void check_cb(struct ev_loop *l, ev_check *w, int rev)
{
  ncheck++;
  check_rev = rev;
}

static void prepare_and_check_run_once_per_iteration_and_keep_the_loop_alive(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_prepare p;
  ev_check c;
  nprep = ncheck = prep_rev = check_rev = 0;
  ev_prepare_init(&p, prep_cb);
  ev_check_init(&c, check_cb);
  ev_prepare_start(l, &p);
  ev_check_start(l, &c);
  assert_true(ev_is_active(&p) && ev_is_active(&c));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 2);
  ev_run(l, EVRUN_NOWAIT);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(nprep, 3);
  assert_int_equal(ncheck, 3);
  assert_int_equal(prep_rev, EV_PREPARE);
  assert_int_equal(check_rev, EV_CHECK);
  ev_prepare_stop(l, &p);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(nprep, 3);
  assert_int_equal(ncheck, 4);
  ev_check_stop(l, &c);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  assert_int_equal(ncheck, 4);
  ev_loop_destroy(l);
}

static void fork_watcher_is_called_with_EV_FORK_only_after_ev_loop_fork(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_fork f;
  ncalls = last_rev = 0;
  ev_fork_init(&f, count_ev_fork);
  ev_fork_start(l, &f);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  assert_int_equal(ncalls, 0);
  ev_loop_fork(l);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_FORK);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_fork_stop(l, &f);
  ev_loop_fork(l);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 1);
  ev_loop_destroy(l);
}

/* In a real child: EVFLAG_FORKCHECK notices the new pid; ev_loop_fork does it explicitly;
 * afterwards io on the child's loop still works. Child's exit code: 0 all fine, 10+n fork
 * watcher called n times (expected once), 2 write failed, 4 the readable pipe was not
 * reported within 2 s, 20+n io callback called n times (expected once). */
static int child_fork_calls;
static void child_fork_cb(struct ev_loop *l, ev_fork *w, int rev) { child_fork_calls++; }
static int child_io_calls;
static void child_io_cb(struct ev_loop *l, ev_io *w, int rev)
{
  child_io_calls++;
  ev_io_stop(l, w);
}

static int run_forked_child(unsigned int flags, int call_loop_fork)
{
  struct ev_loop *l = test_loop(flags);
  ev_fork f;
  ev_io w;
  int p[2];
  make_pipe(p);
  child_fork_calls = child_io_calls = guard_fired = 0;
  ev_fork_init(&f, child_fork_cb);
  ev_fork_start(l, &f);
  ev_io_init(&w, child_io_cb, p[0], EV_READ);
  ev_io_start(l, &w);
  ev_run(l, EVRUN_NOWAIT);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (call_loop_fork)
      ev_loop_fork(l);
    ev_run(l, EVRUN_NOWAIT);
    if (child_fork_calls != 1)
      _exit(10 + child_fork_calls);
    if (write(p[1], "x", 1) != 1)
      _exit(2);
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 2., 0.);
    ev_timer_start(l, &guard);
    ev_unref(l);
    ev_fork_stop(l, &f);
    ev_run(l, 0);
    _exit(guard_fired ? 4 : child_io_calls == 1 ? 0 : 20 + child_io_calls);
  }
  assert_true(pid > 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(child_fork_calls, 0); /* the parent saw no fork */
  ev_fork_stop(l, &f);
  ev_io_stop(l, &w);
  ev_loop_destroy(l);
  close_pipe(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st); /* 100+sig: killed */
}

static void forkcheck_runs_fork_watchers_in_a_forked_child(void **state)
{
  assert_int_equal(run_forked_child(EVFLAG_FORKCHECK, 0), 0);
}

static void loop_fork_in_a_forked_child_runs_fork_watchers_and_keeps_io_working(void **state)
{
  assert_int_equal(run_forked_child(0, 1), 0);
}

static void cleanup_is_called_with_EV_CLEANUP_on_destroy_if_active(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_cleanup a, b;
  ncalls = last_rev = 0;
  ev_cleanup_init(&a, count_ev_cleanup);
  ev_cleanup_init(&b, count_ev_cleanup);
  ev_cleanup_start(l, &a);
  ev_cleanup_start(l, &b);
  assert_true(ev_is_active(&a));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0); /* cleanups hold no reference */
  ev_cleanup_stop(l, &b);
  assert_false(ev_is_active(&b));
  assert_int_equal(ncalls, 0);
  ev_loop_destroy(l);
  assert_int_equal(ncalls, 1);
  assert_int_equal(last_rev, EV_CLEANUP);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_async                                                                                   */

static struct ev_loop *async_loop;
static ev_async async_w;
static int async_calls, async_rev, async_sent_in_cb;
static void async_cb(struct ev_loop *l, ev_async *w, int rev)
{
  async_calls++;
  async_rev = rev;
  async_sent_in_cb = w->sent;
  ev_break(l, EVBREAK_ALL);
}

/* Sleeps the full 50 ms even when the sleep is interrupted (destroying an io_uring loop can
 * make the kernel cut a later sleep short with EINTR). */
static void *async_sender(void *arg)
{
  double until = mono() + 0.05;
  for (double left; (left = until - mono()) > 0.;)
    usleep((useconds_t)(left * 1e6) + 1);
  ev_async_send(async_loop, &async_w);
  return NULL;
}

/* Runs the loop with async_w and a 3 s guard; returns the time the run took. */
static double run_until_async(struct ev_loop *l)
{
  ev_timer guard;
  guard_fired = 0;
  ev_timer_init(&guard, guard_cb, 3., 0.);
  ev_timer_start(l, &guard);
  double t0 = mono();
  ev_run(l, 0);
  double t = mono() - t0;
  ev_timer_stop(l, &guard);
  return t;
}

static void async_send_from_another_thread_wakes_a_blocked_loop(void **state)
{
  struct ev_loop *l = async_loop = test_loop(0);
  pthread_t th;
  async_calls = async_rev = 0;
  ev_async_init(&async_w, async_cb);
  ev_async_start(l, &async_w);
  assert_true(ev_is_active(&async_w));
  assert_int_equal(pthread_create(&th, NULL, async_sender, NULL), 0);
  double t = run_until_async(l);
  pthread_join(th, NULL);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(async_calls, 1);
  assert_int_equal(async_rev, EV_ASYNC);
  assert_between(t, 0.04, 2.);
  ev_async_stop(l, &async_w);
  ev_loop_destroy(l);
}

static void alarm_handler(int sig) { ev_async_send(async_loop, &async_w); }

static void async_send_from_a_signal_handler_wakes_the_loop(void **state)
{
  struct ev_loop *l = async_loop = test_loop(0);
  struct sigaction sa, old;
  struct itimerval it = { { 0, 0 }, { 0, 50000 } }, off = { { 0, 0 }, { 0, 0 } };
  async_calls = async_rev = 0;
  ev_async_init(&async_w, async_cb);
  ev_async_start(l, &async_w);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = alarm_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
  assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
  double t = run_until_async(l);
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(async_calls, 1);
  assert_int_equal(async_rev, EV_ASYNC);
  assert_between(t, 0.04, 2.);
  ev_async_stop(l, &async_w);
  ev_loop_destroy(l);
}

static void async_sends_coalesce_and_sent_is_reset_by_the_loop(void **state)
{
  struct ev_loop *l = test_loop(0);
  ev_async a;
  async_calls = async_rev = 0;
  async_sent_in_cb = -1;
  ev_async_init(&a, async_cb);
  ev_async_start(l, &a);
  assert_int_equal(ev_async_pending(&a), 0);
  ev_async_send(l, &a);
  assert_int_equal(a.sent, 1);
  assert_int_equal(ev_async_pending(&a), 1);
  ev_async_send(l, &a);
  ev_async_send(l, &a);
  assert_int_equal(a.sent, 1);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(async_calls, 1);
  assert_int_equal(async_rev, EV_ASYNC);
  assert_int_equal(async_sent_in_cb, 0);
  assert_int_equal(a.sent, 0);
  assert_int_equal(ev_async_pending(&a), 0);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(async_calls, 1);
  ev_async_send(l, &a);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(async_calls, 2);
  ev_async_stop(l, &a);
  ev_loop_destroy(l);
}

enum { NSENDERS = 3, NSENDS = 20000 };
static void *async_hammer(void *arg)
{
  for (int i = 0; i < NSENDS; i++)
    ev_async_send(async_loop, &async_w);
  return NULL;
}
static int hammer_calls;
static void hammer_cb(struct ev_loop *l, ev_async *w, int rev) { hammer_calls++; }

static void async_sends_racing_with_the_loop_are_all_delivered(void **state)
{
  struct ev_loop *l = async_loop = test_loop(0);
  pthread_t th[NSENDERS];
  hammer_calls = 0;
  ev_async_init(&async_w, hammer_cb);
  ev_async_start(l, &async_w);
  for (int i = 0; i < NSENDERS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, async_hammer, NULL), 0);
  for (int i = 0; i < 200; i++)
    ev_run(l, EVRUN_NOWAIT);
  for (int i = 0; i < NSENDERS; i++)
    pthread_join(th[i], NULL);
  /* every send happened before this run started: it must see the last one */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(async_w.sent, 0);
  assert_true(hammer_calls >= 1 && hammer_calls <= NSENDERS * NSENDS);
  int before = hammer_calls;
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(hammer_calls, before); /* nothing left over */
  ev_async_stop(l, &async_w);
  ev_loop_destroy(l);
}

/* Several threads, each with its own watcher, send in lockstep with the loop: a send, then
 * wait until the loop has called that watcher. Every send must give exactly one callback.
 * A lost wake-up (the loop scanning the watchers without seeing a `sent` that was stored
 * before the sender found the wake-up already on its way) leaves a sender waiting: it gives
 * up after 10 s, and the counts do not add up. */
enum { LOCKSTEP_THREADS = 3, LOCKSTEP_ROUNDS = 3000 };
static ev_async lockstep_w[LOCKSTEP_THREADS];
static atomic_int lockstep_acks[LOCKSTEP_THREADS], lockstep_finished, lockstep_stuck;
static int lockstep_calls[LOCKSTEP_THREADS];

static void lockstep_cb(struct ev_loop *l, ev_async *w, int rev)
{
  int t = (int)(intptr_t)w->data;
  lockstep_calls[t]++;
  atomic_fetch_add(&lockstep_acks[t], 1);
}

static void *lockstep_sender(void *arg)
{
  int t = (int)(intptr_t)arg;
  for (int i = 1; i <= LOCKSTEP_ROUNDS; i++) {
    ev_async_send(async_loop, &lockstep_w[t]);
    double deadline = mono() + 10.;
    while (atomic_load(&lockstep_acks[t]) < i) {
      if (mono() > deadline) {
        atomic_fetch_add(&lockstep_stuck, 1);
        atomic_fetch_add(&lockstep_finished, 1);
        return NULL;
      }
      sched_yield();
    }
  }
  atomic_fetch_add(&lockstep_finished, 1);
  return NULL;
}

static void lockstep_poll_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  if (atomic_load(&lockstep_finished) == LOCKSTEP_THREADS)
    ev_break(l, EVBREAK_ALL);
}

static void async_sends_from_threads_in_lockstep_are_each_delivered_once(void **state)
{
  struct ev_loop *l = async_loop = test_loop(0);
  pthread_t th[LOCKSTEP_THREADS];
  ev_timer poll;
  atomic_store(&lockstep_finished, 0);
  atomic_store(&lockstep_stuck, 0);
  for (int t = 0; t < LOCKSTEP_THREADS; t++) {
    atomic_store(&lockstep_acks[t], 0);
    lockstep_calls[t] = 0;
    ev_async_init(&lockstep_w[t], lockstep_cb);
    lockstep_w[t].data = (void *)(intptr_t)t;
    ev_async_start(l, &lockstep_w[t]);
  }
  /* Only notices the end; a timer wake-up does not deliver a lost send. */
  ev_timer_init(&poll, lockstep_poll_cb, 0.05, 0.05);
  ev_timer_start(l, &poll);
  for (int t = 0; t < LOCKSTEP_THREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, lockstep_sender, (void *)(intptr_t)t), 0);
  ev_run(l, 0);
  for (int t = 0; t < LOCKSTEP_THREADS; t++)
    pthread_join(th[t], NULL);
  ev_timer_stop(l, &poll);
  for (int t = 0; t < LOCKSTEP_THREADS; t++)
    ev_async_stop(l, &lockstep_w[t]);
  ev_loop_destroy(l);
  int total = 0;
  for (int t = 0; t < LOCKSTEP_THREADS; t++)
    total += lockstep_calls[t];
  assert_int_equal(atomic_load(&lockstep_stuck), 0);
  for (int t = 0; t < LOCKSTEP_THREADS; t++)
    assert_int_equal(lockstep_calls[t], LOCKSTEP_ROUNDS);
  assert_int_equal(total, LOCKSTEP_THREADS * LOCKSTEP_ROUNDS);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_embed                                                                                   */

static struct ev_loop *embed_outer, *embed_inner_seen;
static int inner_io_calls, inner_io_rev;
static void inner_io_cb(struct ev_loop *l, ev_io *w, int rev)
{
  inner_io_calls++;
  inner_io_rev = rev;
  embed_inner_seen = l;
  ev_io_stop(l, w);
  ev_break(embed_outer, EVBREAK_ALL);
}

static struct ev_loop *embedded_loop(void)
{
  struct ev_loop *inner = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
  assert_non_null(inner);
  assert_int_equal(ev_backend(inner), EVBACKEND_EPOLL);
  return inner;
}

static void embed_start_activates_the_inner_io_prepare_and_fork_watchers(void **state)
{
  struct ev_loop *l = test_loop(0), *inner = embedded_loop();
  ev_embed e;
  memset(&e, 0, sizeof e);
  ev_embed_init(&e, 0, inner);
  ev_set_priority(&e, 1);
  ev_embed_start(l, &e);
  assert_true(ev_is_active(&e));
  assert_true(ev_is_active(&e.io));
  assert_true(ev_is_active(&e.prepare));
  assert_true(ev_is_active(&e.fork));
  assert_true(e.io.fd >= 0);
  char path[64], link[64] = "";
  snprintf(path, sizeof path, "/proc/self/fd/%d", e.io.fd);
  assert_true(readlink(path, link, sizeof link - 1) > 0);
  assert_string_equal(link, "anon_inode:[eventpoll]"); /* the embedded loop's epoll fd */
  assert_int_equal(e.io.events, EV_READ);
  assert_int_equal(e.io.priority, 1);
  /* the other inner watchers are left untouched */
  assert_int_equal(e.check.active | e.timer.active | e.periodic.active | e.idle.active, 0);
  assert_int_equal(e.cleanup.active, 0);
  ev_embed_stop(l, &e);
  assert_false(ev_is_active(&e));
  assert_false(ev_is_active(&e.io));
  assert_false(ev_is_active(&e.prepare));
  assert_false(ev_is_active(&e.fork));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(inner);
  ev_loop_destroy(l);
}

static void embed_without_callback_runs_the_embedded_loop_automatically(void **state)
{
  struct ev_loop *l = embed_outer = test_loop(0), *inner = embedded_loop();
  ev_embed e;
  ev_io w;
  ev_timer guard;
  int p[2];
  make_pipe(p);
  inner_io_calls = inner_io_rev = guard_fired = 0;
  embed_inner_seen = NULL;
  ev_io_init(&w, inner_io_cb, p[0], EV_READ);
  ev_io_start(inner, &w);
  ev_embed_init(&e, 0, inner);
  ev_embed_start(l, &e);
  ev_timer_init(&guard, guard_cb, 3., 0.);
  ev_timer_start(l, &guard);
  ev_run(l, EVRUN_NOWAIT); /* nothing ready yet */
  assert_int_equal(inner_io_calls, 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_run(l, 0);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(inner_io_calls, 1);
  assert_int_equal(inner_io_rev, EV_READ);
  assert_ptr_equal(embed_inner_seen, inner);
  ev_timer_stop(l, &guard);
  ev_embed_stop(l, &e);
  ev_loop_destroy(inner);
  ev_loop_destroy(l);
  close_pipe(p);
}

/* The embedded loop replaces its epoll set under the same fd number (an event of a stale
 * registration: the watched file was dup'd, its old number closed and reused): the outer loop
 * still hears the embedded loop's events afterwards. */
static int rebuild_reads;
static void rebuild_read_cb(struct ev_loop *l, ev_io *w, int rev)
{
  char c;
  if (read(w->fd, &c, 1) == 1)
    rebuild_reads++;
}

static void embed_keeps_working_after_the_embedded_loop_renews_its_epoll_set(void **state)
{
  struct ev_loop *l = test_loop(0), *inner = embedded_loop();
  ev_embed e;
  ev_io wa, wc;
  int a[2], c[2];
  make_pipe(a);
  make_pipe(c);
  rebuild_reads = 0;
  ev_io_init(&wa, rebuild_read_cb, a[0], EV_READ);
  ev_io_init(&wc, rebuild_read_cb, c[0], EV_READ);
  ev_io_start(inner, &wa);
  ev_io_start(inner, &wc);
  ev_embed_init(&e, 0, inner);
  ev_embed_start(l, &e);
  test_run_nowait(l, 2);
  test_put(a[1], "1");
  test_run_nowait(l, 2);
  assert_int_equal(rebuild_reads, 1);
  /* The watched file moves to a new number; the old number is closed and reused. */
  int moved = dup(a[0]);
  assert_true(moved >= 0);
  ev_io_stop(inner, &wa);
  int old = a[0];
  close(old);
  int reuse = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ev_io_set(&wa, moved, EV_READ);
  ev_io_start(inner, &wa);
  test_put(a[1], "2");
  test_run_nowait(l, 5);
  assert_int_equal(rebuild_reads, 2);
  test_put(c[1], "3");
  test_run_nowait(l, 5);
  assert_int_equal(rebuild_reads, 3);
  ev_io_stop(inner, &wa);
  ev_io_stop(inner, &wc);
  ev_embed_stop(l, &e);
  ev_loop_destroy(inner);
  ev_loop_destroy(l);
  close(moved), close(reuse), close(a[1]), close_pipe(c);
}

static int embed_cb_calls, embed_cb_rev, inner_calls_before_sweep, inner_calls_after_sweep;
static void embed_cb(struct ev_loop *l, ev_embed *w, int rev)
{
  embed_cb_calls++;
  embed_cb_rev = rev;
  inner_calls_before_sweep = inner_io_calls;
  ev_embed_sweep(l, w);
  inner_calls_after_sweep = inner_io_calls;
  ev_break(l, EVBREAK_ALL);
}

static void embed_callback_gets_EV_EMBED_and_sweep_runs_the_embedded_loop(void **state)
{
  struct ev_loop *l = embed_outer = test_loop(0), *inner = embedded_loop();
  ev_embed e;
  ev_io w;
  ev_timer guard;
  int p[2];
  make_pipe(p);
  inner_io_calls = embed_cb_calls = embed_cb_rev = guard_fired = 0;
  inner_calls_before_sweep = inner_calls_after_sweep = -1;
  ev_io_init(&w, inner_io_cb, p[0], EV_READ);
  ev_io_start(inner, &w);
  ev_run(inner, EVRUN_NOWAIT); /* register the pipe in the embedded loop while it is empty */
  ev_embed_init(&e, embed_cb, inner);
  ev_embed_start(l, &e);
  ev_timer_init(&guard, guard_cb, 3., 0.);
  ev_timer_start(l, &guard);
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(embed_cb_calls, 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_run(l, 0);
  assert_int_equal(guard_fired, 0);
  assert_int_equal(embed_cb_calls, 1);
  assert_int_equal(embed_cb_rev, EV_EMBED);
  assert_int_equal(inner_calls_before_sweep, 0);
  assert_int_equal(inner_calls_after_sweep, 1);
  assert_int_equal(inner_io_rev, EV_READ);
  ev_timer_stop(l, &guard);
  ev_embed_stop(l, &e);
  ev_loop_destroy(inner);
  ev_loop_destroy(l);
  close_pipe(p);
}

/* ------------------------------------------------------------------------------------------ */
/* ev_once                                                                                    */

static int once_calls, once_rev;
static void *once_arg;
static void once_cb(int rev, void *arg)
{
  once_calls++;
  once_rev = rev;
  once_arg = arg;
}

static void once_on_a_ready_fd_passes_EV_READ_and_the_argument(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  once_calls = once_rev = 0;
  once_arg = NULL;
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_once(l, p[0], EV_READ, 5., once_cb, (void *)0x1234);
  double t0 = mono();
  assert_int_equal(ev_run(l, 0), 0);
  assert_between(mono() - t0, 0., 1.); /* the 5 s timeout was stopped too */
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_READ);
  assert_ptr_equal(once_arg, (void *)0x1234);
  ev_loop_destroy(l);
  close_pipe(p);
}

static void once_without_fd_is_a_timer(void **state)
{
  struct ev_loop *l = test_loop(0);
  once_calls = once_rev = 0;
  double t0 = mono(); /* before the loop's clock: the delay is a lower bound from here */
  ev_now_update(l);
  ev_once(l, -1, EV_READ, 0.02, once_cb, (void *)7);
  assert_int_equal(ev_run(l, 0), 0);
  assert_between(mono() - t0, 0.02, 2.);
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_TIMER);
  assert_ptr_equal(once_arg, (void *)7);

  once_calls = 0;
  ev_once(l, -1, 0, 0., once_cb, NULL); /* timeout 0 is valid */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_TIMER);
  ev_loop_destroy(l);
}

static void once_with_negative_timeout_waits_for_io_only(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  once_calls = once_rev = 0;
  ev_once(l, p[0], EV_READ, -1., once_cb, NULL);
  usleep(20000);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  assert_int_equal(once_calls, 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_READ);

  once_calls = 0;
  ev_once(l, p[1], EV_WRITE, -1., once_cb, NULL);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_WRITE);
  ev_loop_destroy(l);
  close_pipe(p);
}

static void once_times_out_when_the_fd_stays_idle(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  once_calls = once_rev = 0;
  ev_once(l, p[0], EV_READ, 0.02, once_cb, NULL);
  assert_int_equal(ev_run(l, 0), 0);
  assert_int_equal(once_calls, 1);
  assert_int_equal(once_rev, EV_TIMER);
  ev_loop_destroy(l);
  close_pipe(p);
}

/* Tracks the blocks allocated while it is installed (realloc semantics). */
enum { MAXBLOCKS = 64 };
static void *blocks[MAXBLOCKS];
static int nallocs;
static void *tracking_alloc(void *p, long n)
{
  int slot = -1;
  for (int i = 0; p && i < MAXBLOCKS; i++)
    if (blocks[i] == p)
      slot = i;
  if (!n) {
    if (slot >= 0)
      blocks[slot] = NULL;
    free(p);
    return NULL;
  }
  void *q = realloc(p, n);
  if (!p) {
    nallocs++;
    for (int i = 0; i < MAXBLOCKS; i++)
      if (!blocks[i]) {
        blocks[i] = q;
        break;
      }
  } else if (slot >= 0) {
    blocks[slot] = q;
  }
  return q;
}
static void *plain_alloc(void *p, long n)
{
  if (n)
    return realloc(p, n);
  free(p);
  return 0;
}

static void once_uses_the_library_allocator_and_frees_everything(void **state)
{
  struct ev_loop *l = test_loop(0);
  int p[2];
  make_pipe(p);
  /* warm up: let the loop size its arrays for this fd and one timer */
  ev_once(l, p[0], EV_READ, 5., once_cb, NULL);
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_run(l, 0);
  char buf[8];
  assert_int_equal(read(p[0], buf, sizeof buf), 1);

  memset(blocks, 0, sizeof blocks);
  nallocs = once_calls = 0;
  ev_set_allocator(tracking_alloc);
  ev_once(l, p[0], EV_READ, 5., once_cb, NULL);
  int allocs_by_once = nallocs;
  assert_int_equal(write(p[1], "x", 1), 1);
  ev_run(l, 0);
  ev_set_allocator(plain_alloc);
  assert_int_equal(once_calls, 1);
  assert_true(allocs_by_once >= 1);
  for (int i = 0; i < MAXBLOCKS; i++)
    assert_null(blocks[i]);
  ev_loop_destroy(l);
  close_pipe(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(idle_is_called_with_EV_IDLE_every_iteration_until_stopped),
    cmocka_unit_test(prepare_and_check_run_once_per_iteration_and_keep_the_loop_alive),
    cmocka_unit_test(fork_watcher_is_called_with_EV_FORK_only_after_ev_loop_fork),
    cmocka_unit_test(forkcheck_runs_fork_watchers_in_a_forked_child),
    cmocka_unit_test(loop_fork_in_a_forked_child_runs_fork_watchers_and_keeps_io_working),
    cmocka_unit_test(cleanup_is_called_with_EV_CLEANUP_on_destroy_if_active),
    cmocka_unit_test(async_send_from_another_thread_wakes_a_blocked_loop),
    cmocka_unit_test(async_send_from_a_signal_handler_wakes_the_loop),
    cmocka_unit_test(async_sends_coalesce_and_sent_is_reset_by_the_loop),
    cmocka_unit_test(async_sends_racing_with_the_loop_are_all_delivered),
    cmocka_unit_test(async_sends_from_threads_in_lockstep_are_each_delivered_once),
    cmocka_unit_test(embed_start_activates_the_inner_io_prepare_and_fork_watchers),
    cmocka_unit_test(embed_without_callback_runs_the_embedded_loop_automatically),
    cmocka_unit_test(embed_callback_gets_EV_EMBED_and_sweep_runs_the_embedded_loop),
    cmocka_unit_test(embed_keeps_working_after_the_embedded_loop_renews_its_epoll_set),
    cmocka_unit_test(once_on_a_ready_fd_passes_EV_READ_and_the_argument),
    cmocka_unit_test(once_without_fd_is_a_timer),
    cmocka_unit_test(once_with_negative_timeout_waits_for_io_only),
    cmocka_unit_test(once_times_out_when_the_fd_stays_idle),
    cmocka_unit_test(once_uses_the_library_allocator_and_frees_everything),
  };
  return TEST_MAIN("watchers", tests);
}
