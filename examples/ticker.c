/* ticker.c - a small libev program used by `make demo`: it is compiled against evring's ev.h
 * like any libev client and run with LD_LIBRARY_PATH=build, so it loads evring's libev.so.4.
 *
 * A pipe carries ten messages from a repeating timer to an io watcher that reads one byte
 * per callback (level-triggered delivery makes that work); an ev_async from a second thread
 * and an ev_signal (SIGUSR1 raised by the program) join in; the loop ends by itself. */
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fds[2];
static int ticks, bytes;
static ev_async wake;

static const char *backend_name(unsigned int b)
{
  switch (b) {
  case EVBACKEND_SELECT: return "select";
  case EVBACKEND_POLL: return "poll";
  case EVBACKEND_EPOLL: return "epoll";
  case EVBACKEND_IOURING: return "io_uring";
  default: return "?";
  }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
  (void)revents;
  if (write(fds[1], "abc", 3) != 3)
    perror("write");
  if (++ticks == 10) {
    ev_timer_stop(loop, w);
    close(fds[1]);
  }
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)revents;
  char c;
  ssize_t n = read(w->fd, &c, 1); /* one byte at a time: the watcher is called again */
  if (n == 1) {
    bytes++;
    return;
  }
  printf("reader: %d bytes in %d ticks, then EOF\n", bytes, ticks);
  ev_io_stop(loop, w);
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
  (void)revents;
  printf("async: woken by another thread\n");
  ev_async_stop(loop, w);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
  (void)revents;
  printf("signal: SIGUSR1 delivered through the loop\n");
  ev_signal_stop(loop, w);
}

static void *thread_main(void *arg)
{
  ev_async_send(arg, &wake);
  return NULL;
}

int main(void)
{
  struct ev_loop *loop = ev_default_loop(0);
  if (!loop) {
    printf("evring demo: no usable backend for LIBEV_FLAGS=%s\n", getenv("LIBEV_FLAGS"));
    return 1;
  }
  printf("evring demo: libev %d.%d API, backend %s (supported 0x%x)\n", ev_version_major(),
         ev_version_minor(), backend_name(ev_backend(loop)), ev_supported_backends());

  if (pipe(fds) < 0)
    return 1;
  ev_timer tick;
  ev_io reader;
  ev_signal usr1;
  ev_timer_init(&tick, tick_cb, 0.01, 0.01);
  ev_io_init(&reader, read_cb, fds[0], EV_READ);
  ev_async_init(&wake, async_cb);
  ev_signal_init(&usr1, signal_cb, SIGUSR1);
  ev_timer_start(loop, &tick);
  ev_io_start(loop, &reader);
  ev_async_start(loop, &wake);
  ev_signal_start(loop, &usr1);

  pthread_t t;
  pthread_create(&t, NULL, thread_main, loop);
  raise(SIGUSR1);

  ev_run(loop, 0);
  pthread_join(t, NULL);
  printf("loop finished after %u iterations\n", ev_iteration(loop));
  return bytes == 30 ? 0 : 1;
}
