/* ops.c - evring.h's operations: their life from start to the callback, what both mechanisms
 * share (see ops.h).
 *
 * An active operation is on the loop's `active` list, which holds a reference like any active
 * watcher. Its results go through the pending queue: a single-shot operation's one result
 * is written into the operation, a multishot operation's results wait in order in its result
 * queue, and ev_invoke_pending hands each to ev__op_invoke, which calls the program back. An
 * operation is inactive when its final callback runs, so the callback may start it again or
 * free it.
 *
 * Sends on one fd go out in start order: the fd's send queue, only its first send in flight.
 * A send or sendmsg ends when all its bytes are out; partial transfers are continued here. */
#include "ops.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The ring where the loop's backend is io_uring and the kernel has the opcodes, else
 * readiness. */
static const struct ev__op_mech *choose_mech(struct ev_loop *loop)
{
  const struct ev__op_mech *ring = ev__op_mech_ring(loop);
  return ring ? ring : &ev__op_mech_ready;
}

struct ev__ops *ev__ops_get(struct ev_loop *loop)
{
  if (!loop->ops) {
    struct ev__ops *ops = ev__realloc(NULL, sizeof *ops);
    memset(ops, 0, sizeof *ops);
    ops->pid = ev__getpid();
    loop->ops = ops;
    ops->mech = choose_mech(loop);
  }
  return loop->ops;
}

int evring_mode(struct ev_loop *loop)
{
  return ev__ops_get(loop)->mech->mode;
}

void evring_op_init(evring_op *op, void (*cb)(struct ev_loop *loop, evring_op *op, int revents))
{
  op->active = 0;
  op->pending = 0;
  op->priority = 0;
  op->cb = cb;
  op->res = 0;
  op->buf = NULL;
  op->flags = 0;
  op->fd = -1;
  op->kind = EVRING_K_NONE;
  op->deadline = 0.;
  memset(&op->priv_, 0, sizeof op->priv_);
}

/* ------------------------------------------------------------------------------------------ */
/* The deadline: an ev_timer inside the operation, not counted as a reference                 */

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents);

static void deadline_stop(struct ev_loop *loop, evring_op *op)
{
  if (ev_is_active(&op->priv_.timer)) {
    ev_ref(loop);
    ev_timer_stop(loop, &op->priv_.timer);
  }
}

static void deadline_start(struct ev_loop *loop, evring_op *op)
{
  deadline_stop(loop, op);
  if (!(op->deadline > 0.))
    return;
  ev_timer_init(&op->priv_.timer, deadline_cb, op->deadline, 0.);
  ev_set_priority(&op->priv_.timer, op->priority);
  ev_timer_start(loop, &op->priv_.timer);
  ev_unref(loop);
}

/* ------------------------------------------------------------------------------------------ */
/* Send queues                                                                                */

static int is_send(const evring_op *op)
{
  return op->kind == EVRING_K_SEND || op->kind == EVRING_K_SENDMSG;
}

static void sendq_unlink(struct ev__ops *ops, evring_op *op)
{
  if (op->fd < 0 || op->fd >= ops->sendq_cap)
    return;
  evring_op **pp = &ops->sendq[op->fd].head, *prev = NULL;
  while (*pp && *pp != op) {
    prev = *pp;
    pp = &(*pp)->priv_.next;
  }
  if (!*pp)
    return;
  *pp = op->priv_.next;
  if (ops->sendq[op->fd].tail == op)
    ops->sendq[op->fd].tail = prev;
  op->priv_.next = NULL;
}

/* The fd's first send left the queue: the next one goes out. */
static void sendq_next(struct ev_loop *loop, struct ev__ops *ops, int fd)
{
  evring_op *next = fd >= 0 && fd < ops->sendq_cap ? ops->sendq[fd].head : NULL;
  if (!next || !(next->priv_.state & EV__OP_QUEUED))
    return;
  next->priv_.state = (next->priv_.state & ~EV__OP_QUEUED) | EV__OP_INFLIGHT;
  ops->mech->start(loop, next);
}

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */

static void feed(struct ev_loop *loop, evring_op *op)
{
  ev_feed_event(loop, op, EVRING_DONE | EV__OP_PENDING);
}

static void queue_push(evring_op *op, ssize_t res, char *buf, int more)
{
  struct evring_result_queue_ *q = op->priv_.q;
  if (!q || q->n == q->cap) {
    int cap = q ? q->cap * 2 : 4;
    struct evring_result_queue_ *nq = ev__realloc(NULL, sizeof *nq + (size_t)cap * sizeof nq->e[0]);
    nq->head = 0;
    nq->n = 0;
    nq->cap = cap;
    for (; q && q->n; q->n--, q->head = (q->head + 1) % q->cap)
      nq->e[nq->n++] = q->e[q->head];
    ev__free(q);
    op->priv_.q = q = nq;
  }
  struct ev__op_res *e = &q->e[(q->head + q->n++) % q->cap];
  e->res = res;
  e->buf = buf;
  e->more = (unsigned int)more;
}

/* Results not yet reported give back what they hold: buffers, and accepted connections. With
 * `keep` (a stop) their bytes and connections go to the fd's stash, before what its request
 * still brings in while the mechanism stops it; else the connections are closed (nobody knows
 * their fd). The queue goes. */
static void queue_drop(struct ev_loop *loop, struct ev__ops *ops, evring_op *op, int keep)
{
  struct evring_result_queue_ *q = op->priv_.q;
  if (!q)
    return;
  for (; q->n; q->n--, q->head = (q->head + 1) % q->cap) {
    struct ev__op_res *e = &q->e[q->head];
    if (keep && e->buf && e->res > 0)
      ev__stash_put(ops, op->fd, e->buf, (size_t)e->res);
    if (e->buf)
      ev__buf_put(loop, ops, e->buf);
    if (op->kind == EVRING_K_ACCEPT && e->res >= 0) {
      if (keep)
        ev__stash_put_conn(ops, op->fd, (int)e->res);
      else
        close((int)e->res);
    }
  }
  ev__free(q);
  op->priv_.q = NULL;
}

static void unstarve(struct ev__ops *ops, evring_op *op)
{
  if (!(op->priv_.state & EV__OP_STARVED))
    return;
  op->priv_.state &= ~EV__OP_STARVED;
  for (int i = 0; i < ops->starved_n; i++)
    if (ops->starved[i] == op) {
      ops->starved[i] = ops->starved[--ops->starved_n];
      break;
    }
}

void ev__op_starve(struct ev_loop *loop, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  op->priv_.state = (op->priv_.state & ~EV__OP_INFLIGHT) | EV__OP_STARVED;
  EV__GROW(ops->starved, ops->starved_cap, ops->starved_n + 1);
  ops->starved[ops->starved_n++] = op;
}

/* The operation's last result: it waits for the callback, and the fd's next send goes. */
static void finish(struct ev_loop *loop, evring_op *op, ssize_t res, char *buf)
{
  struct ev__ops *ops = loop->ops;
  deadline_stop(loop, op);
  op->priv_.state = (op->priv_.state & ~(EV__OP_INFLIGHT | EV__OP_QUEUED)) | EV__OP_FINAL;
  if (ev__op_multishot(op))
    queue_push(op, res, buf, 0);
  else
    op->res = res;
  loop->stats.ops_completed++;
  if (is_send(op)) {
    int head = op->fd >= 0 && op->fd < ops->sendq_cap && ops->sendq[op->fd].head == op;
    sendq_unlink(ops, op);
    if (head)
      sendq_next(loop, ops, op->fd);
  }
  feed(loop, op);
}

void ev__op_result(struct ev_loop *loop, evring_op *op, ssize_t res, char *buf, int more)
{
  unsigned int st = op->priv_.state;
  if (more) {
    queue_push(op, res, buf, 1);
    feed(loop, op);
    if (ev_is_active(&op->priv_.timer))
      deadline_start(loop, op); /* an idle timeout: from the last result */
    return;
  }
  op->priv_.state &= ~EV__OP_INFLIGHT;
  if (is_send(op) && res >= 0) {
    op->priv_.done += (size_t)res;
    if (op->priv_.done >= op->priv_.len)
      res = (ssize_t)op->priv_.done;
    else if (st & (EV__OP_CANCEL | EV__OP_TIMEDOUT))
      res = -ECANCELED;
    else if (res > 0) {
      op->priv_.state |= EV__OP_INFLIGHT;
      loop->ops->mech->start(loop, op); /* the rest of it */
      return;
    } else
      res = -EIO; /* the kernel took nothing of a non-empty send */
  }
  if ((st & EV__OP_TIMEDOUT) && res == -ECANCELED)
    res = -ETIMEDOUT;
  finish(loop, op, res, buf);
}

/* The operation leaves the active list; what it still holds goes back. */
static void end(struct ev_loop *loop, struct ev__ops *ops, evring_op *op)
{
  queue_drop(loop, ops, op, 0);
  unstarve(ops, op);
  deadline_stop(loop, op);
  ev__free(op->priv_.aux);
  op->priv_.aux = NULL;
  op->priv_.state = 0;
  ev__wlist_del(loop, &ops->active, (ev_watcher *)op);
}

void ev__op_invoke(struct ev_loop *loop, evring_op *op, int revents)
{
  struct ev__ops *ops = loop->ops;
  char *buf = NULL;
  if (!ops || !op->active)
    return;
  if (ev__op_multishot(op)) {
    struct evring_result_queue_ *q = op->priv_.q;
    if (!q || !q->n)
      return;
    struct ev__op_res e = q->e[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    op->res = e.res;
    op->buf = buf = e.buf;
    op->flags = e.more ? EVRING_MORE : 0;
    if (!e.more)
      end(loop, ops, op);
    else if (q->n)
      feed(loop, op);
  } else {
    if (!(op->priv_.state & EV__OP_FINAL))
      return;
    op->buf = NULL;
    op->flags = 0;
    end(loop, ops, op);
  }
  char *outer = ops->lent;
  ops->lent = buf;
  loop->stats.callbacks++;
  op->cb(loop, op, revents & ~EV__OP_PENDING);
  if (ops->lent)
    ev__buf_put(loop, ops, ops->lent);
  ops->lent = outer;
}

/* ------------------------------------------------------------------------------------------ */
/* Starting                                                                                   */

/* What of a sendmsg is still to go after its first priv_.done bytes: the program's own
 * msghdr while nothing went, else a copy in priv_.aux whose iovecs start where the kernel
 * stopped (ancillary data went with the first bytes). */
const struct msghdr *ev__op_sendmsg_rest(evring_op *op)
{
  const struct msghdr *msg = op->priv_.ptr;
  size_t skip = op->priv_.done;
  if (!skip)
    return msg;
  size_t i = 0;
  while (i < msg->msg_iovlen && skip >= msg->msg_iov[i].iov_len)
    skip -= msg->msg_iov[i++].iov_len;
  size_t n = msg->msg_iovlen - i;
  struct msghdr *m = ev__realloc(op->priv_.aux, sizeof *m + (n ? n : 1) * sizeof(struct iovec));
  struct iovec *v = (struct iovec *)(m + 1);
  memcpy(v, msg->msg_iov + i, n * sizeof *v);
  if (n) {
    v[0].iov_base = (char *)v[0].iov_base + skip;
    v[0].iov_len -= skip;
  }
  *m = *msg;
  m->msg_iov = v;
  m->msg_iovlen = n;
  m->msg_control = NULL;
  m->msg_controllen = 0;
  op->priv_.aux = m;
  return m;
}

/* The common part of every start function. 0, or -1 when the operation is active already
 * (starting an active watcher does nothing in libev either). */
static int begin(struct ev_loop *loop, evring_op *op, int kind, int fd)
{
  if (op->active)
    return -1;
  struct ev__ops *ops = ev__ops_get(loop);
  op->kind = kind;
  op->fd = fd;
  op->res = 0;
  op->buf = NULL;
  op->flags = 0;
  op->priv_.state = 0;
  op->priv_.done = 0;
  op->priv_.offset = -1;
  op->priv_.next = NULL;
  op->priv_.q = NULL;
  op->priv_.aux = NULL;
  op->priv_.ptr = NULL;
  op->priv_.len = 0;
  op->priv_.arg = 0;
  ev__wlist_add(loop, &ops->active, (ev_watcher *)op);
  loop->stats.ops_started++;
  return 0;
}

/* Hand the operation to the mechanism, or end it at once with -EBADF for a negative fd. */
static void launch(struct ev_loop *loop, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  if (op->fd < 0) {
    finish(loop, op, -EBADF, NULL);
    return;
  }
  deadline_start(loop, op);
  if (is_send(op)) {
    if (op->fd >= ops->sendq_cap) {
      int old = ops->sendq_cap;
      EV__GROW(ops->sendq, ops->sendq_cap, op->fd + 1);
      memset(ops->sendq + old, 0, (size_t)(ops->sendq_cap - old) * sizeof *ops->sendq);
    }
    if (ops->sendq[op->fd].head) {
      ops->sendq[op->fd].tail->priv_.next = op;
      ops->sendq[op->fd].tail = op;
      op->priv_.state |= EV__OP_QUEUED;
      return;
    }
    ops->sendq[op->fd].head = ops->sendq[op->fd].tail = op;
  }
  op->priv_.state |= EV__OP_INFLIGHT;
  ops->mech->start(loop, op);
}

void evring_accept(struct ev_loop *loop, evring_op *op, int fd, int flags)
{
  if (begin(loop, op, EVRING_K_ACCEPT, fd) == 0) {
    op->priv_.arg = flags;
    ev__stash_deliver(loop, op); /* what a stopped accept on this socket left comes first */
    launch(loop, op);
  }
}

void evring_connect(struct ev_loop *loop, evring_op *op, int fd, const struct sockaddr *addr,
                    socklen_t addrlen)
{
  if (begin(loop, op, EVRING_K_CONNECT, fd) < 0)
    return;
  if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage)) {
    finish(loop, op, -EINVAL, NULL);
    return;
  }
  op->priv_.aux = ev__realloc(NULL, addrlen);
  memcpy(op->priv_.aux, addr, addrlen);
  op->priv_.aux_len = addrlen;
  launch(loop, op);
}

void evring_recv(struct ev_loop *loop, evring_op *op, int fd)
{
  if (begin(loop, op, EVRING_K_RECV, fd) < 0)
    return;
  int r = ev__buf_pool_init(&loop->ops->pool);
  if (r < 0) {
    finish(loop, op, r, NULL);
    return;
  }
  ev__stash_deliver(loop, op); /* what a stopped recv on this socket left comes first */
  launch(loop, op);
}

static void start_rw(struct ev_loop *loop, evring_op *op, int kind, int fd, const void *buf,
                     size_t len, int64_t offset, int arg)
{
  if (begin(loop, op, kind, fd) < 0)
    return;
  op->priv_.ptr = (void *)buf;
  op->priv_.len = len;
  op->priv_.offset = offset;
  op->priv_.arg = arg;
  launch(loop, op);
}

void evring_read(struct ev_loop *loop, evring_op *op, int fd, void *buf, size_t len,
                 int64_t offset)
{
  start_rw(loop, op, EVRING_K_READ, fd, buf, len, offset, 0);
}

void evring_write(struct ev_loop *loop, evring_op *op, int fd, const void *buf, size_t len,
                  int64_t offset)
{
  start_rw(loop, op, EVRING_K_WRITE, fd, buf, len, offset, 0);
}

void evring_send(struct ev_loop *loop, evring_op *op, int fd, const void *buf, size_t len,
                 int flags)
{
  start_rw(loop, op, EVRING_K_SEND, fd, buf, len, -1, flags | MSG_NOSIGNAL);
}

void evring_sendmsg(struct ev_loop *loop, evring_op *op, int fd, const struct msghdr *msg,
                    int flags)
{
  size_t len = 0;
  for (size_t i = 0; msg && i < msg->msg_iovlen; i++)
    len += msg->msg_iov[i].iov_len;
  start_rw(loop, op, EVRING_K_SENDMSG, fd, msg, len, -1, flags | MSG_NOSIGNAL);
}

void evring_close(struct ev_loop *loop, evring_op *op, int fd)
{
  if (begin(loop, op, EVRING_K_CLOSE, fd) == 0) {
    ev__stash_drop(loop->ops, fd);
    launch(loop, op);
  }
}

void evring_shutdown(struct ev_loop *loop, evring_op *op, int fd, int how)
{
  if (begin(loop, op, EVRING_K_SHUTDOWN, fd) == 0) {
    op->priv_.arg = how;
    launch(loop, op);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Ending early                                                                               */

void evring_stop(struct ev_loop *loop, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  ev__clear_pending(loop, (ev_watcher *)op);
  if (!op->active || !ops)
    return;
  if (ev__op_multishot(op))
    queue_drop(loop, ops, op, 1);
  unsigned int st = op->priv_.state;
  if (st & EV__OP_INFLIGHT)
    ops->mech->stop(loop, op);
  if (is_send(op) && !(st & EV__OP_FINAL)) {
    int head = op->fd >= 0 && op->fd < ops->sendq_cap && ops->sendq[op->fd].head == op;
    sendq_unlink(ops, op);
    if (head)
      sendq_next(loop, ops, op->fd);
  }
  end(loop, ops, op);
}

/* An operation that is not in the kernel ends here and now; one that is ends when the
 * kernel answers the cancellation. */
static void cancel(struct ev_loop *loop, evring_op *op, unsigned int why)
{
  struct ev__ops *ops = loop->ops;
  unsigned int st = op->priv_.state;
  ssize_t res = why == EV__OP_TIMEDOUT ? -ETIMEDOUT : -ECANCELED;
  if (st & EV__OP_FINAL)
    return;
  if (st & EV__OP_INFLIGHT) {
    if (st & (EV__OP_CANCEL | EV__OP_TIMEDOUT))
      return;
    op->priv_.state |= why;
    ops->mech->cancel(loop, op);
    return;
  }
  unstarve(ops, op);
  finish(loop, op, res, NULL);
}

void evring_cancel(struct ev_loop *loop, evring_op *op)
{
  if (op->active && loop->ops)
    cancel(loop, op, EV__OP_CANCEL);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
  (void)revents;
  evring_op *op = EV__CONTAINER_OF(t, evring_op, priv_.timer);
  ev_ref(loop); /* the expired timer stopped itself */
  if (op->active)
    cancel(loop, op, EV__OP_TIMEDOUT);
}

/* ------------------------------------------------------------------------------------------ */
/* Receive buffers coming back                                                                */

char *evring_buf_keep(struct ev_loop *loop, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  if (!ops || !op->buf || ops->lent != op->buf)
    return NULL;
  ops->lent = NULL;
  return op->buf;
}

void evring_buf_release(struct ev_loop *loop, char *buf)
{
  if (buf && loop->ops)
    ev__buf_put(loop, loop->ops, buf);
}

int evring_set_recv_buffers(struct ev_loop *loop, unsigned int count, unsigned int size)
{
  struct ev__ops *ops = ev__ops_get(loop);
  if (ops->pool.base)
    return -EBUSY;
  if (!count || (count & (count - 1)) || count > 32768 || !size || size > (1u << 24))
    return -EINVAL;
  ops->pool.count = count;
  ops->pool.size = size;
  return 0;
}

/* A receive buffer came back: the recvs that waited for one try again (each waits again if
 * another took it first). */
void ev__ops_buffer_free(struct ev_loop *loop, struct ev__ops *ops)
{
  for (int n = ops->starved_n; n > 0 && ops->starved_n; n--) {
    evring_op *op = ops->starved[0];
    unstarve(ops, op);
    op->priv_.state |= EV__OP_INFLIGHT;
    ops->mech->start(loop, op);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Fork, destroy, a new backend                                                               */

void ev__ops_fork(struct ev_loop *loop)
{
  struct ev__ops *ops = loop->ops;
  if (!ops || ops->pid == ev__getpid())
    return; /* ev_loop_fork in the process that owns the operations: they go on */
  ops->pid = ev__getpid();
  for (int i = ops->active.n; i-- > 0;) {
    evring_op *op = (evring_op *)ops->active.v[i];
    if (op->priv_.state & EV__OP_INFLIGHT)
      ops->mech->forget(loop, op);
    op->priv_.state &= ~(EV__OP_INFLIGHT | EV__OP_QUEUED);
    unstarve(ops, op);
    if (!(op->priv_.state & EV__OP_FINAL))
      finish(loop, op, -ECANCELED, NULL);
  }
  for (int fd = 0; fd < ops->sendq_cap; fd++)
    ops->sendq[fd].head = ops->sendq[fd].tail = NULL;
  ev__stash_drop_all(ops); /* the child's copies of stashed connections are closed */
  ops->mech = choose_mech(loop);
}

void ev__ops_destroy(struct ev_loop *loop)
{
  struct ev__ops *ops = loop->ops;
  if (!ops)
    return;
  while (ops->active.n) {
    evring_op *op = (evring_op *)ops->active.v[ops->active.n - 1];
    ev__clear_pending(loop, (ev_watcher *)op);
    if (op->priv_.state & EV__OP_INFLIGHT)
      ops->mech->forget(loop, op);
    op->priv_.next = NULL;
    end(loop, ops, op);
  }
}

void ev__ops_free(struct ev_loop *loop)
{
  struct ev__ops *ops = loop->ops;
  if (!ops)
    return;
  ev__buf_pool_free(&ops->pool);
  ev__stash_free(ops);
  ev__wlist_free(&ops->active);
  ev__free(ops->sendq);
  ev__free(ops->starved);
  ev__free(ops);
  loop->ops = NULL;
}

void ev__ops_backend_changed(struct ev_loop *loop)
{
  struct ev__ops *ops = loop->ops;
  if (!ops)
    return;
  const struct ev__op_mech *mech = choose_mech(loop);
  if (mech == ops->mech)
    return;
  ops->mech = mech;
  ev__buf_pool_reset(&ops->pool);
  for (int i = 0; i < ops->active.n; i++) {
    evring_op *op = (evring_op *)ops->active.v[i];
    if (op->priv_.state & EV__OP_INFLIGHT)
      mech->start(loop, op);
  }
}
