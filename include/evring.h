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
 * (single-shot operations) or of its last result (accept and recv: an idle timeout), counted
 * like an ev_timer started at that moment (from the loop's time, ev_now). Set before the
 * start; 0 removes it. */
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
 * no longer uses its buffers. No effect on an inactive operation. What a recv or accept had
 * received and not yet reported (bytes, connections) is kept for the next evring_recv or
 * evring_accept on the same socket, which reports it first: nothing is lost, as when an
 * ev_io watcher is stopped. evring_close of the socket or ev_loop_destroy drops it (closing
 * the connections). */
void evring_stop(struct ev_loop *loop, evring_op *op);

/* Ask an active operation to end; its callback reports -ECANCELED (or the result it reached
 * first) and the operation is then inactive: a multishot recv or accept first reports every
 * result it reached. No effect on an inactive operation. */
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

/* ------------------------------------------------------------------------------------------ */
/* Statistics: what a loop has done since it was created (in a forked child: since the child
 * re-created the loop's kernel state, ev_loop_fork or EVFLAG_FORKCHECK). Counting is always
 * on. The same numbers are printed, one block per loop, without changing the program:
 * EVRING_STATS=1 (or stderr) in the environment prints on stderr, EVRING_STATS=/some/file
 * appends to that file (unset, empty or 0: nothing), when the loop is destroyed and, for
 * loops still alive then (the default loop, usually), when the process exits through exit()
 * or a return from main (not _exit() or a fatal signal: a server killed by SIGTERM prints
 * nothing). The variable is read when the loop is created. A forked child prints only the
 * loops it re-created. Ignored in setuid and setgid programs.
 *
 * System calls are counted where the loop makes them while it runs: its waits, fd
 * registrations, its io_uring ring, its wake-ups and the few listed under syscalls_other.
 * Not counted: those of creating, forking or destroying the loop (except the cancellation
 * of an io_uring ring's requests at destroy), of starting and stopping watchers (sigaction,
 * signalfd, inotify_add_watch, ...), of replacing an epoll set or an io_uring ring (counted
 * as epoll_rebuilds and ring_replacements), ev_stat's stat() calls, the callbacks' own, and
 * the accept, recv, send, ... of evring.h operations on readiness (EVRING_MODE_READINESS;
 * in the ring, EVRING_MODE_RING, they travel in the counted io_uring_enter calls). */

/* evring_stats.iouring_mode */
#define EVRING_STATS_RING_EPOLL 1 /* ring-driven epoll: EPOLL_CTL and EPOLL_WAIT in the ring */
#define EVRING_STATS_RING_POLL 2  /* one-shot POLL_ADD per fd (kernels before 6.15) */

/* evring_stats.fallbacks: what the loop fell back from, and fallback_errno[i] the errno of
 * bit 1 << i (0 when there was none). */
#define EVRING_FALLBACK_BACKEND 0x01  /* a backend the loop was asked for could not be set up
                                       * at creation, the next allowed one was taken */
#define EVRING_FALLBACK_RING_LOST 0x02 /* io_uring could not get a ring any more (replacement
                                        * refused, enter failing): the loop moved to epoll */
#define EVRING_FALLBACK_RING_POLL 0x04 /* ring epoll gave way to per-fd polls (EPOLL_WAIT
                                        * failing, no epoll set) */
#define EVRING_FALLBACK_NO_DEFER 0x08  /* DEFER_TASKRUN/SINGLE_ISSUER given up (the ring was
                                        * entered from another thread, or enabling it failed) */
#define EVRING_FALLBACK_NO_GROWTH 0x10 /* the kernel refused a bigger ring: the loop carries
                                        * on with the ring it has and asks again later */

struct evring_stats {
  unsigned int backend;         /* EVBACKEND_* the loop runs on now, 0 once destroyed */
  unsigned int iouring_mode;    /* EVRING_STATS_RING_*, 0 without an io_uring ring */
  uint64_t iterations;          /* loop iterations: waits for events, blocking or not */
  uint64_t callbacks;           /* watcher callbacks invoked: the events dispatched */

  uint64_t syscalls;            /* the loop's system calls: the sum of the five below */
  uint64_t syscalls_wait;       /* the waits: epoll_wait, poll, select, the io_uring_enter
                                 * of an iteration (with its submissions) */
  uint64_t syscalls_fd;         /* fd registration: epoll_ctl, select's check of a new fd */
  uint64_t syscalls_ring;       /* io_uring_enter and io_uring_register besides the waits:
                                 * submissions outside the wait, draining, cancelling,
                                 * enabling and registering a ring */
  uint64_t syscalls_wakeup;     /* writes (ev_async_send, signals, from any thread) and
                                 * reads of the wake-up eventfd, reads of the signalfd */
  uint64_t syscalls_other;      /* timerfd reads and re-arms, inotify reads, waitpid for
                                 * ev_child, fcntl checks of fds reported bad or hung up,
                                 * ev_set_io_collect_interval sleeps */

  uint64_t fd_changes;          /* changes of an fd's watched events handed to the backend */
  uint64_t fd_changes_ring;     /* requests queued in the io_uring ring for them (EPOLL_CTL,
                                 * POLL_ADD, POLL_REMOVE) */
  uint64_t fd_changes_syscall;  /* epoll_ctl system calls made for them */

  unsigned int sq_entries;      /* io_uring submission queue entries now, 0 without a ring */
  unsigned int cq_entries;      /* completion queue entries */
  unsigned int ring_flags;      /* IORING_SETUP_* the ring was set up with */
  unsigned int fallbacks;       /* EVRING_FALLBACK_* taken */
  int fallback_errno[8];        /* fallback_errno[i]: why bit 1 << i was taken */
  unsigned int backends_refused; /* EVBACKEND_* that EVRING_FALLBACK_BACKEND passed over */
  uint64_t sqes;                /* io_uring requests queued */
  uint64_t cqes;                /* io_uring completions reaped */
  uint64_t ring_replacements;   /* rings replaced (grown, after a failure, after a fork) */
  uint64_t ring_growth_refused; /* bigger rings the kernel refused */
  uint64_t cq_overflow_rounds;  /* completions taken back from the kernel's overflow list */
  uint64_t epoll_rebuilds;      /* epoll sets replaced (registrations out of reach) */

  uint64_t ops_started;         /* evring.h operations started */
  uint64_t ops_completed;       /* evring.h operations that reached their final result (the
                                 * one without EVRING_MORE); stopped ones did not */
};

/* Copy the loop's counters into *st. size is sizeof *st as the caller knows it: a program
 * built against an older, shorter struct gets its fields, one built against a newer, longer
 * struct gets zeroes in the fields this library does not know. Returns the number of bytes
 * filled with counters, or -EINVAL (loop or st NULL). */
int evring_stats_get(struct ev_loop *loop, struct evring_stats *st, size_t size);

#ifdef __cplusplus
}
#endif

#endif
