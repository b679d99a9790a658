/* http-evio.c - an HTTP/1.1 keep-alive "hello" server written with plain ev_io readiness.
 *
 *   http-evio PORT
 *
 * Listens on 127.0.0.1:PORT and answers every request on a connection with the same small
 * 200 response, in order, keeping the connection open (HTTP/1.1 keep-alive). A request is
 * everything up to its blank line ("\r\n\r\n"); bodies are not supported. Requests may arrive
 * split over several reads or several in one read (pipelining): both work. ev.h only, so the
 * same binary runs on Debian's libev and on evring; LIBEV_FLAGS picks the backend.
 * examples/http-evring.c is the same server written with evring.h. */
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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64

/* BATCH copies of the response back to back: the answer to n <= BATCH pipelined requests is
 * its first n * RESPONSE_LEN bytes, and since every response is the same, the stream of
 * answers continues at any offset into it. No per-connection output buffer is needed. */
static char responses[BATCH * RESPONSE_LEN];

struct conn {
  ev_io io;       /* EV_READ while reading, EV_WRITE while answers wait for room */
  size_t owed;    /* bytes of answers not yet written */
  size_t pos;     /* where in a response the next byte to write is */
  size_t in_len;  /* bytes of an incomplete request kept in in[] */
  char in[8192];
};

static void conn_close(struct ev_loop *loop, struct conn *c)
{
  ev_io_stop(loop, &c->io);
  close(c->io.fd);
  free(c);
}

/* Count the complete requests in in[], keep the incomplete rest at its start. */
static size_t take_requests(struct conn *c)
{
  size_t n = 0;
  char *p = c->in, *end = c->in + c->in_len, *blank;
  while ((blank = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
    n++;
    p = blank + 4;
  }
  c->in_len = (size_t)(end - p);
  memmove(c->in, p, c->in_len);
  return n;
}

/* Write owed answers; 0 when all are out, 1 when the socket is full, -1 on error. */
static int flush(struct conn *c)
{
  while (c->owed > 0) {
    size_t len = sizeof responses - c->pos;
    ssize_t n = write(c->io.fd, responses + c->pos, c->owed < len ? c->owed : len);
    if (n < 0)
      return errno == EAGAIN ? 1 : -1;
    c->owed -= (size_t)n;
    c->pos = (c->pos + (size_t)n) % RESPONSE_LEN;
  }
  return 0;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  struct conn *c = (struct conn *)w;
  if (revents & EV_READ) {
    ssize_t n = read(w->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      conn_close(loop, c); /* the client is gone */
      return;
    }
    if (n < 0)
      return;
    c->in_len += (size_t)n;
    c->owed += take_requests(c) * RESPONSE_LEN;
    if (c->in_len == sizeof c->in) { /* a request head larger than in[]: give up on it */
      conn_close(loop, c);
      return;
    }
  }
  int r = flush(c);
  if (r < 0) {
    conn_close(loop, c);
    return;
  }
  /* Stop reading while answers wait for room (back-pressure), read again once they are out. */
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
    c->owed = c->pos = c->in_len = 0;
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
  for (size_t i = 0; i < BATCH; i++)
    memcpy(responses + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

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
