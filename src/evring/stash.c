/* stash.c - bytes a stopped evring_recv had taken from the kernel and not reported yet, kept
 * for the next evring_recv on the same socket: stopping a recv loses nothing, as stopping an
 * ev_io watcher leaves unread data in the socket. On an io_uring loop a multishot recv takes
 * data from the socket as it arrives, so a stop finds results waiting for their callbacks and
 * completions still in the ring; both come here, in the order they were received.
 *
 * A stash belongs to the file the fd named at the stop (device and inode): a recv on an fd
 * number that now names another file drops it, and so does evring_close. Its bytes are
 * delivered before anything the new recv receives, in chunks of the receive buffer size, in
 * buffers of their own that evring_buf_keep and evring_buf_release treat like the pool's. */
#include "ops.h"

#include <string.h>
#include <sys/stat.h>

struct ev__stash {
  int fd;
  dev_t dev;
  ino_t ino;
  char *data;
  size_t len;
};

static int same_file(const struct ev__stash *s)
{
  struct stat sb;
  return fstat(s->fd, &sb) == 0 && sb.st_dev == s->dev && sb.st_ino == s->ino;
}

static void drop(struct ev__ops *ops, int i)
{
  ev__free(ops->stash[i].data);
  ops->stash[i] = ops->stash[--ops->stash_n];
}

static int find(const struct ev__ops *ops, int fd)
{
  for (int i = 0; i < ops->stash_n; i++)
    if (ops->stash[i].fd == fd)
      return i;
  return -1;
}

void ev__stash_put(struct ev__ops *ops, int fd, const char *bytes, size_t n)
{
  if (!n)
    return;
  int i = find(ops, fd);
  if (i < 0) {
    struct stat sb;
    if (fstat(fd, &sb) < 0)
      return; /* closed: nobody can receive from it any more */
    /* Stashes of fds that were closed or now name other files are of no use: gone now, so
     * that a program that stops and closes many connections does not collect them. */
    for (int k = ops->stash_n; k-- > 0;)
      if (!same_file(&ops->stash[k]))
        drop(ops, k);
    EV__GROW(ops->stash, ops->stash_cap, ops->stash_n + 1);
    i = ops->stash_n++;
    ops->stash[i] = (struct ev__stash){fd, sb.st_dev, sb.st_ino, NULL, 0};
  }
  struct ev__stash *s = &ops->stash[i];
  s->data = ev__realloc(s->data, s->len + n);
  memcpy(s->data + s->len, bytes, n);
  s->len += n;
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
  struct ev__stash s = ops->stash[i];
  ops->stash[i].data = NULL;
  drop(ops, i);
  if (!same_file(&s)) {
    ev__free(s.data);
    return 0;
  }
  size_t chunk = ops->pool.size ? ops->pool.size : 4096;
  for (size_t at = 0; at < s.len; at += chunk) {
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

void ev__stash_free(struct ev__ops *ops)
{
  while (ops->stash_n)
    drop(ops, ops->stash_n - 1);
  ev__free(ops->stash);
  ops->stash = NULL;
  ops->stash_cap = 0;
  while (ops->own_n)
    ev__free(ops->own[--ops->own_n]);
  ev__free(ops->own);
  ops->own = NULL;
  ops->own_cap = 0;
}
