/* echo-evring.c - a TCP echo server written with evring.h's completion I/O.
 *
 *   echo-evring PORT
 *
 * Listens on 127.0.0.1:PORT and sends every byte it receives back on the same connection.
 * The program never calls read() or write(): it asks the loop to accept (one multishot
 * operation for all connections), to receive (one multishot operation per connection) and to
 * send, and is called back with the results. With LIBEV_FLAGS=128 the loop's backend is
 * io_uring and the ring does that I/O; with LIBEV_FLAGS=4 (epoll), or where io_uring is not
 * available, the same calls run on readiness plus non-blocking system calls.
 * examples/echo-evio.c is the same server written with ev_io readiness.
 *
 * Buffers: received data arrives in evring's buffers. Instead of copying it, the receive
 * callback keeps the buffer (evring_buf_keep), sends from it, and the send callback gives it
 * back (evring_buf_release). The sends of one connection go out in the order they were
 * started, which is the order the data arrived. When the peer does not read and every buffer
 * is kept, evring pauses receiving until one is released: that is the back-pressure. */
#define _GNU_SOURCE
#include "server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <evring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
  evring_op recv;  /* multishot: one callback per chunk received */
  int fd;
  int sends;       /* sends in flight */
};

struct echo {      /* one received chunk on its way back */
  evring_op send;
  struct conn *conn;
  char *buf;       /* evring's receive buffer, kept until the send is done */
};

/* A connection ends when its receive has ended and its last send has completed. */
static void conn_maybe_close(struct conn *c)
{
  if (!ev_is_active(&c->recv) && c->sends == 0) {
    close(c->fd);
    free(c);
  }
}

static void on_send(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)revents;
  struct echo *e = (struct echo *)op;
  struct conn *c = e->conn;
  ssize_t res = op->res;
  evring_buf_release(loop, e->buf);
  free(e);
  c->sends--;
  if (res < 0) /* the peer is gone: stop receiving too */
    evring_stop(loop, &c->recv);
  conn_maybe_close(c);
}

static void on_recv(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)revents;
  struct conn *c = (struct conn *)op;
  if (op->res > 0) {
    struct echo *e = malloc(sizeof *e);
    if (e) {
      e->conn = c;
      e->buf = evring_buf_keep(loop, op);
      evring_op_init(&e->send, on_send);
      evring_send(loop, &e->send, c->fd, e->buf, (size_t)op->res, 0);
      c->sends++;
    } else {
      evring_stop(loop, op);
    }
  }
  /* An inactive receive has ended: end of stream (res 0), an error, or stopped above. */
  if (!ev_is_active(op))
    conn_maybe_close(c);
}

static void on_accept(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)revents;
  if (op->res < 0) {
    fprintf(stderr, "accept: %s\n", strerror((int)-op->res));
    if (!(op->flags & EVRING_MORE)) /* the listening socket failed: nothing more to do */
      ev_break(loop, EVBREAK_ALL);
    return;
  }
  int fd = (int)op->res, one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct conn *c = malloc(sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  c->fd = fd;
  c->sends = 0;
  evring_op_init(&c->recv, on_recv);
  evring_recv(loop, &c->recv, fd);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* evring adds MSG_NOSIGNAL to sends; this covers the rest */

  struct ev_loop *loop = ev_default_loop(0); /* LIBEV_FLAGS chooses the backend */
  fprintf(stderr, "echo-evring: port %s, %s mode\n", argv[1],
          evring_mode(loop) == EVRING_MODE_RING ? "ring (io_uring)" : "readiness");

  int lfd = server_listen(argv[1]);
  if (lfd < 0)
    return 1;

  /* Multishot: one callback per new connection. Static, like the default loop: it is still
   * active when main returns, and an active operation must stay valid (as a watcher must). */
  static evring_op acceptor;
  evring_op_init(&acceptor, on_accept);
  evring_accept(loop, &acceptor, lfd, SOCK_NONBLOCK | SOCK_CLOEXEC);
  server_stop_on_signals(loop); /* end cleanly, so that exit handlers run */
  ev_run(loop, 0);
  return 0;
}
