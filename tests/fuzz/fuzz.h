/* fuzz.h - shared state of evfuzz, the differential fuzzer (see tests/fuzz/README).
 *
 * evfuzz runs one deterministic random program, chosen by a seed, against whichever
 * libev.so.4 the dynamic linker gives it (Debian's or evring's) and prints a trace: one line
 * per operation, per callback and per ev_run return. tests/fuzz/run-seed runs it on both
 * libraries and compares the normalised traces. */
#ifndef EVFUZZ_H
#define EVFUZZ_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <ev.h>

/* ---- random numbers: splitmix64, the same sequence on every machine ---- */
static inline uint64_t fz_mix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct fz_rng {
  uint64_t s;
};

static inline uint64_t fz_next(struct fz_rng *r)
{
  r->s += 0x9e3779b97f4a7c15ull;
  return fz_mix(r->s);
}

/* uniform enough in [0, n); 0 when n == 0 */
static inline unsigned fz_below(struct fz_rng *r, unsigned n)
{
  return n ? (unsigned)(fz_next(r) % n) : 0;
}

/* ---- the program's file descriptors (fds.c) ---- */
/* Every descriptor of the program lives at FZ_FD_BASE + slot, allocated lowest-free like the
 * kernel does, so the numbers (and their reuse) do not depend on how many descriptors the
 * library under test holds. Traces print slots ("f3"), never raw numbers. */
#define FZ_FD_BASE 200
#define FZ_SLOTS 16

enum fz_fdkind { FZ_PIPE, FZ_SOCK };

struct fz_fd {
  int open;
  int obj;           /* which pipe or socketpair */
  int end;           /* pipe: 0 read end, 1 write end; socketpair: 0 or 1 */
  enum fz_fdkind kind;
  unsigned dread;    /* bytes callbacks asked to read, done by fz_fd_apply_deferred() */
  unsigned dwrite;   /* bytes callbacks asked to write */
};

extern struct fz_fd fz_fds[FZ_SLOTS];

int fz_fd_count_open(void);
int fz_fd_can_read(int slot);
int fz_fd_can_write(int slot);
int fz_fd_open_pair(enum fz_fdkind kind);     /* slots used by the pair: first one, or -1 */
int fz_fd_dup(int slot);                      /* new slot or -1 */
int fz_fd_dup_onto(int slot, int target);     /* 0 or -1 */
void fz_fd_close(int slot);
int fz_fd_read(int slot, unsigned n);         /* bytes read, 0 at EOF, -errno */
int fz_fd_write(int slot, unsigned n);        /* bytes written, -errno, or -1000 = skipped (full) */
void fz_fd_apply_deferred(void);              /* prints one "dio" line if anything was due */
void fz_fd_close_all(void);

/* ---- watchers (watchers.c) ---- */
enum fz_kind {
  FZ_IO, FZ_TIMER, FZ_IDLE, FZ_PREPARE, FZ_CHECK, FZ_SIGNAL, FZ_ASYNC, FZ_FORK,
  FZ_NEST,    /* timer at EV_MINPRI whose callback runs ev_run nested */
  FZ_GUARD,   /* idle that keeps EVRUN_ONCE / ev_run(0) steps from blocking */
  FZ_BREAKER, /* check that ends an ev_run(0) step after a few iterations */
};

struct fz_w {
  int id;
  enum fz_kind kind;
  char name[8];
  unsigned calls;   /* callback invocations so far: with the seed, chooses the callback's actions */
  unsigned feeds;   /* self-feeds in the current step (at most 2) */
  int dirty;        /* io: fd number closed or replaced since the last ev_io_set */
  union {
    ev_watcher w;
    ev_io io;
    ev_timer timer;
    ev_idle idle;
    ev_prepare prepare;
    ev_check check;
    ev_signal sig;
    ev_async async;
    ev_fork fork;
  } u;
};

#define FZ_NW 40
extern struct fz_w fz_ws[FZ_NW];
extern int fz_nw;            /* watchers in fz_ws */
extern int fz_first_special; /* fz_ws[fz_first_special..] are NEST, GUARD, BREAKER */
extern struct fz_w *fz_nest, *fz_guard, *fz_breaker;
extern unsigned fz_breaker_left;
extern int fz_async_started; /* ev_async_send is defined once an ev_async was started */
extern const int fz_signals[3];

void fz_watchers_init(struct ev_loop *loop, struct fz_rng *r);
int fz_active(struct fz_w *w);
int fz_pending(struct fz_w *w);
void fz_start(struct ev_loop *loop, struct fz_w *w);
void fz_stop(struct ev_loop *loop, struct fz_w *w);
void fz_state_line(void);  /* prints which watchers are active / pending */
void fz_step_reset(void);  /* per-step budgets */
void fz_stop_all(struct ev_loop *loop);

/* ---- global settings (main.c) ---- */
extern uint64_t fz_seed;
extern FILE *fz_out;

#endif
