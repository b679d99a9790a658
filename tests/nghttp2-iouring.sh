#!/bin/sh
# nghttp2-iouring.sh - tests/nghttp2.sh with nghttpd and h2load on evring's io_uring backend.
# Skipped where the kernel does not offer io_uring (the loop would fall back to epoll).
BUILD=${BUILD:-build}
if [ -x "$BUILD/tests/event" ] &&
   EVRING_TEST_BACKEND=iouring "$BUILD/tests/event" 2>/dev/null | head -n 1 | grep -q SKIP; then
  echo "1..0 # SKIP io_uring not supported here"
  exit 0
fi
EVRING_NGHTTP2_FLAGS=128 exec sh tests/nghttp2.sh
