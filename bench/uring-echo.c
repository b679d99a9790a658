/* uring-echo.c - a TCP echo server on liburing alone (the ceiling for bench/run's echo rows).
 *
 *   uring-echo PORT
 *
 * Multishot accept; per connection one multishot recv that picks buffers from the provided
 * buffer ring; each received buffer is sent back as it is (no copy) and handed back to the
 * ring when its send has completed. Sends of one connection go one at a time, in the order
 * the data arrived: a connection queues its received buffers, linked by buffer id. */
#include "uring-server.h"

static struct io_uring ring;
static struct bufs bufs;

/* Received buffers waiting to be echoed, per buffer id: length and the next in the queue. */
static unsigned int buf_len[NBUFS];
static int buf_next[NBUFS];

struct conn {
  int head, tail;  /* the connection's queue of buffer ids, -1 when empty */
  size_t off;      /* bytes of the head buffer already sent */
  int sending;     /* a send of the head buffer is in flight */
  int recv_ended;  /* the multishot recv has ended: close once the queue is sent */
};
static struct conn *conns; /* indexed by fd */

static void send_head(int fd)
{
  struct conn *c = &conns[fd];
  int bid = c->head;
  arm_send(&ring, fd, bufs.mem + (size_t)bid * BUF_SIZE + c->off, buf_len[bid] - c->off);
  c->sending = 1;
}

static void conn_maybe_close(int fd)
{
  struct conn *c = &conns[fd];
  if (c->recv_ended && !c->sending) {
    while (c->head >= 0) { /* data that can no longer be sent: its buffers go back */
      int next = buf_next[c->head];
      bufs_give(&bufs, (unsigned int)c->head);
      c->head = next;
    }
    close(fd);
  }
}

static void on_accept(int lfd, struct io_uring_cqe *cqe)
{
  if (cqe->res >= 0) {
    int fd = cqe->res;
    set_nodelay(fd);
    conns[fd] = (struct conn){.head = -1, .tail = -1};
    arm_recv(&ring, fd);
  }
  if (!(cqe->flags & IORING_CQE_F_MORE))
    arm_accept(&ring, lfd);
}

static void on_recv(int fd, struct io_uring_cqe *cqe)
{
  struct conn *c = &conns[fd];
  if (cqe->res > 0) {
    int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    buf_len[bid] = (unsigned int)cqe->res;
    buf_next[bid] = -1;
    if (c->tail >= 0)
      buf_next[c->tail] = bid;
    else
      c->head = bid;
    c->tail = bid;
    if (!c->sending)
      send_head(fd);
  }
  if (cqe->flags & IORING_CQE_F_MORE)
    return;
  /* The recv has ended: re-arm it after data or a momentary lack of buffers, else (end of
   * stream, error) the connection closes once its queue is out. */
  if (cqe->res > 0 || cqe->res == -ENOBUFS) {
    arm_recv(&ring, fd);
    return;
  }
  c->recv_ended = 1;
  conn_maybe_close(fd);
}

static void on_send(int fd, struct io_uring_cqe *cqe)
{
  struct conn *c = &conns[fd];
  c->sending = 0;
  if (cqe->res < 0) {
    shutdown(fd, SHUT_RDWR); /* ends the recv, which then closes the connection */
    conn_maybe_close(fd);
    return;
  }
  c->off += (size_t)cqe->res;
  if (c->off == buf_len[c->head]) { /* the head buffer is out: back to the ring */
    int next = buf_next[c->head];
    bufs_give(&bufs, (unsigned int)c->head);
    c->head = next;
    if (next < 0)
      c->tail = -1;
    c->off = 0;
  }
  if (c->head >= 0)
    send_head(fd);
  else
    conn_maybe_close(fd);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
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
