/* memory.c - the user-settable allocator and system-error reporting. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ptr, long size)
{
  if (size)
    return realloc(ptr, (size_t)size);
  free(ptr);
  return NULL;
}

/* Process-global, as in libev: one allocator and one syserr callback for all loops. */
static void *(*alloc_fn)(void *ptr, long size) = default_alloc;
static void (*syserr_fn)(const char *msg);

void ev_set_allocator(void *(*cb)(void *ptr, long size))
{
  /* libev does not accept NULL either; we keep the pointer as given. */
  alloc_fn = cb;
}

void ev_set_syserr_cb(void (*cb)(const char *msg))
{
  syserr_fn = cb;
}

void ev__syserr(const char *msg)
{
  if (!msg)
    msg = "(libev) system error";
  if (syserr_fn) {
    syserr_fn(msg);
    return;
  }
  perror(msg);
  abort();
}

void ev__usage_error(const char *msg, const char *file, int line)
{
  fprintf(stderr, "libev: %s (evring %s:%d)\n", msg, file, line);
  abort();
}

void *ev__realloc(void *ptr, size_t size)
{
  /* An allocator that fails is retried never: libev reports and aborts, and so do we, since
   * the loop has no way to continue without the memory. */
  void *p = alloc_fn(ptr, (long)size);
  if (!p && size) {
    fprintf(stderr, "(libev) cannot allocate %ld bytes, aborting.", (long)size);
    abort();
  }
  return p;
}

void ev__free(void *ptr)
{
  if (ptr)
    alloc_fn(ptr, 0);
}

void ev__grow(void **arr, int *cap, int need, size_t size)
{
  if (need <= *cap)
    return;
  int ncap = *cap ? *cap : 4;
  while (ncap < need)
    ncap *= 2;
  char *p = ev__realloc(*arr, (size_t)ncap * size);
  /* New slots start zeroed so that tables indexed by fd number read as "unused". */
  memset(p + (size_t)*cap * size, 0, (size_t)(ncap - *cap) * size);
  *arr = p;
  *cap = ncap;
}
