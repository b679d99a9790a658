/* ops.h - the table of evfuzz step operations (ops.c). */
#ifndef EVFUZZ_OPS_H
#define EVFUZZ_OPS_H

#include "fuzz.h"

#define FZ_NOPS 31

struct fz_op {
  const char *name;
  unsigned weight;
  int (*fn)(struct ev_loop *loop, struct fz_rng *r);  /* 0: does not apply now */
};

extern const struct fz_op fz_ops[FZ_NOPS];
extern unsigned fz_op_count[FZ_NOPS];    /* times each operation ran */
extern unsigned fz_op_disabled[FZ_NOPS]; /* set by -x */

int fz_op_find(const char *name);
void fz_op_step(struct ev_loop *loop, struct fz_rng *r, unsigned step);

#endif
