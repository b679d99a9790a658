#!/bin/sh
# iouring-masks.sh - the behaviour tests of every area on io_uring, once per kernel feature set
# the backend can fall back to (TAP, run by tests/run-one from the repository root).
#
# EVRING_IOURING_DISABLE masks what this kernel offers, so that the paths taken on older
# kernels run here: per-fd one-shot polls instead of ring-driven epoll (< 6.15), rings without
# SINGLE_ISSUER/DEFER_TASKRUN (< 6.1), nothing newer than 5.11 (no SUBMIT_ALL, COOP_TASKRUN,
# CQE_SKIP, cancel-any), with and without ring epoll. tests/iouring.c runs its own tests under every mask itself.
set -u

BUILD=${BUILD:-build}
masks="epoll_wait defer_taskrun register
defer_taskrun,coop_taskrun,submit_all,cqe_skip,cancel_any,register
epoll_wait,defer_taskrun,coop_taskrun,submit_all,cqe_skip,cancel_any,register"
# every behaviour test program but iouring, which loops over the masks itself
programs=""
for f in "$BUILD"/tests/*; do
  t=$(basename "$f")
  [ -f "$f" ] && [ -x "$f" ] && [ "$t" != iouring ] && programs="$programs $t"
done

count=0
for m in $masks; do for t in $programs; do count=$((count + 1)); done; done
if [ "$count" = 0 ]; then
  echo "1..0 # SKIP no test programs built"
  exit 0
fi
if ! EVRING_TEST_BACKEND=iouring "$BUILD/tests/io" 2>/dev/null | grep -q '^1\.\.[1-9]'; then
  echo "1..0 # SKIP io_uring not available here"
  exit 0
fi

echo "1..$count"
n=0
for m in $masks; do
  for t in $programs; do
    n=$((n + 1))
    out=$(EVRING_TEST_BACKEND=iouring EVRING_IOURING_DISABLE=$m "$BUILD/tests/$t" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then
      echo "ok $n - $t with EVRING_IOURING_DISABLE=$m"
    else
      echo "not ok $n - $t with EVRING_IOURING_DISABLE=$m (exit $rc)"
      echo "$out" | grep -v '^ok' | sed 's/^/# /'
    fi
  done
done
