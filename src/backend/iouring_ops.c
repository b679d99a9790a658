/* iouring_ops.c - evring.h's ring mechanism: the io_uring backend's ring does the I/O.
 *
 * Each operation's request goes into the SQ when it starts and reaches the kernel with the
 * iteration's one io_uring_enter, next to the loop's readiness requests; its completions
 * come back through the backend's CQ walk (ev__iou_process -> ev__iou_op_done). A request
 * record (slot) ties a request to its operation: user_data carries the slot index and a
 * generation, so a completion of a request whose operation was stopped finds the slot
 * detached and only gives back what the request held.
 *
 * What the kernel offers, probed (iouring_probe.c) and maskable (EVRING_IOURING_DISABLE):
 * multishot accept and a provided-buffer ring (5.19), multishot recv and zero-copy send
 * (6.0); without them one request per accept or recv, re-armed, reading into a buffer taken
 * from the pool, and plain sends. IORING_OP_SHUTDOWN (5.11) or the shutdown system call.
 *
 * A ring replaced by the backend (bigger, after a failure, ev_loop_fork in its owner) is
 * cancelled first (ev__iou_ring_cancel_all): requests cancelled that way are issued again on
 * the new ring, never reported. A forked child's ring holds none of the parent's requests:
 * ops.c ends the child's copies of them. */
#include "iouring.h"
#include "../evring/ops.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SLOT_FREE = 0, SLOT_BUSY };

struct slot {
  evring_op *op;       /* NULL: detached (stopped, forgotten), the request still in the kernel */
  uint32_t gen;
  unsigned char state;
  unsigned char restart; /* cancelled by a ring replacement: issue again, do not report */
  unsigned char multi;   /* a multishot request: more completions may come */
  unsigned char zc;      /* a zero-copy send: its notification is still to come */
  unsigned char zc_seen; /* ... and its result has come: the data is sent, never again */
  unsigned char kind;    /* EVRING_K_* of the request */
  int fd;                /* of the request: where a stopped recv's late bytes are stashed */
  ssize_t zc_res;        /* a zero-copy send's result, reported with its notification */
  char *buf;             /* a pool buffer the request reads into */
};

struct iou_ops {
  struct slot *slots;
  uint32_t *free_slots;
  int slot_cap, free_n, inflight;
  int zc_waiting;      /* zero-copy sends whose result came and notification not yet */
  evring_op **restart; /* operations to issue again on the current ring */
  int restart_n, restart_cap;
  /* the provided-buffer ring, group 0 */
  struct io_uring_buf_ring *br;
  unsigned int br_entries;
  int br_registered, br_failed;
  int multi_accept, multi_recv, use_br, zc, shutdown_op;
  pid_t pid; /* the process whose requests the slots are */
};

static const struct ev__op_mech ring_mech;

static struct iou_ops *ring_ops(struct iouring *st)
{
  if (!st->ops) {
    struct iou_ops *ro = ev__realloc(NULL, sizeof *ro);
    const struct ev__iouring_caps *caps = ev__iouring_caps();
    memset(ro, 0, sizeof *ro);
    ro->multi_accept = caps->v5_19 && !(st->off & EV__IOU_OFF_ACCEPT_MULTI);
    ro->use_br = caps->v5_19 && !(st->off & EV__IOU_OFF_BUF_RING);
    ro->multi_recv = ro->use_br && caps->v6_0 && !(st->off & EV__IOU_OFF_RECV_MULTI);
    ro->zc = caps->v6_0 && !(st->off & EV__IOU_OFF_SEND_ZC);
    ro->shutdown_op = caps->shutdown_op;
    st->ops = ro;
  }
  return st->ops;
}

const struct ev__op_mech *ev__op_mech_ring(struct ev_loop *loop)
{
  struct iouring *st = loop->backend_data;
  if (loop->backend != &ev__backend_iouring || !st || !ev__iouring_caps()->io_ops ||
      (st->off & EV__IOU_OFF_RING_OPS))
    return NULL;
  ring_ops(st);
  return &ring_mech;
}

int ev__iou_ops_inflight(const struct iouring *st)
{
  return st->ops ? st->ops->inflight : 0;
}

int ev__iou_ops_zc_waiting(const struct iouring *st)
{
  return st->ops ? st->ops->zc_waiting : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Slots                                                                                      */

static uint32_t slot_new(struct iou_ops *ro, evring_op *op)
{
  if (!ro->free_n) {
    int old = ro->slot_cap;
    EV__GROW(ro->slots, ro->slot_cap, old + 1);
    ro->free_slots = ev__realloc(ro->free_slots, (size_t)ro->slot_cap * sizeof *ro->free_slots);
    for (int i = ro->slot_cap; i-- > old;) {
      memset(&ro->slots[i], 0, sizeof ro->slots[i]);
      ro->free_slots[ro->free_n++] = (uint32_t)i;
    }
  }
  uint32_t i = ro->free_slots[--ro->free_n];
  struct slot *s = &ro->slots[i];
  s->gen = (s->gen + 1) & EV__IOU_GEN_MASK;
  s->op = op;
  s->state = SLOT_BUSY;
  s->restart = s->multi = s->zc = s->zc_seen = 0;
  s->buf = NULL;
  ro->inflight++;
  op->priv_.slot = i;
  return i;
}

static void slot_free(struct iou_ops *ro, uint32_t i)
{
  struct slot *s = &ro->slots[i];
  if (s->zc_seen)
    ro->zc_waiting--;
  s->zc_seen = 0;
  s->state = SLOT_FREE;
  s->op = NULL;
  ro->free_slots[ro->free_n++] = i;
  ro->inflight--;
}

/* The slot of an operation in flight, or NULL. */
static struct slot *slot_of(struct iou_ops *ro, const evring_op *op)
{
  uint32_t i = op->priv_.slot;
  if ((int)i >= ro->slot_cap || ro->slots[i].state != SLOT_BUSY || ro->slots[i].op != op)
    return NULL;
  return &ro->slots[i];
}

/* ------------------------------------------------------------------------------------------ */
/* The provided-buffer ring                                                                   */

static void br_fill(struct iou_ops *ro, struct ev__bufpool *pool)
{
  io_uring_buf_ring_init(ro->br);
  int n = 0;
  for (unsigned int bid = 0; bid < pool->count; bid++)
    if (!pool->held[bid])
      io_uring_buf_ring_add(ro->br, ev__buf_addr(pool, bid), pool->size, (unsigned short)bid,
                            io_uring_buf_ring_mask(ro->br_entries), n++);
  io_uring_buf_ring_advance(ro->br, n);
  pool->free_n = 0; /* the free buffers are the kernel's to pick */
}

/* Register the buffer ring with the current ring (first recv, or a new ring). 0 or -1: no
 * buffer ring, recvs read into buffers taken from the pool. */
static int br_setup(struct ev_loop *loop, struct iouring *st, struct iou_ops *ro)
{
  struct ev__bufpool *pool = &loop->ops->pool;
  if (!ro->use_br || ro->br_failed || !pool->base)
    return -1;
  if (ro->br_registered)
    return 0;
  if (!ro->br) {
    ro->br_entries = pool->count;
    void *m = mmap(NULL, ro->br_entries * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      goto failed;
    ro->br = m;
  }
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (unsigned long)ro->br;
  reg.ring_entries = ro->br_entries;
  reg.bgid = 0;
  ev__iou_count_syscall(st, 0);
  if (io_uring_register_buf_ring(&st->ring, &reg, 0) < 0)
    goto failed;
  ro->br_registered = 1;
  br_fill(ro, pool);
  return 0;
failed:
  ro->br_failed = 1;
  ro->multi_recv = 0;
  ev__buf_pool_reset(pool);
  return -1;
}

static int ring_buffer_back(struct ev_loop *loop, unsigned int bid)
{
  struct iouring *st = loop->backend_data;
  struct iou_ops *ro = st->ops;
  if (!ro || !ro->br_registered)
    return 0;
  struct ev__bufpool *pool = &loop->ops->pool;
  io_uring_buf_ring_add(ro->br, ev__buf_addr(pool, bid), pool->size, (unsigned short)bid,
                        io_uring_buf_ring_mask(ro->br_entries), 0);
  io_uring_buf_ring_advance(ro->br, 1);
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */

static void ring_start(struct ev_loop *loop, evring_op *op);

/* The request of an operation that starts or goes on. */
static void issue(struct ev_loop *loop, struct iouring *st, struct iou_ops *ro, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  char *buf = NULL;

  if (op->kind == EVRING_K_SHUTDOWN && !ro->shutdown_op) {
    int r = shutdown(op->fd, op->priv_.arg);
    ev__op_result(loop, op, r < 0 ? -errno : 0, NULL, 0);
    return;
  }
  int with_br = op->kind == EVRING_K_RECV && br_setup(loop, st, ro) == 0;
  if (op->kind == EVRING_K_RECV && !with_br) {
    buf = ev__buf_get(&ops->pool);
    if (!buf) {
      ev__op_starve(loop, op);
      return;
    }
  }
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  /* A ring not yet enabled (no iteration ran yet) takes no submission to make room. */
  if (!sqe && st->need_enable && ev__iou_ring_start(loop, st) == 0)
    sqe = ev__iou_sqe(loop, st);
  if (!sqe) {
    /* The kernel takes nothing now (its CQ is full): the request goes in with the next
     * iteration's enter. */
    if (buf)
      ev__buf_put(loop, ops, buf);
    EV__GROW(ro->restart, ro->restart_cap, ro->restart_n + 1);
    ro->restart[ro->restart_n++] = op;
    return;
  }
  uint32_t i = slot_new(ro, op);
  struct slot *s = &ro->slots[i];
  ro->pid = st->pid;
  s->buf = buf;
  s->kind = (unsigned char)op->kind;
  s->fd = op->fd;
  size_t left = op->priv_.len - op->priv_.done;
  if (left > 0x7ffff000u)
    left = 0x7ffff000u; /* what one system call transfers at most; the rest follows */
  const char *at = (const char *)op->priv_.ptr + op->priv_.done;
  int flags = op->priv_.arg & ~EVRING_ZEROCOPY;

  switch (op->kind) {
  case EVRING_K_ACCEPT:
    if (ro->multi_accept) {
      io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, op->priv_.arg);
      s->multi = 1;
    } else
      io_uring_prep_accept(sqe, op->fd, NULL, NULL, op->priv_.arg);
    break;
  case EVRING_K_CONNECT:
    io_uring_prep_connect(sqe, op->fd, op->priv_.aux, op->priv_.aux_len);
    break;
  case EVRING_K_RECV:
    if (with_br) {
      if (ro->multi_recv) {
        io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
        s->multi = 1;
      } else
        io_uring_prep_recv(sqe, op->fd, NULL, ops->pool.size, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
    } else
      io_uring_prep_recv(sqe, op->fd, buf, ops->pool.size, 0);
    break;
  case EVRING_K_READ:
    io_uring_prep_read(sqe, op->fd, op->priv_.ptr, (unsigned int)left,
                       (uint64_t)op->priv_.offset);
    break;
  case EVRING_K_WRITE:
    io_uring_prep_write(sqe, op->fd, op->priv_.ptr, (unsigned int)left,
                        (uint64_t)op->priv_.offset);
    break;
  case EVRING_K_SEND:
    if ((op->priv_.arg & EVRING_ZEROCOPY) && ro->zc) {
      io_uring_prep_send_zc(sqe, op->fd, at, left, flags, 0);
      s->zc = 1;
    } else
      io_uring_prep_send(sqe, op->fd, at, left, flags);
    break;
  case EVRING_K_SENDMSG:
    io_uring_prep_sendmsg(sqe, op->fd, ev__op_sendmsg_rest(op), (unsigned int)flags);
    break;
  case EVRING_K_CLOSE:
    io_uring_prep_close(sqe, op->fd);
    break;
  case EVRING_K_SHUTDOWN:
    io_uring_prep_shutdown(sqe, op->fd, op->priv_.arg);
    break;
  default:
    io_uring_prep_nop(sqe);
  }
  sqe->user_data = ev__iou_tag(EV__IOU_K_OP, s->gen, (int)i);
}

static void ring_start(struct ev_loop *loop, evring_op *op)
{
  struct iouring *st = loop->backend_data;
  if (st->pid != ev__getpid()) {
    /* A forked child that has not called ev_loop_fork: the ring is the parent's. */
    ev__op_result(loop, op, -ECANCELED, NULL, 0);
    return;
  }
  issue(loop, st, ring_ops(st), op);
}

static void submit_cancel(struct ev_loop *loop, struct iouring *st, uint32_t i)
{
  struct io_uring_sqe *sqe = ev__iou_sqe(loop, st);
  if (!sqe)
    return;
  io_uring_prep_cancel64(sqe, ev__iou_tag(EV__IOU_K_OP, st->ops->slots[i].gen, (int)i), 0);
  sqe->user_data = ev__iou_tag(EV__IOU_K_CANCEL, 0, -1);
}

static void ring_cancel(struct ev_loop *loop, evring_op *op)
{
  struct iouring *st = loop->backend_data;
  if (slot_of(st->ops, op) && st->pid == ev__getpid())
    submit_cancel(loop, st, op->priv_.slot);
  else
    ev__op_result(loop, op, -ECANCELED, NULL, 0); /* waiting to be issued again */
}

/* The operation ends now. Its request is detached and the kernel's answer to its
 * cancellation waited for: when evring_stop returns, the program's buffer is its own again,
 * the request no longer holds the file (a close by the program closes), and what a recv or
 * accept took meanwhile is in the stash before a new one on the fd can start. */
static void ring_stop(struct ev_loop *loop, evring_op *op)
{
  struct iouring *st = loop->backend_data;
  struct iou_ops *ro = st->ops;
  struct slot *s = slot_of(ro, op);
  if (!s)
    return;
  uint32_t i = op->priv_.slot, gen = s->gen;
  s->op = NULL;
  if (st->pid != ev__getpid())
    return;
  /* A ring not yet enabled (no iteration ran yet) would hold the request back until then. */
  ev__iou_ring_claim(st);
  if (ev__iou_ring_start(loop, st) < 0)
    return;
  submit_cancel(loop, st, i);
  for (int tries = 0; tries < 200 && ro->slots[i].state == SLOT_BUSY && ro->slots[i].gen == gen;
       tries++) {
    struct __kernel_timespec ts = {0, 5 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    ev__iou_count_syscall(st, 0);
    int r = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    ev__iou_process(loop, st, EV__IOU_DISPATCH);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      break;
  }
}

/* A forked child: the request is the parent's. */
static void ring_forget(struct ev_loop *loop, evring_op *op)
{
  struct iouring *st = loop->backend_data;
  if (!st || !st->ops)
    return;
  struct slot *s = slot_of(st->ops, op);
  if (s)
    slot_free(st->ops, op->priv_.slot);
}

/* ------------------------------------------------------------------------------------------ */
/* Completions                                                                                */

static int per_connection_error(int res)
{
  return res == -ECONNABORTED || res == -EMFILE || res == -ENFILE || res == -ENOBUFS ||
         res == -ENOMEM;
}

void ev__iou_op_done(struct ev_loop *loop, struct iouring *st, uint32_t i, uint32_t gen,
                     const struct io_uring_cqe *cqe)
{
  struct iou_ops *ro = st->ops;
  if (!ro || (int)i >= ro->slot_cap || ro->slots[i].state != SLOT_BUSY || ro->slots[i].gen != gen)
    return;
  struct slot *s = &ro->slots[i];
  struct ev__ops *ops = loop->ops;
  evring_op *op = s->op;
  int res = cqe->res, more = !!(cqe->flags & IORING_CQE_F_MORE);
  char *buf = s->buf;

  if (cqe->flags & IORING_CQE_F_BUFFER) {
    unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    buf = ev__buf_addr(&ops->pool, bid);
    ev__buf_hold(&ops->pool, bid);
  }
  if (s->zc) {
    /* SEND_ZC: the result first (F_MORE when a notification follows), then the
     * notification that the kernel is done with the buffer. */
    if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
      s->zc_res = res;
      if (more) {
        if (res > 0) { /* bytes are on their way: this request is never issued again */
          s->zc_seen = 1;
          ro->zc_waiting++;
        }
        return;
      }
    } else
      res = (int)s->zc_res;
    more = 0;
  }
  int restart = s->restart;
  if (!more || !s->multi)
    slot_free(ro, i);

  if (!op) { /* detached by a stop: what the request held goes back, bytes received and
              * connections accepted to the stash of its fd */
    if (buf && s->kind == EVRING_K_RECV && res > 0)
      ev__stash_put(ops, s->fd, buf, (size_t)res);
    if (buf)
      ev__buf_put(loop, ops, buf);
    if (s->kind == EVRING_K_ACCEPT && res >= 0)
      ev__stash_put_conn(ops, s->fd, res);
    return;
  }
  if (res == -ECANCELED && restart && !more) {
    EV__GROW(ro->restart, ro->restart_cap, ro->restart_n + 1);
    ro->restart[ro->restart_n++] = op;
    return;
  }
  int asked = op->priv_.state & (EV__OP_CANCEL | EV__OP_TIMEDOUT);
  if (res == -EOPNOTSUPP && s->zc && !asked) {
    /* Zero-copy needs a socket that has it (TCP, UDP; not AF_UNIX): a plain send then. */
    op->priv_.arg &= ~EVRING_ZEROCOPY;
    issue(loop, st, ro, op);
    return;
  }
  switch (op->kind) {
  case EVRING_K_ACCEPT:
    if (res >= 0 || (per_connection_error(res) && !asked)) {
      ev__op_result(loop, op, res, NULL, 1);
      if (!more)
        goto ended; /* single-shot, or the kernel ended the multishot */
      return;
    }
    break;
  case EVRING_K_RECV:
    if (res > 0) {
      ev__op_result(loop, op, res, buf, 1);
      if (!more)
        goto ended;
      return;
    }
    if (buf)
      ev__buf_put(loop, ops, buf);
    buf = NULL;
    if (res == -ENOBUFS) {
      /* Every buffer is held (by the program, or by results not yet reported): the recv
       * goes on when one comes back, unless it was asked to end, which it now does. */
      if (asked) {
        ev__op_result(loop, op, -ECANCELED, NULL, 0);
        return;
      }
      ev__op_starve(loop, op);
      if (ops->pool.free_n)
        ev__ops_buffer_free(loop, ops);
      return;
    }
    break;
  default:
    break;
  }
  ev__op_result(loop, op, res, buf, 0);
  return;
ended:
  /* A multishot operation's request ended with a result that does not end the operation:
   * it ends now if that was asked for, else its next request goes in (on the next ring,
   * when this one is being replaced). */
  if (restart) {
    EV__GROW(ro->restart, ro->restart_cap, ro->restart_n + 1);
    ro->restart[ro->restart_n++] = op;
  } else if (op->priv_.state & (EV__OP_CANCEL | EV__OP_TIMEDOUT))
    ev__op_result(loop, op, -ECANCELED, NULL, 0);
  else
    issue(loop, st, ro, op);
}

/* ------------------------------------------------------------------------------------------ */
/* The ring is cancelled, replaced, destroyed                                                 */

/* Before everything in the ring is cancelled for a replacement: the requests of operations
 * are to be issued again, not reported. Without IORING_ASYNC_CANCEL_ANY each is cancelled
 * here. */
void ev__iou_ops_cancel_all(struct ev_loop *loop, struct iouring *st, int one_by_one)
{
  struct iou_ops *ro = st->ops;
  if (!ro)
    return;
  for (int i = 0; i < ro->slot_cap; i++) {
    struct slot *s = &ro->slots[i];
    if (s->state != SLOT_BUSY)
      continue;
    s->restart = 1;
    if (one_by_one)
      submit_cancel(loop, st, (uint32_t)i);
  }
}

/* A new ring: the buffer ring is to be registered with it, and the operations whose requests
 * the old one held are to be issued again (those the cancellation did not answer too: the old
 * ring is gone, and with it its requests), both by the next iteration, once the backend has
 * set the new ring up completely. In a forked child nothing of the old ring was ours: ops.c
 * ends the child's operations. */
void ev__iou_ops_ring_replaced(struct ev_loop *loop, struct iouring *st)
{
  struct iou_ops *ro = st->ops;
  if (!ro)
    return;
  int ours = ro->pid == st->pid;
  ro->pid = st->pid;
  ro->br_registered = 0;
  for (int i = 0; i < ro->slot_cap; i++) {
    struct slot *s = &ro->slots[i];
    if (s->state != SLOT_BUSY)
      continue;
    evring_op *op = s->op;
    if (s->buf && loop->ops)
      ev__buf_put(loop, loop->ops, s->buf);
    int again = ours && op;
    int sent = s->zc_seen;
    ssize_t res = s->zc_res;
    slot_free(ro, (uint32_t)i);
    if (again && sent) {
      /* Its data went out on the old ring (only the notification did not come back in
       * ev__iou_ring_cancel_all's wait; growth waits for it, a failed or forked ring cannot):
       * sending it again would send it twice. What is left of a partial one goes out on the
       * new ring. */
      if (res > 0 && op->priv_.done + (size_t)res < op->priv_.len)
        op->priv_.done += (size_t)res;
      else {
        ev__op_result(loop, op, res, NULL, 0);
        continue;
      }
    }
    if (again) {
      EV__GROW(ro->restart, ro->restart_cap, ro->restart_n + 1);
      ro->restart[ro->restart_n++] = op;
    }
  }
}

/* Issue what was cancelled by a replacement, or found no SQE, again: after a replacement, and
 * in each iteration before its enter. */
void ev__iou_ops_restart(struct ev_loop *loop, struct iouring *st)
{
  struct iou_ops *ro = st->ops;
  if (!ro || !ro->restart_n || loop->backend != &ev__backend_iouring || !loop->ops ||
      loop->ops->mech != &ring_mech)
    return;
  /* Taken off first: an issue that finds no SQE again queues the operation anew. */
  evring_op **list = ro->restart;
  int n = ro->restart_n;
  ro->restart = NULL;
  ro->restart_n = ro->restart_cap = 0;
  for (int k = 0; k < n; k++) {
    evring_op *op = list[k];
    if (!op->active || !(op->priv_.state & EV__OP_INFLIGHT) || slot_of(ro, op))
      continue;
    if (op->priv_.state & (EV__OP_CANCEL | EV__OP_TIMEDOUT))
      ev__op_result(loop, op, -ECANCELED, NULL, 0); /* asked to end while between rings */
    else
      issue(loop, st, ro, op);
  }
  ev__free(list);
}

void ev__iou_ops_free(struct iouring *st)
{
  struct iou_ops *ro = st->ops;
  if (!ro)
    return;
  if (ro->br)
    munmap(ro->br, ro->br_entries * sizeof(struct io_uring_buf));
  ev__free(ro->slots);
  ev__free(ro->free_slots);
  ev__free(ro->restart);
  ev__free(ro);
  st->ops = NULL;
}

static const struct ev__op_mech ring_mech = {
  .mode = EVRING_MODE_RING,
  .start = ring_start,
  .stop = ring_stop,
  .cancel = ring_cancel,
  .forget = ring_forget,
  .buffer_back = ring_buffer_back,
};
