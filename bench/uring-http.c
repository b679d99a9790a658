/* uring-http.c - the HTTP/1.1 keep-alive "hello" server on liburing alone (the ceiling for
 * bench/run's wrk rows).
 *
 *   uring-http PORT
 *
 * Same protocol as examples/http-evio.c: a request is everything up to its blank line, every
 * request gets the same small 200 response, in order, pipelining and split requests work.
 * Multishot accept; per connection one multishot recv from the provided-buffer ring (each
 * buffer goes back to the ring as soon as its requests are counted); one send at a time per
 * connection, of all the answers owed so far. */
#include "uring-server.h"

#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64

/* BATCH copies of the response back to back: any owed answers are a slice of it. */
static char responses[BATCH * RESPONSE_LEN];

static struct io_uring ring;
static struct bufs bufs;

struct conn {
  size_t owed;       /* bytes of answers not yet sent, including the send in flight */
  size_t pos;        /* where in a response the next byte to send is */
  size_t inflight;   /* bytes of the send in flight, 0 when none */
  int recv_ended;    /* the multishot recv has ended: close once nothing is in flight */
  size_t in_len;     /* an incomplete request head kept in in[] */
  char in[8192];
};
static struct conn **conns; /* indexed by fd */

static void send_owed(int fd)
{
  struct conn *c = conns[fd];
  size_t len = sizeof responses - c->pos;
  c->inflight = c->owed < len ? c->owed : len;
  arm_send(&ring, fd, responses + c->pos, c->inflight);
}

static void conn_maybe_close(int fd)
{
  if (conns[fd]->recv_ended && conns[fd]->inflight == 0) {
    free(conns[fd]);
    conns[fd] = NULL;
    close(fd);
  }
}

/* Append a received chunk to in[] and count the complete requests in it. -1: a request head
 * larger than in[]. */
static long take_requests(struct conn *c, const char *data, size_t len)
{
  long n = 0;
  if (len > sizeof c->in - c->in_len)
    return -1;
  memcpy(c->in + c->in_len, data, len);
  c->in_len += len;
  char *p = c->in, *end = c->in + c->in_len, *blank;
  while ((blank = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
    n++;
    p = blank + 4;
  }
  c->in_len = (size_t)(end - p);
  memmove(c->in, p, c->in_len);
  return c->in_len == sizeof c->in ? -1 : n;
}

static void on_accept(int lfd, struct io_uring_cqe *cqe)
{
  if (cqe->res >= 0) {
    int fd = cqe->res;
    set_nodelay(fd);
    conns[fd] = calloc(1, sizeof *conns[fd]);
    if (conns[fd])
      arm_recv(&ring, fd);
    else
      close(fd);
  }
  if (!(cqe->flags & IORING_CQE_F_MORE))
    arm_accept(&ring, lfd);
}

static void on_recv(int fd, struct io_uring_cqe *cqe)
{
  struct conn *c = conns[fd];
  if (cqe->res > 0) {
    unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    long n = take_requests(c, bufs.mem + (size_t)bid * BUF_SIZE, (size_t)cqe->res);
    bufs_give(&bufs, bid);
    if (n < 0) {
      shutdown(fd, SHUT_RDWR); /* ends the recv, which then closes the connection */
    } else if (n > 0) {
      c->owed += (size_t)n * RESPONSE_LEN;
      if (c->inflight == 0)
        send_owed(fd);
    }
  }
  if (cqe->flags & IORING_CQE_F_MORE)
    return;
  if (cqe->res > 0 || cqe->res == -ENOBUFS) { /* ended for lack of buffers: re-arm */
    arm_recv(&ring, fd);
    return;
  }
  c->recv_ended = 1; /* end of stream or error */
  conn_maybe_close(fd);
}

static void on_send(int fd, struct io_uring_cqe *cqe)
{
  struct conn *c = conns[fd];
  c->inflight = 0;
  if (cqe->res < 0) {
    c->owed = 0;
    shutdown(fd, SHUT_RDWR);
    conn_maybe_close(fd);
    return;
  }
  c->owed -= (size_t)cqe->res;
  c->pos = (c->pos + (size_t)cqe->res) % RESPONSE_LEN;
  if (c->owed > 0)
    send_owed(fd);
  else
    conn_maybe_close(fd);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < BATCH; i++)
    memcpy(responses + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
  conns = calloc((size_t)max_fds(), sizeof *conns);
  if (!conns)
    die("calloc", ENOMEM);
  int lfd = listen_on(atoi(argv[1]));
  catch_stop_signals();
  ring_init(&ring, 4096);
  bufs_init(&ring, &bufs);
  arm_accept(&ring, lfd);

  while (!stopping) {
    int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      die("io_uring_submit_and_wait", -r);
    struct io_uring_cqe *cqe;
    unsigned int head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      uint64_t ud = io_uring_cqe_get_data64(cqe);
      switch (UD_KIND(ud)) {
      case OP_ACCEPT: on_accept(UD_FD(ud), cqe); break;
      case OP_RECV: on_recv(UD_FD(ud), cqe); break;
      case OP_SEND: on_send(UD_FD(ud), cqe); break;
      }
      seen++;
    }
    io_uring_cq_advance(&ring, seen);
  }
  io_uring_queue_exit(&ring);
  return 0;
}
