/* ops.h - evring.h's operations inside the library.
 *
 *   ops.c       the public functions: an operation's life (start, results, the callback,
 *               stop, cancel, deadline), per-fd send order, partial transfers, fork, destroy
 *   buffers.c   the receive buffers an evring_recv fills
 *   stash.c     what a stopped recv or accept had received and not reported, for the next
 *               one on the same socket
 *   ready.c     the readiness mechanism: non-blocking system calls, ev_io when they would block
 *   ../backend/iouring_ops.c   the ring mechanism: the io_uring backend's ring does the I/O
 *
 * ops.c owns everything both mechanisms share; a mechanism only moves bytes and reports each
 * transfer's outcome with ev__op_result(). */
#ifndef EVRING_OPS_H
#define EVRING_OPS_H

#include "../internal.h"

/* priv_.state */
#define EV__OP_INFLIGHT 0x01  /* the mechanism holds the operation's I/O */
#define EV__OP_QUEUED 0x02    /* a send waiting behind the fd's earlier sends */
#define EV__OP_CANCEL 0x04    /* evring_cancel: the result to report is -ECANCELED */
#define EV__OP_TIMEDOUT 0x08  /* the deadline passed: the result to report is -ETIMEDOUT */
#define EV__OP_FINAL 0x10     /* the final result is waiting for the callback */
#define EV__OP_STARVED 0x20   /* a recv waiting for a free receive buffer */

/* revents bit of an operation's pending entry: ev_invoke_pending hands it to ev__op_invoke. */
#define EV__OP_PENDING 0x20000000

static inline int ev__op_multishot(const evring_op *op)
{
  return op->kind == EVRING_K_ACCEPT || op->kind == EVRING_K_RECV;
}

/* One result of a multishot operation waiting for its callback. */
struct ev__op_res {
  ssize_t res;
  char *buf;
  unsigned int more;
};

struct evring_result_queue_ {
  int head, n, cap;
  struct ev__op_res e[];
};

/* A mechanism: how operations reach the kernel. */
struct ev__op_mech {
  int mode; /* EVRING_MODE_* */
  /* Begin the operation's I/O, or go on after a partial send (priv_.done bytes are out). */
  void (*start)(struct ev_loop *loop, evring_op *op);
  /* End its I/O now: when this returns no result comes any more and the kernel no longer uses
   * the operation's buffers. */
  void (*stop)(struct ev_loop *loop, evring_op *op);
  /* Ask its I/O to end; the outcome still comes through ev__op_result(). */
  void (*cancel)(struct ev_loop *loop, evring_op *op);
  /* In a forked child: drop the operation's I/O without telling the kernel (its requests are
   * the parent's). */
  void (*forget)(struct ev_loop *loop, evring_op *op);
  /* Optional: a free receive buffer goes to the mechanism (its buffer ring). 1 if taken. */
  int (*buffer_back)(struct ev_loop *loop, unsigned int bid);
};

/* The receive buffers of a loop (buffers.c). A buffer is free (in the pool, or lent to the
 * kernel's buffer ring), or held (by a result waiting for its callback, by the program after
 * evring_buf_keep, by a single-shot recv in flight). */
struct ev__bufpool {
  char *base;             /* count * size bytes, mmap'ed when first needed */
  unsigned int count, size;
  unsigned int *free;     /* stack of free buffer ids (mechanisms without a buffer ring) */
  unsigned int free_n;
  unsigned char *held;
};

struct ev__ops {
  const struct ev__op_mech *mech;
  struct ev_wlist active;  /* every active operation, op->active = index + 1 */
  struct {                 /* per fd: the sends in start order, the first one in flight */
    evring_op *head, *tail;
  } *sendq;
  int sendq_cap;
  struct ev__bufpool pool;
  char *lent;              /* the receive buffer whose callback runs (ev__op_invoke) */
  evring_op **starved;     /* recvs waiting for a free receive buffer */
  int starved_n, starved_cap;
  struct ev__stash *stash; /* per fd: bytes a stopped recv took and did not report */
  int stash_n, stash_cap;
  char **own;              /* buffers of stashed bytes being reported or kept (stash.c) */
  int own_n, own_cap;
  pid_t pid;               /* the process whose kernel requests these are */
};

/* stash.c */
/* Bytes received on fd, a connection accepted on fd, not reported: to fd's stash (when fd is
 * closed already, the bytes are dropped and the connection closed). */
void ev__stash_put(struct ev__ops *ops, int fd, const char *bytes, size_t n);
void ev__stash_put_conn(struct ev__ops *ops, int fd, int conn);
void ev__stash_drop(struct ev__ops *ops, int fd);
/* Every stash (a forked child: the sockets are the parent's business). */
void ev__stash_drop_all(struct ev__ops *ops);
/* A recv or accept starts: the stash of its fd (if fd still names that file) becomes its
 * first results. 1 if there was one. */
int ev__stash_deliver(struct ev_loop *loop, evring_op *op);
/* A buffer that is not the pool's: 1 if it was one of the stash's (now freed). */
int ev__stash_buf_put(struct ev__ops *ops, char *buf);
void ev__stash_free(struct ev__ops *ops);

/* ops.c */
struct ev__ops *ev__ops_get(struct ev_loop *loop);
/* A transfer's outcome: res as the system call returns it (or -errno); buf: a receive buffer
 * now held for the callback (NULL if none); more: the operation goes on (multishot). */
void ev__op_result(struct ev_loop *loop, evring_op *op, ssize_t res, char *buf, int more);
void ev__op_invoke(struct ev_loop *loop, evring_op *op, int revents);
const struct msghdr *ev__op_sendmsg_rest(evring_op *op);
/* A recv found no free buffer: it goes on when one comes back. */
void ev__op_starve(struct ev_loop *loop, evring_op *op);
/* A buffer went back to the free stack: recvs waiting for one go on. */
void ev__ops_buffer_free(struct ev_loop *loop, struct ev__ops *ops);
void ev__ops_fork(struct ev_loop *loop);
/* ev_loop_destroy: every operation ends without a callback (before the backend is destroyed,
 * which cancels what the kernel holds); then everything is freed (after it). */
void ev__ops_destroy(struct ev_loop *loop);
void ev__ops_free(struct ev_loop *loop);
/* The backend changed (io_uring gave up): operations move to the mechanism of the new one. */
void ev__ops_backend_changed(struct ev_loop *loop);

/* buffers.c */
int ev__buf_pool_init(struct ev__bufpool *p);
void ev__buf_pool_free(struct ev__bufpool *p);
/* Every buffer not held is free again, on the free stack (a new mechanism starts with it). */
void ev__buf_pool_reset(struct ev__bufpool *p);
char *ev__buf_get(struct ev__bufpool *p);   /* a free buffer, held from now on; NULL if none */
char *ev__buf_addr(const struct ev__bufpool *p, unsigned int bid);
void ev__buf_hold(struct ev__bufpool *p, unsigned int bid);
/* Give a held buffer back: to the free stack, or to the mechanism's buffer ring. */
void ev__buf_put(struct ev_loop *loop, struct ev__ops *ops, char *buf);

/* ready.c */
extern const struct ev__op_mech ev__op_mech_ready;

/* backend/iouring_ops.c: the ring mechanism where the loop's backend is io_uring and the
 * kernel has what it needs, else NULL. */
const struct ev__op_mech *ev__op_mech_ring(struct ev_loop *loop);

#endif
