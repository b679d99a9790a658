/* evring.h - completion I/O on a libev loop, evring's own API next to ev.h.
 *
 * With ev.h a program is told "fd 7 is readable" and then calls read() itself. With evring.h
 * it asks the loop to do the I/O ("receive on fd 7") and is called back with the result.
 * On a loop whose backend is io_uring (EVBACKEND_IOURING) the ring does the I/O: one
 * io_uring_enter per loop iteration submits every operation started since the last one and
 * collects every completion. On every other backend, and where io_uring is unavailable or
 * forbidden, the same calls run on readiness plus non-blocking system calls, so a program
 * written against this header runs everywhere with the same results.
 *
 * An operation is a watcher (struct evring_op): it has libev's active, pending, priority,
 * data and cb fields, its callback is queued and invoked by the loop like any other watcher's
 * (priorities, ev_invoke_pending, ev_break, ev_set_invoke_pending_cb all apply), and an
 * active operation keeps ev_run running like an active watcher (ev_ref/ev_unref apply).
 *
 *   evring_op op;
 *   evring_op_init(&op, on_recv);
 *   evring_recv(loop, &op, fd);            // multishot: called once per chunk received
 *   ...
 *   static void on_recv(struct ev_loop *loop, evring_op *op, int revents)
 *   {
 *     if (op->res > 0) handle(op->buf, op->res);   // evring's buffer, lent for the callback
 *     else if (op->res == 0) peer_closed();        // the operation has ended
 *     else report(-op->res);                       // an errno; the operation has ended
 *   }
 *
 * Results: every callback receives revents == EVRING_DONE and reads op->res, which holds
 * what the system call would have returned (bytes, a new fd, 0) or -errno on failure. While
 * op->flags has EVRING_MORE, the operation stays active and will call back again (multishot
 * accept and recv); without it the operation has ended and is inactive, so the callback may
 * start it again or free it.
 *
 * Ownership: buffers passed to an operation (read, write, send, sendmsg) belong to the
 * library and the kernel until the operation's final callback or until evring_stop returns;
 * the program must not free or change them before. Received data is in evring's buffers:
 * op->buf is lent to the callback and taken back when it returns, unless the callback keeps
 * it with evring_buf_keep and gives it back later with evring_buf_release. Addresses passed
 * to evring_connect are copied at the call.
 *
 * Ending an operation early: evring_stop ends it at once and for good (no more callbacks, the
 * kernel no longer touches its buffers when it returns). evring_cancel asks for the end and
 * lets the callback report it: -ECANCELED, or the real result if the operation completed
 * first. ev_loop_destroy stops every operation of the loop. After ev_loop_fork, operations
 * that were active in the parent are reported to the child's callbacks with -ECANCELED.
 *
 * Nothing here opens files: paths and credentials never pass through the ring.
 *
 * All functions must be called from the thread that runs the loop, like ev.h's. */
#ifndef EVRING_H
#define EVRING_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVRING_VERSION_MAJOR 1
#define EVRING_VERSION_MINOR 0

/* revents of an operation's callback */
#define EVRING_DONE 0x02000000

/* op->flags, as seen by the callback */
#define EVRING_MORE 0x01 /* multishot: the operation stays active, more results will come */

/* evring_send/evring_sendmsg flags, next to MSG_* */
#define EVRING_ZEROCOPY 0x40000000 /* send from the buffer without copying where the kernel
                                    * can (io_uring SEND_ZC, Linux 6.0); the final callback
                                    * comes when the kernel is done with the buffer */

/* evring_mode() */
#define EVRING_MODE_READINESS 1 /* readiness plus non-blocking system calls */
#define EVRING_MODE_RING 2      /* the io_uring ring does the I/O */

struct evring_result_queue_;

typedef struct evring_op {
  EV_WATCHER(evring_op)

  /* The result being reported, valid in the callback. */
  ssize_t res;       /* bytes, a new fd, 0, or -errno */
  char *buf;         /* evring_recv: the op->res bytes received (lent, see evring_buf_keep) */
  unsigned int flags; /* EVRING_MORE */

  /* The request, as the start function received it (read-only for the program). */
  int fd;
  int kind;          /* EVRING_K_* */
  ev_tstamp deadline; /* seconds; 0 = none (evring_op_set_deadline) */

  /* Private to the library. */
  struct {
    void *ptr;          /* read/write/send buffer, or const struct msghdr * */
    size_t len;         /* bytes requested */
    size_t done;        /* bytes already transferred by earlier partial transfers */
    int64_t offset;     /* read/write position, -1 = the file's own */
    int arg;            /* accept4 flags, send flags, shutdown how */
    unsigned int state; /* the engine's bookkeeping bits */
    uint32_t slot;      /* ring: index of the in-flight request record */
    struct evring_op *next; /* the fd's send queue */
    void *aux;          /* connect address, sendmsg's remaining iovecs, owned buffer */
    unsigned int aux_len;
    unsigned int bid;   /* buffer id of an owned receive buffer */
    struct evring_result_queue_ *q; /* results waiting for the callback */
    ev_io io;           /* readiness mode: the fd's readiness for this operation */
    ev_timer timer;     /* the deadline */
  } priv_;
} evring_op;

enum {
  EVRING_K_NONE = 0,
  EVRING_K_ACCEPT,
  EVRING_K_CONNECT,
  EVRING_K_RECV,
  EVRING_K_READ,
  EVRING_K_WRITE,
  EVRING_K_SEND,
  EVRING_K_SENDMSG,
  EVRING_K_CLOSE,
  EVRING_K_SHUTDOWN,
};

/* Prepare an operation (once; a finished or stopped operation can be started again without
 * it). Priority 0, no deadline. */
void evring_op_init(evring_op *op, void (*cb)(struct ev_loop *loop, evring_op *op, int revents));

/* The operation ends with -ETIMEDOUT when it has not completed within `seconds` of its start
 * (single-shot operations) or of its last result (accept and recv: an idle timeout). Set
 * before the start; 0 removes it. */
#define evring_op_set_deadline(op, seconds) ((op)->deadline = (seconds))

/* Multishot: each accepted connection is one callback with op->res = the new fd (created
 * with accept4's flags: SOCK_NONBLOCK, SOCK_CLOEXEC). Errors that concern one connection
 * (ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM) are reported with EVRING_MORE set: the
 * operation goes on accepting. */
void evring_accept(struct ev_loop *loop, evring_op *op, int fd, int flags);

/* Connect a socket; op->res = 0 or -errno. The address is copied. */
void evring_connect(struct ev_loop *loop, evring_op *op, int fd, const struct sockaddr *addr,
                    socklen_t addrlen);

/* Multishot receive into evring's buffers: one callback per chunk with op->res > 0 bytes in
 * op->buf and EVRING_MORE; 0 (end of stream) or -errno ends the operation. When every buffer
 * is kept by the program, receiving pauses until one is released. */
void evring_recv(struct ev_loop *loop, evring_op *op, int fd);

/* Read or write up to len bytes at offset (-1: at the file's position, for pipes, sockets and
 * terminals); op->res = bytes transferred (reads may be short; 0 = end of file) or -errno. */
void evring_read(struct ev_loop *loop, evring_op *op, int fd, void *buf, size_t len,
                 int64_t offset);
void evring_write(struct ev_loop *loop, evring_op *op, int fd, const void *buf, size_t len,
                  int64_t offset);

/* Send the whole buffer (or every iovec of msg), in the order the sends were started on this
 * fd: a send starts after the fd's earlier sends have completed. op->res = bytes sent (all of
 * them) or -errno (part of the data may have been sent). flags: MSG_*
 * (MSG_NOSIGNAL is always added), EVRING_ZEROCOPY. msg, its iovecs and the buffers must stay
 * valid until the callback. */
void evring_send(struct ev_loop *loop, evring_op *op, int fd, const void *buf, size_t len,
                 int flags);
void evring_sendmsg(struct ev_loop *loop, evring_op *op, int fd, const struct msghdr *msg,
                    int flags);

/* close(2) and shutdown(2) as operations; op->res = 0 or -errno. Close fd only after its
 * other operations have ended, as with close(2) and ev_io watchers. */
void evring_close(struct ev_loop *loop, evring_op *op, int fd);
void evring_shutdown(struct ev_loop *loop, evring_op *op, int fd, int how);

/* End an active operation now: no callback comes any more, and when this returns the kernel
 * no longer uses its buffers. No effect on an inactive operation. */
void evring_stop(struct ev_loop *loop, evring_op *op);

/* Ask an active operation to end; its callback reports -ECANCELED (or the result it reached
 * first) and the operation is then inactive. No effect on an inactive operation. */
void evring_cancel(struct ev_loop *loop, evring_op *op);

/* Keep the receive buffer being reported (op->buf) beyond the callback; it stays valid until
 * evring_buf_release. Call only from the callback of evring_recv. */
char *evring_buf_keep(struct ev_loop *loop, evring_op *op);
void evring_buf_release(struct ev_loop *loop, char *buf);

/* Receive buffers: count buffers of size bytes each (count a power of two). Takes effect
 * before the loop's first evring_recv; defaults 1024 x 4096 (EVRING_RECV_BUFFERS and
 * EVRING_RECV_BUFFER_SIZE in the environment override the defaults). 0 or -errno. */
int evring_set_recv_buffers(struct ev_loop *loop, unsigned int count, unsigned int size);

/* EVRING_MODE_RING or EVRING_MODE_READINESS: how this loop's operations run. */
int evring_mode(struct ev_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
