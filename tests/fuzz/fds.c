/* fds.c - the pipes, socketpairs and dups of an evfuzz program, at fixed descriptor numbers. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct fz_fd fz_fds[FZ_SLOTS];
static int next_obj;

/* Writes are skipped (reported as -1000) once the receiving end holds this many bytes, so
 * that no buffer ever fills up and writability never depends on how the kernel accounts for
 * buffer space. */
#define FZ_QUEUE_CAP 4096

int fz_fd_count_open(void)
{
  int n = 0;
  for (int i = 0; i < FZ_SLOTS; i++)
    n += fz_fds[i].open;
  return n;
}

int fz_fd_can_read(int slot)
{
  return fz_fds[slot].open && (fz_fds[slot].kind == FZ_SOCK || fz_fds[slot].end == 0);
}

int fz_fd_can_write(int slot)
{
  return fz_fds[slot].open && (fz_fds[slot].kind == FZ_SOCK || fz_fds[slot].end == 1);
}

static int lowest_free(int after)
{
  for (int i = after; i < FZ_SLOTS; i++)
    if (!fz_fds[i].open)
      return i;
  return -1;
}

/* Moves a fresh descriptor to FZ_FD_BASE + slot (lowest free slot), closing the original. */
static int place(int fd, int slot)
{
  int got = dup2(fd, FZ_FD_BASE + slot);
  if (got != FZ_FD_BASE + slot) {
    perror("evfuzz: dup2");
    exit(3);
  }
  close(fd);
  fcntl(got, F_SETFD, FD_CLOEXEC);
  return got;
}

int fz_fd_open_pair(enum fz_fdkind kind)
{
  int a = lowest_free(0);
  int b = a < 0 ? -1 : lowest_free(a + 1);
  if (b < 0)
    return -1;
  int p[2];
  int rc = kind == FZ_PIPE ? pipe2(p, O_NONBLOCK)
                           : socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p);
  if (rc < 0) {
    perror("evfuzz: pipe/socketpair");
    exit(3);
  }
  place(p[0], a);
  place(p[1], b);
  int obj = ++next_obj;
  fz_fds[a] = (struct fz_fd){ .open = 1, .obj = obj, .end = 0, .kind = kind };
  fz_fds[b] = (struct fz_fd){ .open = 1, .obj = obj, .end = 1, .kind = kind };
  return a;
}

int fz_fd_dup(int slot)
{
  int t = lowest_free(0);
  if (t < 0 || !fz_fds[slot].open)
    return -1;
  if (dup2(FZ_FD_BASE + slot, FZ_FD_BASE + t) < 0) {
    perror("evfuzz: dup2");
    exit(3);
  }
  fz_fds[t] = fz_fds[slot];
  fz_fds[t].dread = fz_fds[t].dwrite = 0;
  return t;
}

int fz_fd_dup_onto(int slot, int target)
{
  if (!fz_fds[slot].open || slot == target)
    return -1;
  if (dup2(FZ_FD_BASE + slot, FZ_FD_BASE + target) < 0) {
    perror("evfuzz: dup2");
    exit(3);
  }
  fz_fds[target] = fz_fds[slot];
  fz_fds[target].dread = fz_fds[target].dwrite = 0;
  return 0;
}

void fz_fd_close(int slot)
{
  close(FZ_FD_BASE + slot);
  fz_fds[slot] = (struct fz_fd){ 0 };
}

int fz_fd_read(int slot, unsigned n)
{
  char buf[256];
  if (n > sizeof buf)
    n = sizeof buf;
  ssize_t got = read(FZ_FD_BASE + slot, buf, n);
  return got < 0 ? -errno : (int)got;
}

/* The slot of an open descriptor that receives what is written to slot, or -1. */
static int receiver(int slot)
{
  int want_end = fz_fds[slot].kind == FZ_PIPE ? 0 : 1 - fz_fds[slot].end;
  for (int i = 0; i < FZ_SLOTS; i++)
    if (fz_fds[i].open && fz_fds[i].obj == fz_fds[slot].obj && fz_fds[i].end == want_end)
      return i;
  return -1;
}

int fz_fd_write(int slot, unsigned n)
{
  static const char buf[256];
  int rx = receiver(slot);
  if (rx >= 0) {
    int queued = 0;
    if (ioctl(FZ_FD_BASE + rx, FIONREAD, &queued) == 0 && queued + (int)n > FZ_QUEUE_CAP)
      return -1000;
  }
  if (n > sizeof buf)
    n = sizeof buf;
  ssize_t got = write(FZ_FD_BASE + slot, buf, n);
  return got < 0 ? -errno : (int)got;
}

void fz_fd_apply_deferred(void)
{
  int any = 0;
  for (int i = 0; i < FZ_SLOTS; i++) {
    struct fz_fd *f = &fz_fds[i];
    if (!f->dread && !f->dwrite)
      continue;
    if (!any)
      fprintf(fz_out, "dio");
    any = 1;
    if (f->dread && f->open)
      fprintf(fz_out, " f%d:r%u=%d", i, f->dread, fz_fd_read(i, f->dread));
    if (f->dwrite && f->open)
      fprintf(fz_out, " f%d:w%u=%d", i, f->dwrite, fz_fd_write(i, f->dwrite));
    f->dread = f->dwrite = 0;
  }
  if (any)
    fputc('\n', fz_out);
}

void fz_fd_close_all(void)
{
  for (int i = 0; i < FZ_SLOTS; i++)
    if (fz_fds[i].open)
      fz_fd_close(i);
}
