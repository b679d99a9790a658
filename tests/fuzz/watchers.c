/* watchers.c - evfuzz's watcher pool and its callbacks.
 *
 * A callback's actions are a function of (seed, watcher id, how many times that watcher's
 * callback ran before), never of a shared random stream, so they do not depend on the order
 * in which a library invokes the watchers of one priority (the order the trace normaliser
 * does not compare). For the same reason a callback only acts on itself, on watchers of
 * strictly lower priority (which cannot have run yet in this pass over the pending queue),
 * on descriptors through deferred byte counts (fz_fd_apply_deferred() after ev_run and
 * before the nester's nested runs), and through actions whose order does not matter:
 * ev_async_send, raise, ev_break(EVBREAK_ONE). */
#include "fuzz.h"

#include <signal.h>
#include <string.h>

struct fz_w fz_ws[FZ_NW];
int fz_nw;
int fz_first_special;
struct fz_w *fz_nest, *fz_guard, *fz_breaker;
unsigned fz_breaker_left;
int fz_async_started;
/* harmless by default (SIGURG, SIGWINCH: ignored; SIGCONT: continue), so raising them with
 * no watcher active changes nothing */
const int fz_signals[3] = { SIGURG, SIGWINCH, SIGCONT };

#define FZ_MAX_DEPTH 3

static struct fz_w *of(void *ev_w)
{
  return ((ev_watcher *)ev_w)->data;
}

int fz_active(struct fz_w *w)
{
  return ev_is_active(&w->u.w);
}

int fz_pending(struct fz_w *w)
{
  return ev_is_pending(&w->u.w);
}

void fz_start(struct ev_loop *loop, struct fz_w *w)
{
  switch (w->kind) {
  case FZ_IO: ev_io_start(loop, &w->u.io); break;
  case FZ_TIMER:
  case FZ_NEST: ev_timer_start(loop, &w->u.timer); break;
  case FZ_IDLE:
  case FZ_GUARD: ev_idle_start(loop, &w->u.idle); break;
  case FZ_PREPARE: ev_prepare_start(loop, &w->u.prepare); break;
  case FZ_CHECK:
  case FZ_BREAKER: ev_check_start(loop, &w->u.check); break;
  case FZ_SIGNAL: ev_signal_start(loop, &w->u.sig); break;
  case FZ_ASYNC: ev_async_start(loop, &w->u.async); fz_async_started = 1; break;
  case FZ_FORK: ev_fork_start(loop, &w->u.fork); break;
  }
}

void fz_stop(struct ev_loop *loop, struct fz_w *w)
{
  switch (w->kind) {
  case FZ_IO: ev_io_stop(loop, &w->u.io); break;
  case FZ_TIMER:
  case FZ_NEST: ev_timer_stop(loop, &w->u.timer); break;
  case FZ_IDLE:
  case FZ_GUARD: ev_idle_stop(loop, &w->u.idle); break;
  case FZ_PREPARE: ev_prepare_stop(loop, &w->u.prepare); break;
  case FZ_CHECK:
  case FZ_BREAKER: ev_check_stop(loop, &w->u.check); break;
  case FZ_SIGNAL: ev_signal_stop(loop, &w->u.sig); break;
  case FZ_ASYNC: ev_async_stop(loop, &w->u.async); break;
  case FZ_FORK: ev_fork_stop(loop, &w->u.fork); break;
  }
}

static void on_event(struct ev_loop *loop, struct fz_w *w, int revents);

static void io_cb(struct ev_loop *l, ev_io *w, int r) { on_event(l, of(w), r); }
static void timer_cb(struct ev_loop *l, ev_timer *w, int r) { on_event(l, of(w), r); }
static void idle_cb(struct ev_loop *l, ev_idle *w, int r) { on_event(l, of(w), r); }
static void prepare_cb(struct ev_loop *l, ev_prepare *w, int r) { on_event(l, of(w), r); }
static void check_cb(struct ev_loop *l, ev_check *w, int r) { on_event(l, of(w), r); }
static void signal_cb(struct ev_loop *l, ev_signal *w, int r) { on_event(l, of(w), r); }
static void async_cb(struct ev_loop *l, ev_async *w, int r) { on_event(l, of(w), r); }
static void fork_cb(struct ev_loop *l, ev_fork *w, int r) { on_event(l, of(w), r); }

static struct fz_w *add(enum fz_kind kind, const char *prefix, int idx, int pri)
{
  struct fz_w *w = &fz_ws[fz_nw];
  w->id = fz_nw++;
  w->kind = kind;
  snprintf(w->name, sizeof w->name, "%s%d", prefix, idx);
  switch (kind) {
  case FZ_IO: ev_io_init(&w->u.io, io_cb, FZ_FD_BASE, EV_READ); w->dirty = 1; break;
  case FZ_TIMER:
  case FZ_NEST: ev_timer_init(&w->u.timer, timer_cb, 0., 0.); break;
  case FZ_IDLE:
  case FZ_GUARD: ev_idle_init(&w->u.idle, idle_cb); break;
  case FZ_PREPARE: ev_prepare_init(&w->u.prepare, prepare_cb); break;
  case FZ_CHECK:
  case FZ_BREAKER: ev_check_init(&w->u.check, check_cb); break;
  case FZ_SIGNAL: ev_signal_init(&w->u.sig, signal_cb, fz_signals[idx % 3]); break;
  case FZ_ASYNC: ev_async_init(&w->u.async, async_cb); break;
  case FZ_FORK: ev_fork_init(&w->u.fork, fork_cb); break;
  }
  w->u.w.data = w;
  ev_set_priority(&w->u.w, pri);
  return w;
}

/* Ordinary watchers get priorities EV_MINPRI+1..EV_MAXPRI: EV_MINPRI belongs to the nester
 * alone, so that when it runs nothing else can still be pending from the outer iteration. */
static int random_pri(struct fz_rng *r)
{
  return EV_MINPRI + 1 + (int)fz_below(r, EV_MAXPRI - EV_MINPRI);
}

void fz_watchers_init(struct ev_loop *loop, struct fz_rng *r)
{
  (void)loop;
  static const struct { enum fz_kind kind; const char *prefix; int n; } pool[] = {
    { FZ_IO, "io", 14 },    { FZ_TIMER, "tm", 4 }, { FZ_IDLE, "id", 3 },
    { FZ_PREPARE, "pr", 2 }, { FZ_CHECK, "ck", 2 }, { FZ_SIGNAL, "sg", 4 },
    { FZ_ASYNC, "as", 2 },  { FZ_FORK, "fk", 2 },
  };
  for (size_t k = 0; k < sizeof pool / sizeof pool[0]; k++)
    for (int i = 0; i < pool[k].n; i++)
      add(pool[k].kind, pool[k].prefix, i, random_pri(r));
  fz_first_special = fz_nw;
  fz_nest = add(FZ_NEST, "NEST", 0, EV_MINPRI);
  fz_guard = add(FZ_GUARD, "GUARD", 0, 0);
  fz_breaker = add(FZ_BREAKER, "BRK", 0, EV_MAXPRI);
}

void fz_step_reset(void)
{
  for (int i = 0; i < fz_nw; i++)
    fz_ws[i].feeds = 0;
}

void fz_state_line(void)
{
  fprintf(fz_out, "state ");
  for (int i = 0; i < fz_nw; i++)
    fputc(fz_pending(&fz_ws[i]) ? 'P' : fz_active(&fz_ws[i]) ? 'A' : '.', fz_out);
  fputc('\n', fz_out);
}

void fz_stop_all(struct ev_loop *loop)
{
  for (int i = 0; i < fz_nw; i++) {
    ev_clear_pending(loop, &fz_ws[i].u.w);
    fz_stop(loop, &fz_ws[i]);
  }
}

static const int feed_events[] = { EV_READ, EV_WRITE, EV_READ | EV_WRITE, EV_CUSTOM, EV_TIMER };

/* an ordinary watcher of strictly lower priority than w chosen by r, or NULL */
static struct fz_w *lower(struct fz_w *w, struct fz_rng *r)
{
  struct fz_w *t = &fz_ws[fz_below(r, fz_first_special + 1)];
  if (t - fz_ws == fz_first_special)
    t = fz_nest;
  return ev_priority(&t->u.w) < ev_priority(&w->u.w) ? t : NULL;
}

static void io_reset(struct ev_loop *loop, struct fz_w *w, int mask)
{
  ev_io_stop(loop, &w->u.io);
  ev_io_set(&w->u.io, w->u.io.fd, mask);
  ev_io_start(loop, &w->u.io);
}

static void nest(struct ev_loop *loop, struct fz_w *w, struct fz_rng *r)
{
  fz_fd_apply_deferred();
  if (ev_depth(loop) < FZ_MAX_DEPTH && fz_below(r, 3) == 0) {
    ev_timer_set(&w->u.timer, 0., 0.);
    ev_timer_start(loop, &w->u.timer);
    fprintf(fz_out, "nest-restart\n");
  }
  unsigned runs = 1 + fz_below(r, 2);
  for (unsigned i = 0; i < runs; i++) {
    ev_run(loop, EVRUN_NOWAIT);
    fz_fd_apply_deferred();
    fprintf(fz_out, "nested-ret d%u i%u n%u\n", ev_depth(loop), ev_iteration(loop),
            ev_pending_count(loop));
  }
  if (fz_below(r, 4) == 0) {
    ev_break(loop, EVBREAK_ALL);
    fprintf(fz_out, "nest-breakall\n");
  }
}

static void on_event(struct ev_loop *loop, struct fz_w *w, int revents)
{
  struct fz_rng r = { fz_seed ^ fz_mix((uint64_t)w->id * 1000003u + w->calls++) };
  fprintf(fz_out, "cb d%u i%u p%d %s r%x", ev_depth(loop), ev_iteration(loop),
          ev_priority(&w->u.w), w->name, (unsigned)revents);

  if (w->kind == FZ_NEST) {
    fputc('\n', fz_out);
    nest(loop, w, &r);
    return;
  }
  if (w->kind == FZ_GUARD) {
    fputc('\n', fz_out);
    return;
  }
  if (w->kind == FZ_BREAKER) {
    /* keeps breaking once the count is reached: a nested ev_run inside this iteration
     * would otherwise consume the break (ev_run resets EVBREAK_ONE when it returns) */
    if (fz_breaker_left <= 1 || --fz_breaker_left == 0) {
      fz_breaker_left = 0;
      ev_break(loop, EVBREAK_ONE);
      fprintf(fz_out, " break");
    }
    fputc('\n', fz_out);
    return;
  }

  if (w->kind == FZ_IO) {
    struct fz_fd *f = &fz_fds[w->u.io.fd - FZ_FD_BASE];
    unsigned k = fz_below(&r, 24);
    if ((revents & EV_READ) && k < 17 && k) {
      f->dread += k;
      fprintf(fz_out, " rd%u", k);
    }
    k = fz_below(&r, 40);
    if ((revents & EV_WRITE) && k < 17 && k) {
      f->dwrite += k;
      fprintf(fz_out, " wr%u", k);
    }
  }

  unsigned a = fz_below(&r, 100);
  struct fz_w *t;
  /* Sends and signals wake the loop through libev's internal wakeup watcher, an io watcher
   * of priority EV_MAXPRI. From a callback of that priority, whether the wakeup is seen in
   * this iteration or the next depends on the unspecified order among EV_MAXPRI watchers
   * (seen after ev_loop_fork, which makes libev queue its wakeup watcher every time). */
  if (a >= 22 && a < 27 && ev_priority(&w->u.w) == EV_MAXPRI)
    a = 99;
  if (a < 8) {
    fz_stop(loop, w);
    fprintf(fz_out, " stop");
  } else if (a < 15) {
    switch (w->kind) {
    case FZ_IO: {
      int mask = 1 + (int)fz_below(&r, 3);
      if (fz_active(w)) {
        io_reset(loop, w, mask);
        fprintf(fz_out, " mask%d", mask);
      }
      break;
    }
    case FZ_TIMER:
      ev_timer_stop(loop, &w->u.timer);
      ev_timer_set(&w->u.timer, 0., 0.);
      ev_timer_start(loop, &w->u.timer);
      fprintf(fz_out, " again0");
      break;
    case FZ_SIGNAL:
    case FZ_ASYNC:
    case FZ_FORK:
    case FZ_IDLE:
    case FZ_PREPARE:
    case FZ_CHECK:
      fz_stop(loop, w);
      fz_start(loop, w);
      fprintf(fz_out, " restart");
      break;
    default: break;
    }
  } else if (a < 19) {
    if ((t = lower(w, &r))) {
      int ev = feed_events[fz_below(&r, 5)];
      ev_feed_event(loop, &t->u.w, ev);
      fprintf(fz_out, " feed:%s:%x", t->name, (unsigned)ev);
    }
  } else if (a < 22) {
    if (w->feeds < 2) {
      w->feeds++;
      ev_feed_event(loop, &w->u.w, EV_CUSTOM);
      fprintf(fz_out, " feedself");
    }
  } else if (a < 25) {
    t = &fz_ws[0];
    for (int i = 0; i < fz_nw; i++)
      if (fz_ws[i].kind == FZ_ASYNC && fz_below(&r, 2))
        t = &fz_ws[i];
    if (t->kind == FZ_ASYNC && fz_async_started) {
      ev_async_send(loop, &t->u.async);
      fprintf(fz_out, " send:%s", t->name);
    }
  } else if (a < 27) {
    int sig = fz_signals[fz_below(&r, 3)];
    raise(sig);
    fprintf(fz_out, " raise:%d", sig);
  } else if (a < 30) {
    if ((t = lower(w, &r))) {
      fz_stop(loop, t);
      fprintf(fz_out, " stop:%s", t->name);
    }
  } else if (a < 32) {
    /* only EVBREAK_ONE here: ev_break(ONE) after ev_break(ALL) turns it into ONE, so mixing
     * them in one priority would make the outcome depend on the order; the nester, which
     * runs last, uses EVBREAK_ALL */
    ev_break(loop, EVBREAK_ONE);
    fprintf(fz_out, " break1");
  }
  fputc('\n', fz_out);
}
