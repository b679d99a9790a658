/* ready.c - operations on readiness: the system call itself, non-blocking, and an ev_io of
 * the operation's own (internal: the operation holds the loop's reference) while it would
 * block. The mechanism of every backend but io_uring, and of io_uring loops whose kernel lacks
 * what the ring mechanism needs.
 *
 * Sends, writes at an offset, closes and shutdowns are tried at once (a send usually fits in
 * the socket buffer: no wait at all); accepts, recvs and reads of streams first wait for
 * readiness, so that a blocking fd never blocks the loop. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int would_block(int err)
{
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static void wait_for(struct ev_loop *loop, evring_op *op, int events)
{
  ev_io *w = &op->priv_.io;
  if (ev_is_active(w) && (w->events & (EV_READ | EV_WRITE)) == events)
    return;
  if (ev_is_active(w))
    ev__io_stop_internal(loop, w);
  ev_io_set(w, op->fd, events);
  ev_set_priority(w, op->priority);
  ev__io_start_internal(loop, w);
}

static void unwait(struct ev_loop *loop, evring_op *op)
{
  if (ev_is_active(&op->priv_.io))
    ev__io_stop_internal(loop, &op->priv_.io);
}

/* One attempt: its outcome goes to ev__op_result; one that would block waits for readiness
 * (or, a recv without a free buffer, for a buffer). */
static void attempt(struct ev_loop *loop, evring_op *op)
{
  ssize_t r;
  int fd = op->fd, more = 0;
  char *buf = NULL;
  struct ev__ops *ops = loop->ops;

  switch (op->kind) {
  case EVRING_K_ACCEPT:
    r = accept4(fd, NULL, NULL, op->priv_.arg);
    if (r < 0 && would_block(errno)) {
      wait_for(loop, op, EV_READ);
      return;
    }
    /* Errors of one connection leave the listener accepting. */
    more = r >= 0 || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE ||
           errno == ENOBUFS || errno == ENOMEM;
    break;
  case EVRING_K_CONNECT: {
    if (!ev_is_active(&op->priv_.io)) {
      int fl = fcntl(fd, F_GETFL);
      if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
      r = connect(fd, op->priv_.aux, op->priv_.aux_len);
      int err = errno;
      if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl);
      if (r < 0 && (err == EINPROGRESS || err == EINTR)) {
        wait_for(loop, op, EV_WRITE);
        return;
      }
      errno = err;
    } else {
      int err = 0;
      socklen_t len = sizeof err;
      r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (r == 0 && err) {
        r = -1;
        errno = err;
      }
    }
    break;
  }
  case EVRING_K_RECV:
    if (!ev_is_active(&op->priv_.io)) {
      wait_for(loop, op, EV_READ);
      return;
    }
    buf = ev__buf_get(&ops->pool);
    if (!buf) {
      unwait(loop, op);
      ev__op_starve(loop, op);
      return;
    }
    r = recv(fd, buf, ops->pool.size, MSG_DONTWAIT);
    if (r < 0 && would_block(errno)) {
      ev__buf_put(loop, ops, buf);
      return;
    }
    if (r <= 0) {
      ev__buf_put(loop, ops, buf);
      buf = NULL;
    }
    more = r > 0;
    break;
  case EVRING_K_READ:
    if (op->priv_.offset >= 0)
      r = pread(fd, op->priv_.ptr, op->priv_.len, op->priv_.offset);
    else if (!ev_is_active(&op->priv_.io)) {
      wait_for(loop, op, EV_READ);
      return;
    } else
      r = read(fd, op->priv_.ptr, op->priv_.len);
    if (r < 0 && would_block(errno)) {
      wait_for(loop, op, EV_READ);
      return;
    }
    break;
  case EVRING_K_WRITE:
    r = op->priv_.offset >= 0 ? pwrite(fd, op->priv_.ptr, op->priv_.len, op->priv_.offset)
                              : write(fd, op->priv_.ptr, op->priv_.len);
    if (r < 0 && would_block(errno)) {
      wait_for(loop, op, EV_WRITE);
      return;
    }
    break;
  case EVRING_K_SEND:
    r = send(fd, (const char *)op->priv_.ptr + op->priv_.done, op->priv_.len - op->priv_.done,
             (op->priv_.arg & ~EVRING_ZEROCOPY) | MSG_DONTWAIT);
    if (r < 0 && would_block(errno)) {
      wait_for(loop, op, EV_WRITE);
      return;
    }
    break;
  case EVRING_K_SENDMSG: {
    r = sendmsg(fd, ev__op_sendmsg_rest(op), (op->priv_.arg & ~EVRING_ZEROCOPY) | MSG_DONTWAIT);
    if (r < 0 && would_block(errno)) {
      wait_for(loop, op, EV_WRITE);
      return;
    }
    break;
  }
  case EVRING_K_CLOSE:
    r = close(fd);
    if (r < 0 && errno == EINTR)
      r = 0; /* Linux closed it anyway */
    break;
  case EVRING_K_SHUTDOWN:
    r = shutdown(fd, op->priv_.arg);
    break;
  default:
    r = -1;
    errno = EINVAL;
  }
  if (r < 0)
    r = -errno;
  if (!more)
    unwait(loop, op);
  else if (op->kind == EVRING_K_ACCEPT)
    wait_for(loop, op, EV_READ); /* the next connection: the first attempt came without a wait */
  ev__op_result(loop, op, r, buf, more);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
  evring_op *op = EV__CONTAINER_OF(w, evring_op, priv_.io);
  if (revents & EV_ERROR) {
    /* The loop stopped the watcher like a program's (ev_io_stop, one reference less): the
     * reference an internal watcher gave back at its start returns. */
    ev_ref(loop);
    ev__op_result(loop, op, -EBADF, NULL, 0);
    return;
  }
  attempt(loop, op);
}

static void ready_start(struct ev_loop *loop, evring_op *op)
{
  if (!op->priv_.io.cb)
    ev_init(&op->priv_.io, io_cb);
  attempt(loop, op);
}

static void ready_stop(struct ev_loop *loop, evring_op *op)
{
  unwait(loop, op);
}

static void ready_cancel(struct ev_loop *loop, evring_op *op)
{
  unwait(loop, op);
  ev__op_result(loop, op, -ECANCELED, NULL, 0);
}

const struct ev__op_mech ev__op_mech_ready = {
  .mode = EVRING_MODE_READINESS,
  .start = ready_start,
  .stop = ready_stop,
  .cancel = ready_cancel,
  .forget = ready_stop,
};
