#!/bin/sh
# gevent.sh - Debian's python3-gevent (linked against libev.so.4) on evring: the calls of
# gevent's own test__destroy_default_loop (tests/gevent/destroy_default_loop.py), which use
# the default loop's address after ev_loop_destroy. Run once on Debian's libev (reference)
# and once per backend on evring. Freed memory is poisoned (glibc tunables: no tcache,
# perturb) so that a library reading its freed loop fails instead of passing by luck.
#
# Run by tests/run-one with cwd = repository root and BUILD = build directory.
set -u

BUILD=${BUILD:-build}
PY=/usr/bin/python3
script=tests/gevent/destroy_default_loop.py

if [ ! -x "$PY" ] || ! "$PY" -c 'import gevent.libev.corecext' >/dev/null 2>&1; then
  echo "1..0 # SKIP python3-gevent (Debian's, with the libev core) not installed"
  exit 0
fi
if [ ! -e "$BUILD/libev.so.4" ]; then
  echo "1..0 # SKIP $BUILD/libev.so.4 not built"
  exit 0
fi
if ldd "$BUILD/libev.so.4" 2>/dev/null | grep -q libasan; then
  echo "1..0 # SKIP sanitizer build: python3 cannot load it without preloading the runtime"
  exit 0
fi
build_abs=$(cd "$BUILD" && pwd -P)
tmp=$(mktemp -d /tmp/evring-gevent.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
poison="glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"

n=0
result() { # result <status> <description> <output file>
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2 (exit status $1)"
    sed 's/^/# /' "$3"
  fi
}

echo "1..5"
GLIBC_TUNABLES=$poison timeout -k 5 60 "$PY" "$script" >"$tmp/ref" 2>&1
result $? "Debian's libev: gevent's destroy-default-loop calls (reference)" "$tmp/ref"
for flags in 1 2 4 128; do
  GLIBC_TUNABLES=$poison LD_LIBRARY_PATH=$build_abs LIBEV_FLAGS=$flags \
    timeout -k 5 60 "$PY" "$script" >"$tmp/out" 2>&1
  status=$?
  [ $status -eq 0 ] && ! cmp -s "$tmp/ref" "$tmp/out" && status=99
  result $status "evring LIBEV_FLAGS=$flags: gevent's destroy-default-loop calls" "$tmp/out"
done
