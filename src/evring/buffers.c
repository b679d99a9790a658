/* buffers.c - the receive buffers of a loop's evring_recv operations.
 *
 * One mapping of count * size bytes, set up by the loop's first evring_recv (pages are
 * touched only when data lands in them). A buffer is identified by its index (the buffer id
 * the kernel's buffer ring reports). Free buffers are on the free stack, or, where the ring
 * mechanism has a buffer ring, lent to the kernel, which picks one per received chunk. */
#include "ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_COUNT 1024u
#define DEFAULT_SIZE 4096u

static unsigned int env_uint(const char *name, unsigned int def)
{
  const char *s = getuid() == geteuid() && getgid() == getegid() ? getenv(name) : NULL;
  char *end;
  unsigned long v = s ? strtoul(s, &end, 10) : 0;
  return s && *s && !*end && v > 0 && v <= (1ul << 24) ? (unsigned int)v : def;
}

int ev__buf_pool_init(struct ev__bufpool *p)
{
  if (p->base)
    return 0;
  if (!p->count) {
    p->count = env_uint("EVRING_RECV_BUFFERS", DEFAULT_COUNT);
    p->size = env_uint("EVRING_RECV_BUFFER_SIZE", DEFAULT_SIZE);
    if (p->count & (p->count - 1) || p->count > 32768)
      p->count = DEFAULT_COUNT;
  }
  size_t bytes = (size_t)p->count * p->size;
  void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return -ENOMEM;
  p->base = base;
  p->free = ev__realloc(NULL, p->count * sizeof *p->free);
  p->held = ev__realloc(NULL, p->count);
  memset(p->held, 0, p->count);
  ev__buf_pool_reset(p);
  return 0;
}

void ev__buf_pool_reset(struct ev__bufpool *p)
{
  p->free_n = 0;
  for (unsigned int i = p->count; p->base && i-- > 0;)
    if (!p->held[i])
      p->free[p->free_n++] = i;
}

void ev__buf_pool_free(struct ev__bufpool *p)
{
  if (p->base)
    munmap(p->base, (size_t)p->count * p->size);
  ev__free(p->free);
  ev__free(p->held);
  memset(p, 0, sizeof *p);
}

char *ev__buf_addr(const struct ev__bufpool *p, unsigned int bid)
{
  return p->base + (size_t)bid * p->size;
}

static unsigned int buf_id(const struct ev__bufpool *p, const char *buf)
{
  return (unsigned int)((size_t)(buf - p->base) / p->size);
}

void ev__buf_hold(struct ev__bufpool *p, unsigned int bid)
{
  p->held[bid] = 1;
}

char *ev__buf_get(struct ev__bufpool *p)
{
  if (!p->free_n)
    return NULL;
  unsigned int bid = p->free[--p->free_n];
  p->held[bid] = 1;
  return ev__buf_addr(p, bid);
}

void ev__buf_put(struct ev_loop *loop, struct ev__ops *ops, char *buf)
{
  struct ev__bufpool *p = &ops->pool;
  if (!p->base || buf < p->base || buf >= p->base + (size_t)p->count * p->size) {
    ev__stash_buf_put(ops, buf);
    return;
  }
  unsigned int bid = buf_id(p, buf);
  if (!p->held[bid])
    return;
  p->held[bid] = 0;
  if (!ops->mech->buffer_back || !ops->mech->buffer_back(loop, bid))
    p->free[p->free_n++] = bid;
  if (ops->starved_n)
    ev__ops_buffer_free(loop, ops);
}
