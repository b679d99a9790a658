/* iouring.c - io_uring backend (temporary stub: reports unavailable). */
#include "../internal.h"

static int iouring_available(void) { return 0; }
static int iouring_init(struct ev_loop *loop) { (void)loop; return -38; }
static void iouring_destroy(struct ev_loop *loop) { (void)loop; }
static int iouring_fork(struct ev_loop *loop) { (void)loop; return -38; }
static void iouring_modify(struct ev_loop *loop, int fd, int oev, int nev)
{ (void)loop; (void)fd; (void)oev; (void)nev; }
static void iouring_poll(struct ev_loop *loop, ev_tstamp timeout) { (void)loop; (void)timeout; }

const struct ev_backend_ops ev__backend_iouring = {
  .name = "io_uring",
  .flag = EVBACKEND_IOURING,
  .embeddable = 1,
  .available = iouring_available,
  .init = iouring_init,
  .destroy = iouring_destroy,
  .fork = iouring_fork,
  .modify = iouring_modify,
  .poll = iouring_poll,
};
