/* ev_pingpong.c - ping-pong chains through libev's API, to compare libraries and backends.
 *
 *   cc -O2 -o /tmp/ev_pingpong tools/experiments/ev_pingpong.c -lev
 *   LD_LIBRARY_PATH=build /tmp/ev_pingpong [backend flags] [N] [K] [events] [churn]
 *   (without LD_LIBRARY_PATH: the system's libev)
 *
 * N socketpairs, K tokens: the callback of b[i] reads the token and writes it to a[(i+7)%N].
 * churn=1: every callback also flips its watcher between EV_READ and EV_READ|EV_WRITE (stop,
 * set, start), the pattern of servers that watch for writability while output is queued.
 * Prints process CPU ns per event and the backend used. */
#define _GNU_SOURCE
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int N = 1000, K = 100, churn;
static long target = 500000, done;
static int *a;
static ev_io *w;

static void cb(struct ev_loop *loop, ev_io *io, int revents)
{
  int i = (int)(io - w);
  char c;
  done++;
  if ((revents & EV_READ) && read(io->fd, &c, 1) == 1 && write(a[(i + 7) % N], &c, 1) != 1)
    abort();
  if (churn) {
    ev_io_stop(loop, io);
    ev_io_set(io, io->fd, io->events & EV_WRITE ? EV_READ : EV_READ | EV_WRITE);
    ev_io_start(loop, io);
  }
  if (done >= target)
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
  unsigned int flags = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 0;
  if (argc > 2) N = atoi(argv[2]);
  if (argc > 3) K = atoi(argv[3]);
  if (argc > 4) target = atol(argv[4]);
  if (argc > 5) churn = atoi(argv[5]);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  struct ev_loop *loop = ev_loop_new(flags);
  a = malloc(sizeof *a * N);
  w = malloc(sizeof *w * N);
  for (int i = 0; i < N; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
      return 1;
    a[i] = sv[0];
    ev_io_init(&w[i], cb, sv[1], EV_READ);
    ev_io_start(loop, &w[i]);
  }
  for (int k = 0; k < K; k++)
    if (write(a[(k * (N / K)) % N], "x", 1) != 1)
      return 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  unsigned int it0 = ev_iteration(loop);
  ev_run(loop, 0);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("backend %#x N=%d K=%d churn=%d: %.0f ns/event, %.1f events/iteration\n",
         ev_backend(loop), N, K, churn, ns / done, (double)done / (ev_iteration(loop) - it0));
  return 0;
}
