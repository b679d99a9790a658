/* http-evring.c - an HTTP/1.1 keep-alive "hello" server written with evring.h.
 *
 *   http-evring PORT
 *
 * Listens on 127.0.0.1:PORT and answers every request on a connection with the same small
 * 200 response, in order, keeping the connection open. A request is everything up to its
 * blank line ("\r\n\r\n"); bodies are not supported. Requests split over several chunks and
 * several requests in one chunk (pipelining) both work.
 *
 * The loop accepts (multishot), receives (multishot, into evring's buffers) and sends; the
 * program only parses and decides. LIBEV_FLAGS=128 runs it on io_uring (the ring does the
 * I/O), LIBEV_FLAGS=4 on epoll readiness with non-blocking system calls: same code, same
 * answers. examples/http-evio.c is the same server written with ev_io readiness. */
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

#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64

/* BATCH copies of the response back to back: the answer to n <= BATCH pipelined requests is
 * its first n * RESPONSE_LEN bytes. It never changes, so any number of sends may use it. */
static char responses[BATCH * RESPONSE_LEN];

struct conn {
  evring_op recv;   /* multishot: one callback per chunk received */
  evring_op send;   /* one send at a time: the answers owed when it started */
  int fd;
  size_t owed;      /* requests not yet answered, including those of the send in flight */
  size_t sending;   /* requests answered by the send in flight */
  size_t in_len;    /* bytes of an incomplete request head kept in in[] */
  char in[8192];
};

static void conn_maybe_close(struct conn *c)
{
  if (!ev_is_active(&c->recv) && !ev_is_active(&c->send)) {
    close(c->fd);
    free(c);
  }
}

static void send_owed(struct ev_loop *loop, struct conn *c)
{
  c->sending = c->owed < BATCH ? c->owed : BATCH;
  evring_send(loop, &c->send, c->fd, responses, c->sending * RESPONSE_LEN, 0);
}

/* Append a received chunk to in[], count the complete requests, keep the incomplete rest.
 * -1: a request head that does not fit in in[]. */
static long take_requests(struct conn *c, const char *data, size_t len)
{
  if (len >= sizeof c->in - c->in_len)
    return -1;
  memcpy(c->in + c->in_len, data, len);
  c->in_len += len;
  long n = 0;
  char *p = c->in, *end = c->in + c->in_len, *blank;
  while ((blank = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
    n++;
    p = blank + 4;
  }
  c->in_len = (size_t)(end - p);
  memmove(c->in, p, c->in_len);
  return n;
}

static void on_send(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)revents;
  struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send));
  if (op->res < 0) { /* the client is gone */
    evring_stop(loop, &c->recv);
  } else {
    c->owed -= c->sending;
    if (c->owed > 0) /* more requests arrived meanwhile */
      send_owed(loop, c);
  }
  conn_maybe_close(c);
}

static void on_recv(struct ev_loop *loop, evring_op *op, int revents)
{
  (void)revents;
  struct conn *c = (struct conn *)op;
  if (op->res > 0) {
    long n = take_requests(c, op->buf, (size_t)op->res);
    if (n < 0) {
      evring_stop(loop, op);
    } else if (n > 0) {
      c->owed += (size_t)n;
      if (!ev_is_active(&c->send))
        send_owed(loop, c);
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
  c->owed = c->sending = c->in_len = 0;
  evring_op_init(&c->recv, on_recv);
  evring_op_init(&c->send, on_send);
  evring_recv(loop, &c->recv, fd);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* evring adds MSG_NOSIGNAL to sends; this covers the rest */
  for (size_t i = 0; i < BATCH; i++)
    memcpy(responses + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

  struct ev_loop *loop = ev_default_loop(0); /* LIBEV_FLAGS chooses the backend */
  fprintf(stderr, "http-evring: port %s, %s mode\n", argv[1],
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
