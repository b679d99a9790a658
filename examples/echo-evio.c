/* echo-evio.c - a TCP echo server written with plain ev_io readiness (ev.h only).
 *
 *   echo-evio PORT
 *
 * Listens on 127.0.0.1:PORT and sends every byte it receives back on the same connection.
 * It uses nothing but libev 4's API, so the same binary runs on Debian's libev and on
 * evring (LD_LIBRARY_PATH=build); LIBEV_FLAGS picks the backend (4 = epoll, 128 = io_uring).
 * examples/echo-evring.c is the same server written with evring.h's completion I/O.
 *
 * The readiness pattern: the loop says "fd is readable", the callback calls read() and then
 * write(). When the peer does not read fast enough and a write is short, the connection stops
 * reading and waits for "writable" until the rest is out (back-pressure). */
#define _GNU_SOURCE
#include "server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
  ev_io io;          /* EV_READ while echoing, EV_WRITE while a short write is pending */
  size_t len, off;   /* buf[off..len) is received but not yet written back */
  char buf[16384];
};

static void conn_close(struct ev_loop *loop, struct conn *c)
{
  ev_io_stop(loop, &c->io);
  close(c->io.fd);
  free(c);
}

/* Write buf[off..len) back; returns 0 when all of it is out, 1 when the socket is full,
 * -1 on error. */
static int flush(struct conn *c)
{
  while (c->off < c->len) {
    ssize_t n = write(c->io.fd, c->buf + c->off, c->len - c->off);
    if (n < 0)
      return errno == EAGAIN ? 1 : -1;
    c->off += (size_t)n;
  }
  c->off = c->len = 0;
  return 0;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct conn *c = (struct conn *)w;
  if (revents & EV_READ) {
    ssize_t n = read(w->fd, c->buf, sizeof c->buf);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      conn_close(loop, c); /* end of stream or error */
      return;
    }
    if (n < 0)
      return;
    c->len = (size_t)n;
  }
  int r = flush(c);
  if (r < 0) {
    conn_close(loop, c);
    return;
  }
  /* Switch between reading and waiting for room to write, as the last write requires. */
  int want = r ? EV_WRITE : EV_READ;
  if (want != (w->events & (EV_READ | EV_WRITE))) {
    ev_io_stop(loop, w);
    ev_io_set(w, w->fd, want);
    ev_io_start(loop, w);
  }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  (void)revents;
  for (;;) { /* take every connection that is waiting */
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != ECONNABORTED)
        perror("accept4");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->len = c->off = 0;
    ev_io_init(&c->io, conn_cb, fd, EV_READ);
    ev_io_start(loop, &c->io);
  }
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a write to a closed connection fails with EPIPE instead */

  int lfd = server_listen(argv[1]);
  if (lfd < 0)
    return 1;

  struct ev_loop *loop = ev_default_loop(0); /* LIBEV_FLAGS chooses the backend */
  ev_io acceptor;
  ev_io_init(&acceptor, accept_cb, lfd, EV_READ);
  ev_io_start(loop, &acceptor);
  server_stop_on_signals(loop); /* end cleanly, so that exit handlers run */
  ev_run(loop, 0);
  return 0;
}
