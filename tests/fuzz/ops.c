/* ops.c - the operations of an evfuzz step, each chosen by weight from the seed's stream.
 *
 * Every operation keeps to the rules under which Debian's libev is defined: an fd is closed
 * (or replaced by dup2) only when no active io watcher uses its number, an io watcher whose
 * number was closed or replaced since its last ev_io_set gets ev_io_set again before it is
 * started, ev_io_set and ev_set_priority only touch stopped, non-pending watchers,
 * ev_async_send waits until an ev_async was started (libev needs the loop's wakeup fd for
 * it), and only signals that are harmless by default are raised. An operation that does not
 * apply to the current state returns 0 and the step draws another one. */
#include "fuzz.h"
#include "ops.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

unsigned fz_op_count[FZ_NOPS];
unsigned fz_op_disabled[FZ_NOPS];

static struct fz_w *pick(struct fz_rng *r, enum fz_kind kind)
{
  int n = 0;
  for (int i = 0; i < fz_first_special; i++)
    n += fz_ws[i].kind == kind;
  if (!n)
    return NULL;
  int k = (int)fz_below(r, (unsigned)n);
  for (int i = 0; i < fz_first_special; i++)
    if (fz_ws[i].kind == kind && k-- == 0)
      return &fz_ws[i];
  return NULL;
}

static struct fz_w *pick_any(struct fz_rng *r)
{
  return &fz_ws[fz_below(r, (unsigned)fz_first_special)];
}

/* a random open slot satisfying ok (NULL: any open slot), or -1 */
static int pick_slot(struct fz_rng *r, int (*ok)(int))
{
  int cand[FZ_SLOTS], n = 0;
  for (int i = 0; i < FZ_SLOTS; i++)
    if (fz_fds[i].open && (!ok || ok(i)))
      cand[n++] = i;
  return n ? cand[fz_below(r, (unsigned)n)] : -1;
}

static int no_active_io(int slot)
{
  for (int i = 0; i < fz_first_special; i++)
    if (fz_ws[i].kind == FZ_IO && fz_ws[i].u.io.fd == FZ_FD_BASE + slot && fz_active(&fz_ws[i]))
      return 0;
  return 1;
}

/* the number behind slot now names another file (or none): watchers on it must be set again */
static void renumbered(int slot)
{
  for (int i = 0; i < fz_first_special; i++)
    if (fz_ws[i].kind == FZ_IO && fz_ws[i].u.io.fd == FZ_FD_BASE + slot)
      fz_ws[i].dirty = 1;
}

static int op_pipe(struct ev_loop *l, struct fz_rng *r)
{
  (void)l, (void)r;
  int a = fz_fd_open_pair(FZ_PIPE);
  if (a < 0)
    return 0;
  fprintf(fz_out, " f%d", a);
  return 1;
}

static int op_sockpair(struct ev_loop *l, struct fz_rng *r)
{
  (void)l, (void)r;
  int a = fz_fd_open_pair(FZ_SOCK);
  if (a < 0)
    return 0;
  fprintf(fz_out, " f%d", a);
  return 1;
}

static int op_dup(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int s = pick_slot(r, NULL);
  int t = s < 0 ? -1 : fz_fd_dup(s);
  if (t < 0)
    return 0;
  fprintf(fz_out, " f%d->f%d", s, t);
  return 1;
}

static int op_dup_onto(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int s = pick_slot(r, NULL);
  int t = pick_slot(r, no_active_io);
  if (s < 0 || t < 0 || s == t || fz_fd_dup_onto(s, t) < 0)
    return 0;
  renumbered(t);
  fprintf(fz_out, " f%d->f%d", s, t);
  return 1;
}

static int op_close(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int s = pick_slot(r, no_active_io);
  if (s < 0)
    return 0;
  fz_fd_close(s);
  renumbered(s);
  fprintf(fz_out, " f%d", s);
  return 1;
}

static int op_write(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int s = pick_slot(r, fz_fd_can_write);
  if (s < 0)
    return 0;
  unsigned n = 1 + fz_below(r, 64);
  fprintf(fz_out, " f%d %u=%d", s, n, fz_fd_write(s, n));
  return 1;
}

static int op_read(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int s = pick_slot(r, fz_fd_can_read);
  if (s < 0)
    return 0;
  unsigned n = 1 + fz_below(r, 64);
  fprintf(fz_out, " f%d %u=%d", s, n, fz_fd_read(s, n));
  return 1;
}

static int readable_or_writable(int slot)
{
  return fz_fd_can_read(slot) || fz_fd_can_write(slot);
}

/* (re)binds a stopped io watcher to a random open fd with a mask it can report */
static int io_bind(struct fz_w *w, struct fz_rng *r, int keep_fd)
{
  int s = w->u.io.fd - FZ_FD_BASE;
  if (!keep_fd || w->dirty || !fz_fds[s].open)
    s = pick_slot(r, readable_or_writable);
  if (s < 0)
    return 0;
  int mask = (fz_fd_can_read(s) ? EV_READ : 0) | (fz_fd_can_write(s) ? EV_WRITE : 0);
  if (mask == (EV_READ | EV_WRITE))
    mask = 1 + (int)fz_below(r, 3);
  else if (fz_below(r, 4) == 0)
    mask = EV_READ | EV_WRITE;
  ev_io_set(&w->u.io, FZ_FD_BASE + s, mask);
  w->dirty = 0;
  return 1;
}

static int op_io_start(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_IO);
  if (fz_active(w))
    return 0;
  int s = w->u.io.fd - FZ_FD_BASE;
  if (w->dirty || !fz_fds[s].open || fz_below(r, 2)) {
    if (!io_bind(w, r, 0))
      return 0;
    fprintf(fz_out, " set");
  }
  ev_io_start(l, &w->u.io);
  fprintf(fz_out, " %s f%d m%d", w->name, w->u.io.fd - FZ_FD_BASE, w->u.io.events & 3);
  return 1;
}

static int op_io_stop(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_IO);
  if (!fz_active(w) && fz_below(r, 4))
    return 0;
  ev_io_stop(l, &w->u.io);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

/* stop, set to a new mask (same fd unless its number was renumbered), start */
static int op_io_reset(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_IO);
  if (!fz_active(w))
    return 0;
  ev_io_stop(l, &w->u.io);
  if (!io_bind(w, r, (int)fz_below(r, 4)))
    return 1;
  ev_io_start(l, &w->u.io);
  fprintf(fz_out, " %s f%d m%d", w->name, w->u.io.fd - FZ_FD_BASE, w->u.io.events & 3);
  return 1;
}

/* stop, ev_io_modify (keeps the fd), start */
static int op_io_modify(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_IO);
  if (!fz_active(w))
    return 0;
  int s = w->u.io.fd - FZ_FD_BASE;
  int mask = (fz_fd_can_read(s) ? EV_READ : 0) | (fz_fd_can_write(s) ? EV_WRITE : 0);
  if (fz_below(r, 3) == 0)
    mask = EV_READ | EV_WRITE;
  ev_io_stop(l, &w->u.io);
  ev_io_modify(&w->u.io, mask);
  ev_io_start(l, &w->u.io);
  fprintf(fz_out, " %s m%d", w->name, mask);
  return 1;
}

static int op_timer_zero(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_TIMER);
  static const double after[] = { 0., -1., 0. };
  static const double repeat[] = { 0., 0., 1000. };
  unsigned k = fz_below(r, 3);
  ev_timer_stop(l, &w->u.timer);
  ev_timer_set(&w->u.timer, after[k], repeat[k]);
  ev_timer_start(l, &w->u.timer);
  fprintf(fz_out, " %s %g %g", w->name, after[k], repeat[k]);
  return 1;
}

static int op_timer_far(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_TIMER);
  ev_timer_stop(l, &w->u.timer);
  ev_timer_set(&w->u.timer, 1000., 0.);
  ev_timer_start(l, &w->u.timer);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

static int op_timer_stop(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_TIMER);
  ev_timer_stop(l, &w->u.timer);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

/* ev_timer_again with the watcher's repeat (0: stops it; 1000: rearms it far away) */
static int op_timer_again(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_TIMER);
  ev_timer_again(l, &w->u.timer);
  fprintf(fz_out, " %s rep%g act%d", w->name, w->u.timer.repeat, fz_active(w));
  return 1;
}

/* ev_fork watchers are only started by loop-fork (see op_loop_fork) */
static const enum fz_kind simple_kinds[] = { FZ_IDLE, FZ_PREPARE, FZ_CHECK, FZ_ASYNC };

static int op_simple_start(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, simple_kinds[fz_below(r, 4)]);
  fz_start(l, w);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

static int op_simple_stop(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, simple_kinds[fz_below(r, 4)]);
  fz_stop(l, w);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

static int op_sig_start(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_SIGNAL);
  if (!fz_active(w) && !fz_pending(w) && fz_below(r, 3) == 0)
    ev_signal_set(&w->u.sig, fz_signals[fz_below(r, 3)]);
  ev_signal_start(l, &w->u.sig);
  fprintf(fz_out, " %s sig%d", w->name, w->u.sig.signum);
  return 1;
}

static int op_sig_stop(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_SIGNAL);
  ev_signal_stop(l, &w->u.sig);
  fprintf(fz_out, " %s", w->name);
  return 1;
}

static int op_raise(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  int sig = fz_signals[fz_below(r, 3)];
  raise(sig);
  fprintf(fz_out, " sig%d", sig);
  return 1;
}

/* two different signals before one ev_run */
static int op_raise2(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  unsigned a = fz_below(r, 3), b = (a + 1 + fz_below(r, 2)) % 3;
  raise(fz_signals[a]);
  raise(fz_signals[b]);
  fprintf(fz_out, " sig%d sig%d", fz_signals[a], fz_signals[b]);
  return 1;
}

static int op_async_send(struct ev_loop *l, struct fz_rng *r)
{
  struct fz_w *w = pick(r, FZ_ASYNC);
  if (!fz_async_started)
    return 0;
  ev_async_send(l, &w->u.async);
  fprintf(fz_out, " %s pend%d", w->name, ev_async_pending(&w->u.async) != 0);
  return 1;
}

static const int feed_events[] = { EV_READ, EV_WRITE, EV_READ | EV_WRITE, EV_CUSTOM, EV_TIMER };

static int op_feed(struct ev_loop *l, struct fz_rng *r)
{
  unsigned n = 1 + fz_below(r, 3);
  for (unsigned i = 0; i < n; i++) {
    struct fz_w *w = pick_any(r);
    int ev = feed_events[fz_below(r, 5)];
    ev_feed_event(l, &w->u.w, ev);
    fprintf(fz_out, " %s:%x", w->name, (unsigned)ev);
  }
  fprintf(fz_out, " n%u", ev_pending_count(l));
  return 1;
}

static int op_feed_fd(struct ev_loop *l, struct fz_rng *r)
{
  int s = pick_slot(r, NULL);
  if (s < 0)
    return 0;
  int ev = 1 + (int)fz_below(r, 3);
  ev_feed_fd_event(l, FZ_FD_BASE + s, ev);
  fprintf(fz_out, " f%d:%x n%u", s, (unsigned)ev, ev_pending_count(l));
  return 1;
}

static int op_feed_signal(struct ev_loop *l, struct fz_rng *r)
{
  int sig = fz_signals[fz_below(r, 3)];
  ev_feed_signal_event(l, sig);
  fprintf(fz_out, " sig%d n%u", sig, ev_pending_count(l));
  return 1;
}

/* feed one or two watchers, then clear the pending events of a random one */
static int op_clear_pending(struct ev_loop *l, struct fz_rng *r)
{
  unsigned n = fz_below(r, 3);
  for (unsigned i = 0; i < n; i++) {
    struct fz_w *w = pick_any(r);
    int ev = feed_events[fz_below(r, 5)];
    ev_feed_event(l, &w->u.w, ev);
    fprintf(fz_out, " %s:%x", w->name, (unsigned)ev);
  }
  struct fz_w *w = pick_any(r);
  int got = ev_clear_pending(l, &w->u.w);
  fprintf(fz_out, " clear:%s=%x n%u", w->name, (unsigned)got, ev_pending_count(l));
  return 1;
}

static int op_invoke_pending(struct ev_loop *l, struct fz_rng *r)
{
  (void)r;
  fprintf(fz_out, " n%u\n", ev_pending_count(l));
  ev_invoke_pending(l);
  fz_fd_apply_deferred();
  fprintf(fz_out, "invoked n%u", ev_pending_count(l));
  return 1;
}

static int op_setpri(struct ev_loop *l, struct fz_rng *r)
{
  (void)l;
  struct fz_w *w = pick_any(r);
  if (fz_active(w) || fz_pending(w))
    return 0;
  int pri = EV_MINPRI + 1 + (int)fz_below(r, EV_MAXPRI - EV_MINPRI);
  ev_set_priority(&w->u.w, pri);
  fprintf(fz_out, " %s p%d", w->name, pri);
  return 1;
}

/* Starts some ev_fork watchers, which main.c stops again after this step's ev_run: Debian's
 * libev also queues the fork watchers, without any ev_loop_fork, when its epoll backend
 * rebuilds the epoll set after an event for a stale registration (an fd closed while a dup
 * kept its file registered). That is libev's internal mechanism, not a promise, so fork
 * watchers are only active in the one iteration where a fork was announced. */
static int op_loop_fork(struct ev_loop *l, struct fz_rng *r)
{
  for (int i = 0; i < fz_first_special; i++)
    if (fz_ws[i].kind == FZ_FORK && fz_below(r, 3)) {
      ev_fork_start(l, &fz_ws[i].u.fork);
      fprintf(fz_out, " %s", fz_ws[i].name);
    }
  ev_loop_fork(l);
  return 1;
}

static int op_nest(struct ev_loop *l, struct fz_rng *r)
{
  (void)r;
  ev_timer_stop(l, &fz_nest->u.timer);
  ev_timer_set(&fz_nest->u.timer, 0., 0.);
  ev_timer_start(l, &fz_nest->u.timer);
  return 1;
}

static void on_release(struct ev_loop *l)
{
  fprintf(fz_out, "rel d%u i%u\n", ev_depth(l), ev_iteration(l));
}

static void on_acquire(struct ev_loop *l)
{
  fprintf(fz_out, "acq d%u i%u\n", ev_depth(l), ev_iteration(l));
}

/* installs or removes a release/acquire pair, which libev calls around every backend poll */
static int op_release_cb(struct ev_loop *l, struct fz_rng *r)
{
  static int on;
  (void)r;
  on = !on;
  if (on)
    ev_set_loop_release_cb(l, on_release, on_acquire);
  else
    ev_set_loop_release_cb(l, NULL, NULL);
  fprintf(fz_out, " %s", on ? "on" : "off");
  return 1;
}

const struct fz_op fz_ops[FZ_NOPS] = {
  { "pipe", 3, op_pipe },
  { "sockpair", 3, op_sockpair },
  { "dup", 2, op_dup },
  { "dup2", 1, op_dup_onto },
  { "close", 4, op_close },
  { "write", 9, op_write },
  { "read", 4, op_read },
  { "io-start", 12, op_io_start },
  { "io-stop", 5, op_io_stop },
  { "io-reset", 5, op_io_reset },
  { "io-modify", 2, op_io_modify },
  { "timer-zero", 4, op_timer_zero },
  { "timer-far", 1, op_timer_far },
  { "timer-stop", 2, op_timer_stop },
  { "timer-again", 1, op_timer_again },
  { "start", 6, op_simple_start },
  { "stop", 4, op_simple_stop },
  { "sig-start", 2, op_sig_start },
  { "sig-stop", 1, op_sig_stop },
  { "raise", 3, op_raise },
  { "raise2", 1, op_raise2 },
  { "async-send", 3, op_async_send },
  { "feed", 3, op_feed },
  { "feed-fd", 2, op_feed_fd },
  { "feed-signal", 1, op_feed_signal },
  { "clear-pending", 2, op_clear_pending },
  { "invoke-pending", 2, op_invoke_pending },
  { "setpri", 2, op_setpri },
  { "loop-fork", 1, op_loop_fork },
  { "nest", 2, op_nest },
  { "release-cb", 1, op_release_cb },
};

int fz_op_find(const char *name)
{
  for (int i = 0; i < FZ_NOPS; i++)
    if (!strcmp(fz_ops[i].name, name))
      return i;
  return -1;
}

void fz_op_step(struct ev_loop *l, struct fz_rng *r, unsigned step)
{
  unsigned total = 0;
  for (int i = 0; i < FZ_NOPS; i++)
    total += fz_op_disabled[i] ? 0 : fz_ops[i].weight;
  FILE *out = fz_out;
  for (int tries = 0; tries < 50 && total; tries++) {
    unsigned x = fz_below(r, total);
    int i = 0;
    for (;; i++) {
      if (fz_op_disabled[i])
        continue;
      if (x < fz_ops[i].weight)
        break;
      x -= fz_ops[i].weight;
    }
    /* The operation prints its arguments (and, for invoke-pending, callbacks) into a buffer
     * that is dropped when it refuses to apply. */
    char *buf = NULL;
    size_t len = 0;
    fz_out = open_memstream(&buf, &len);
    if (!fz_out) {
      perror("evfuzz: open_memstream");
      exit(3);
    }
    int done = fz_ops[i].fn(l, r);
    fclose(fz_out);
    fz_out = out;
    if (done) {
      fprintf(fz_out, "s%u %s%s\n", step, fz_ops[i].name, buf);
      fz_op_count[i]++;
    }
    free(buf);
    if (done)
      return;
  }
  fprintf(fz_out, "s%u none\n", step);
}
