/* stash.c - what a stopped evring_recv or evring_accept had taken from the kernel and not
 * reported yet, kept for the next recv or accept on the same socket: stopping one loses
 * nothing, as stopping an ev_io watcher leaves unread data and unaccepted connections in the
 * kernel. On an io_uring loop a multishot request takes them as they arrive, so a stop finds
 * results waiting for their callbacks and completions still in the ring; both come here, in
 * the order they were received.
 *
 * A stash belongs to the file the fd named at the stop (device and inode): a start on an fd
 * number that now names another file drops it (closing its connections), and so do
 * evring_close and ev_loop_destroy. What it holds is reported before anything the new
 * operation gets: bytes in chunks of the receive buffer size, in buffers of their own that
 * evring_buf_keep and evring_buf_release treat like the pool's; connections one by one. */
#include "ops.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ev__stash {
  int fd;
  dev_t dev;
  ino_t ino;
  char *data;
  size_t len;
  int *conns; /* accepted connections */
  int nconns, conns_cap;
};

static int same_file(const struct ev__stash *s)
{
  struct stat sb;
  return fstat(s->fd, &sb) == 0 && sb.st_dev == s->dev && sb.st_ino == s->ino;
}

static void drop(struct ev__ops *ops, int i)
{
  struct ev__stash *s = &ops->stash[i];
  while (s->nconns)
    close(s->conns[--s->nconns]);
  ev__free(s->conns);
  ev__free(s->data);
  ops->stash[i] = ops->stash[--ops->stash_n];
}

static int find(const struct ev__ops *ops, int fd)
{
  for (int i = 0; i < ops->stash_n; i++)
    if (ops->stash[i].fd == fd)
      return i;
  return -1;
}

/* The stash of fd, made when needed; NULL when fd is closed (nobody can receive from it). */
static struct ev__stash *stash_of(struct ev__ops *ops, int fd)
{
  int i = find(ops, fd);
  if (i >= 0)
    return &ops->stash[i];
  struct stat sb;
  if (fstat(fd, &sb) < 0)
    return NULL;
  /* Stashes of fds that were closed or now name other files are of no use: gone now, so that
   * a program that stops and closes many sockets does not collect them. */
  for (int k = ops->stash_n; k-- > 0;)
    if (!same_file(&ops->stash[k]))
      drop(ops, k);
  EV__GROW(ops->stash, ops->stash_cap, ops->stash_n + 1);
  struct ev__stash *s = &ops->stash[ops->stash_n++];
  *s = (struct ev__stash){.fd = fd, .dev = sb.st_dev, .ino = sb.st_ino};
  return s;
}

void ev__stash_put(struct ev__ops *ops, int fd, const char *bytes, size_t n)
{
  struct ev__stash *s = n ? stash_of(ops, fd) : NULL;
  if (!s)
    return;
  s->data = ev__realloc(s->data, s->len + n);
  memcpy(s->data + s->len, bytes, n);
  s->len += n;
}

void ev__stash_put_conn(struct ev__ops *ops, int fd, int conn)
{
  struct ev__stash *s = stash_of(ops, fd);
  if (!s) {
    close(conn);
    return;
  }
  EV__GROW(s->conns, s->conns_cap, s->nconns + 1);
  s->conns[s->nconns++] = conn;
}

void ev__stash_drop(struct ev__ops *ops, int fd)
{
  int i = find(ops, fd);
  if (i >= 0)
    drop(ops, i);
}

int ev__stash_deliver(struct ev_loop *loop, evring_op *op)
{
  struct ev__ops *ops = loop->ops;
  int i = find(ops, op->fd);
  if (i < 0)
    return 0;
  if (!same_file(&ops->stash[i])) {
    drop(ops, i);
    return 0;
  }
  struct ev__stash s = ops->stash[i];
  ops->stash[i] = ops->stash[--ops->stash_n];
  for (int k = 0; k < s.nconns; k++)
    if (op->kind == EVRING_K_ACCEPT)
      ev__op_result(loop, op, s.conns[k], NULL, 1);
    else
      close(s.conns[k]);
  ev__free(s.conns);
  size_t chunk = ops->pool.size ? ops->pool.size : 4096;
  for (size_t at = 0; op->kind == EVRING_K_RECV && at < s.len; at += chunk) {
    size_t n = s.len - at < chunk ? s.len - at : chunk;
    char *buf = ev__realloc(NULL, n);
    memcpy(buf, s.data + at, n);
    EV__GROW(ops->own, ops->own_cap, ops->own_n + 1);
    ops->own[ops->own_n++] = buf;
    ev__op_result(loop, op, (ssize_t)n, buf, 1);
  }
  ev__free(s.data);
  return 1;
}

int ev__stash_buf_put(struct ev__ops *ops, char *buf)
{
  for (int i = 0; i < ops->own_n; i++)
    if (ops->own[i] == buf) {
      ops->own[i] = ops->own[--ops->own_n];
      ev__free(buf);
      return 1;
    }
  return 0;
}

void ev__stash_drop_all(struct ev__ops *ops)
{
  while (ops->stash_n)
    drop(ops, ops->stash_n - 1);
}

void ev__stash_free(struct ev__ops *ops)
{
  ev__stash_drop_all(ops);
  ev__free(ops->stash);
  ops->stash = NULL;
  ops->stash_cap = 0;
  while (ops->own_n)
    ev__free(ops->own[--ops->own_n]);
  ev__free(ops->own);
  ops->own = NULL;
  ops->own_cap = 0;
}
