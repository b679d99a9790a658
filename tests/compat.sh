#!/bin/sh
# compat.sh - one client program, two headers, two libraries, identical behaviour (TAP).
#
# tests/compat/scenario.c prints deterministic lines about signal, child, stat, timer and io
# behaviour. It is built twice, against Debian's /usr/include/ev.h and against evring's
# include/ev.h, and each binary is run against Debian's libev.so.4 (default library path) and
# against evring's (LD_LIBRARY_PATH=$BUILD). For each backend given by LIBEV_FLAGS (1 select,
# 2 poll, 4 epoll; Debian's io_uring backend is broken, so it is not compared) the three other
# outputs must equal the Debian-header/Debian-library output.
#
# Run by tests/run-one with cwd = repository root and BUILD = build directory.
set -u

BUILD=${BUILD:-build}
CC=${CC:-gcc}
LIMIT=${EVRING_COMPAT_TIMEOUT:-60}
CFLAGS="-std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter"

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "1..0 # SKIP no C compiler ($CC)"
  exit 0
fi
if [ ! -e /usr/include/ev.h ]; then
  echo "1..0 # SKIP Debian's ev.h not installed (package libev-dev)"
  exit 0
fi
debian_lib=$("$CC" -print-file-name=libev.so.4)
case "$debian_lib" in
  /*) ;;
  *) echo "1..0 # SKIP Debian's libev.so.4 not installed (package libev4)"; exit 0 ;;
esac
if [ ! -e "$BUILD/libev.so.4" ]; then
  echo "1..0 # SKIP $BUILD/libev.so.4 not built"
  exit 0
fi
build_abs=$(cd "$BUILD" && pwd -P)

# A sanitizer build of evring needs the sanitizer runtime loaded first in these
# uninstrumented programs (and only when evring's library is the one loaded).
preload=
if ldd "$build_abs/libev.so.4" 2>/dev/null | grep -q 'libasan'; then
  asan=$("$CC" -print-file-name=libasan.so 2>/dev/null)
  case "$asan" in
    /*) ;;
    *) echo "1..0 # SKIP sanitizer build of libev.so.4 and no libasan.so to preload"; exit 0 ;;
  esac
  preload=$asan
  if ldd "$build_abs/libev.so.4" 2>/dev/null | grep -q 'libubsan'; then
    ubsan=$("$CC" -print-file-name=libubsan.so 2>/dev/null)
    case "$ubsan" in /*) preload="$preload $ubsan" ;; esac
  fi
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi

tmp=$(mktemp -d /tmp/evring-compat.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }

BACKENDS="1 2 4"
echo "1..$((3 + 4 * 3))"

# 1-2. Build against each header. The link-time library only has to provide the symbols;
# which one is loaded is decided at run time.
if $CC $CFLAGS -o "$tmp/scenario-debian" tests/compat/scenario.c -lev >"$tmp/cc1.log" 2>&1; then
  ok "scenario builds against Debian's /usr/include/ev.h"
else
  not_ok "scenario builds against Debian's /usr/include/ev.h"
  comment <"$tmp/cc1.log"
fi
if $CC $CFLAGS -Iinclude -o "$tmp/scenario-evring" tests/compat/scenario.c \
  -L"$build_abs" -lev >"$tmp/cc2.log" 2>&1; then
  ok "scenario builds against evring's include/ev.h"
else
  not_ok "scenario builds against evring's include/ev.h"
  comment <"$tmp/cc2.log"
fi

# 3. The dynamic linker picks the library we mean in each case.
resolves() { # resolves <binary> <LD_LIBRARY_PATH> <expected path>
  LD_LIBRARY_PATH=$2 ldd "$1" 2>/dev/null | grep -q "libev.so.4 => $3"
}
if [ -x "$tmp/scenario-debian" ] && [ -x "$tmp/scenario-evring" ] &&
  resolves "$tmp/scenario-debian" "$build_abs" "$build_abs/libev.so.4" &&
  resolves "$tmp/scenario-evring" "$build_abs" "$build_abs/libev.so.4" &&
  ! resolves "$tmp/scenario-debian" "" "$build_abs/" &&
  ! resolves "$tmp/scenario-evring" "" "$build_abs/"; then
  ok "libev.so.4 resolves to $BUILD with LD_LIBRARY_PATH, to Debian's without"
else
  not_ok "libev.so.4 resolves to $BUILD with LD_LIBRARY_PATH, to Debian's without"
fi

# run <header> <lib> <flags>: output in $tmp/out-<header>-<lib>-<flags>, status returned.
run() {
  out="$tmp/out-$1-$2-$3"
  if [ ! -x "$tmp/scenario-$1" ]; then
    echo "(not built)" >"$out"
    return 1
  fi
  if [ "$2" = evring ]; then
    LD_LIBRARY_PATH=$build_abs LD_PRELOAD=$preload LIBEV_FLAGS=$3 \
      timeout -k 5 "$LIMIT" "$tmp/scenario-$1" >"$out" 2>"$out.err"
  else
    LIBEV_FLAGS=$3 timeout -k 5 "$LIMIT" "$tmp/scenario-$1" >"$out" 2>"$out.err"
  fi
}

for flags in $BACKENDS; do
  ref="$tmp/out-debian-debian-$flags"
  if run debian debian "$flags" && [ -s "$ref" ]; then
    ok "LIBEV_FLAGS=$flags: Debian header + Debian library runs (reference)"
  else
    not_ok "LIBEV_FLAGS=$flags: Debian header + Debian library runs (reference)"
    comment <"$ref"
    comment <"$ref.err"
  fi
  for combo in "evring debian" "debian evring" "evring evring"; do
    set -- $combo
    desc="LIBEV_FLAGS=$flags: $1 header + $2 library prints the same as the reference"
    run "$1" "$2" "$flags"
    status=$?
    out="$tmp/out-$1-$2-$flags"
    if [ $status -eq 0 ] && diff -u "$ref" "$out" >"$out.diff" 2>&1; then
      ok "$desc"
    else
      not_ok "$desc"
      [ $status -eq 0 ] || echo "exit status $status" | comment
      comment <"$out.diff"
      comment <"$out.err"
    fi
  done
done
