/* uring_ringfd_poll.c - is a ring fd pollable (what ev_embed needs from loop->backend_fd) when
 * the ring uses DEFER_TASKRUN, for a POLL_ADD and for an in-flight EPOLL_WAIT?
 *   cc -O2 -o /tmp/uring_ringfd_poll tools/experiments/uring_ringfd_poll.c -luring -lpthread */
#define _GNU_SOURCE
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static int wfd;
static void *writer(void *arg)
{
  (void)arg;
  usleep(100000);
  if (write(wfd, "x", 1) != 1)
    perror("write");
  return NULL;
}

static void one(unsigned flags, int use_epoll)
{
  struct io_uring ring;
  struct io_uring_params p = {.flags = flags};
  int r = io_uring_queue_init_params(8, &ring, &p);
  if (r) {
    printf("init: %s\n", strerror(-r));
    return;
  }
  int pp[2];
  if (pipe(pp))
    return;
  wfd = pp[1];
  struct epoll_event ev = {.events = EPOLLIN}, out[2];
  int ep = epoll_create1(0);
  epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev);
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (use_epoll)
    io_uring_prep_rw(59, sqe, ep, out, 2, 0);
  else
    io_uring_prep_poll_add(sqe, pp[0], POLLIN);
  io_uring_submit(&ring);
  pthread_t t;
  pthread_create(&t, NULL, writer, NULL);
  struct pollfd pfd = {ring.ring_fd, POLLIN, 0};
  int n = poll(&pfd, 1, 1000);
  printf("flags %#x %s: poll(ring fd) -> %d revents %#x, cq_ready %u\n", flags,
         use_epoll ? "EPOLL_WAIT" : "POLL_ADD", n, pfd.revents, io_uring_cq_ready(&ring));
  pthread_join(t, NULL);
  io_uring_queue_exit(&ring);
  close(pp[0]);
  close(pp[1]);
  close(ep);
}

int main(void)
{
  for (int e = 0; e < 2; e++) {
    one(0, e);
    one(IORING_SETUP_COOP_TASKRUN, e);
    one(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, e);
  }
  return 0;
}
