/* main.c - evfuzz: one seeded random libev program, printed as a trace (tests/fuzz/README).
 *
 *   evfuzz -s SEED [-n STEPS] [-b select|poll|epoll|iouring] [-l system|evring] [-x op,op]
 *          [-k STEPS]
 *
 * Each step draws from a random stream of its own (seed, step number), so that leaving steps
 * out (-k keeps only the listed steps, e.g. "0-40,57,90-99": tests/fuzz/minimise) leaves
 * the choices of the other steps alone as far as the state allows.
 * Each step is one operation (ops.c) followed by one ev_run: EVRUN_NOWAIT mostly, sometimes
 * EVRUN_ONCE or ev_run(0) ended by a check watcher after 1-3 iterations; in both of these an
 * idle watcher keeps the loop from blocking. Then the callbacks' deferred reads and writes
 * are done and the loop's counters and every watcher's state are printed. -l makes sure the
 * dynamic linker gave us the intended library (exit 4 otherwise); a backend the loop cannot
 * get exits 77. Counts of the operations run go to stderr ("ops name=count ..."). */
#include "fuzz.h"
#include "ops.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t fz_seed;
FILE *fz_out;

static void invoke_hook(struct ev_loop *loop)
{
  fprintf(fz_out, "inv d%u i%u n%u\n", ev_depth(loop), ev_iteration(loop), ev_pending_count(loop));
  ev_invoke_pending(loop);
}

static unsigned backend_flag(const char *name)
{
  static const struct { const char *name; unsigned flag; } b[] = {
    { "select", EVBACKEND_SELECT }, { "poll", EVBACKEND_POLL },
    { "epoll", EVBACKEND_EPOLL },   { "iouring", EVBACKEND_IOURING },
  };
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
    if (!strcmp(b[i].name, name))
      return b[i].flag;
  fprintf(stderr, "evfuzz: unknown backend %s\n", name);
  exit(2);
}

static void check_library(const char *want)
{
  Dl_info info;
  if (!dladdr((void *)ev_run, &info) || !info.dli_fname) {
    fprintf(stderr, "evfuzz: cannot tell which library provides ev_run\n");
    exit(4);
  }
  char *path = realpath(info.dli_fname, NULL);
  int system_lib = path && !strncmp(path, "/usr/lib/", 9);
  if (strcmp(want, system_lib ? "system" : "evring")) {
    fprintf(stderr, "evfuzz: wanted the %s library, got %s\n", want, path ? path : "?");
    exit(4);
  }
  free(path);
}

static void disable_ops(char *list)
{
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    int i = fz_op_find(name);
    if (i < 0) {
      fprintf(stderr, "evfuzz: unknown operation %s\n", name);
      exit(2);
    }
    fz_op_disabled[i] = 1;
  }
}

/* -k: the steps to run, as a list of ranges */
static unsigned keep_lo[1024], keep_hi[1024], nkeep;

static void parse_keep(char *list)
{
  for (char *r = strtok(list, ","); r && nkeep < 1024; r = strtok(NULL, ",")) {
    char *dash = strchr(r, '-');
    keep_lo[nkeep] = (unsigned)strtoul(r, NULL, 10);
    keep_hi[nkeep] = dash ? (unsigned)strtoul(dash + 1, NULL, 10) : keep_lo[nkeep];
    nkeep++;
  }
}

static int kept(unsigned step)
{
  if (!nkeep)
    return 1;
  for (unsigned i = 0; i < nkeep; i++)
    if (step >= keep_lo[i] && step <= keep_hi[i])
      return 1;
  return 0;
}

static void run_step(struct ev_loop *loop, struct fz_rng *r)
{
  unsigned mode = fz_below(r, 100);
  if (mode < 88) {
    ev_run(loop, EVRUN_NOWAIT);
  } else if (mode < 94) {
    fprintf(fz_out, "run once\n");
    ev_idle_start(loop, &fz_guard->u.idle);
    ev_run(loop, EVRUN_ONCE);
    ev_idle_stop(loop, &fz_guard->u.idle);
  } else {
    fz_breaker_left = 1 + fz_below(r, 3);
    fprintf(fz_out, "run until %u\n", fz_breaker_left);
    ev_idle_start(loop, &fz_guard->u.idle);
    ev_check_start(loop, &fz_breaker->u.check);
    ev_run(loop, 0);
    ev_idle_stop(loop, &fz_guard->u.idle);
    ev_check_stop(loop, &fz_breaker->u.check);
  }
  fz_fd_apply_deferred();
  fprintf(fz_out, "ret d%u i%u n%u\n", ev_depth(loop), ev_iteration(loop), ev_pending_count(loop));
  fz_state_line();
}

int main(int argc, char **argv)
{
  unsigned steps = 200;
  const char *backend = "epoll", *lib = NULL;
  int c;
  while ((c = getopt(argc, argv, "s:n:b:l:x:k:")) != -1) {
    switch (c) {
    case 's': fz_seed = strtoull(optarg, NULL, 0); break;
    case 'n': steps = (unsigned)strtoul(optarg, NULL, 0); break;
    case 'b': backend = optarg; break;
    case 'l': lib = optarg; break;
    case 'x': disable_ops(optarg); break;
    case 'k': parse_keep(optarg); break;
    default:
      fprintf(stderr, "usage: evfuzz -s SEED [-n STEPS] [-b BACKEND] [-l system|evring]"
                      " [-x ops] [-k steps]\n");
      return 2;
    }
  }
  if (lib)
    check_library(lib);
  fz_out = stdout;
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);

  struct fz_rng r = { fz_seed };
  unsigned flags = backend_flag(backend) | EVFLAG_NOENV;
  int sigfd = fz_below(&r, 4) == 0, hook = fz_below(&r, 2) == 0;
  if (sigfd)
    flags |= EVFLAG_SIGNALFD;
  struct ev_loop *loop = ev_loop_new(flags);
  if (!loop || ev_backend(loop) != backend_flag(backend)) {
    printf("backend %s not available\n", backend);
    return 77;
  }
  printf("seed %llu steps %u signalfd %d hook %d\n", (unsigned long long)fz_seed, steps, sigfd,
         hook);
  if (hook)
    ev_set_invoke_pending_cb(loop, invoke_hook);
  fz_watchers_init(loop, &r);

  for (unsigned s = 0; s < steps; s++) {
    if (!kept(s))
      continue;
    struct fz_rng sr = { fz_mix(fz_seed ^ fz_mix(s + 1)) };
    fz_step_reset();
    fz_op_step(loop, &sr, s);
    run_step(loop, &sr);
    for (int i = 0; i < fz_first_special; i++)
      if (fz_ws[i].kind == FZ_FORK)
        ev_fork_stop(loop, &fz_ws[i].u.fork);
  }

  fz_stop_all(loop);
  fz_fd_close_all();
  ev_loop_destroy(loop);
  printf("end\n");

  fprintf(stderr, "ops");
  for (int i = 0; i < FZ_NOPS; i++)
    fprintf(stderr, " %s=%u", fz_ops[i].name, fz_op_count[i]);
  fputc('\n', stderr);
  return 0;
}
