#!/bin/sh
# nghttp2.sh - a real, unmodified Debian program on evring (TAP).
#
# Debian's nghttpd (HTTP/2 server) and h2load (load generator) are linked against libev.so.4.
# With LD_LIBRARY_PATH=$BUILD they load evring's library instead. Both run on the backend
# EVRING_NGHTTP2_FLAGS selects through LIBEV_FLAGS (default 4, epoll; tests/nghttp2-iouring.sh
# runs it with 128, io_uring); nghttpd serves a small file; h2load makes 100000 requests over
# 16 connections with 10 concurrent streams each; every request must succeed.
#
# Run by tests/run-one with cwd = repository root and BUILD = build directory.
# Every process started here is killed by its pid on exit.
set -u

BUILD=${BUILD:-build}
REQUESTS=${EVRING_NGHTTP2_REQUESTS:-100000}
LIMIT=${EVRING_NGHTTP2_TIMEOUT:-240}
FLAGS=${EVRING_NGHTTP2_FLAGS:-4}
case "$FLAGS" in
  128) kernel_object="anon_inode:[io_uring]"; backend=io_uring ;;
  *) kernel_object="anon_inode:[eventpoll]"; backend=epoll ;;
esac

if ! command -v nghttpd >/dev/null 2>&1 || ! command -v h2load >/dev/null 2>&1; then
  echo "1..0 # SKIP nghttpd/h2load not installed (packages nghttp2-server, nghttp2-client)"
  exit 0
fi
if [ ! -e "$BUILD/libev.so.4" ]; then
  echo "1..0 # SKIP $BUILD/libev.so.4 not built"
  exit 0
fi
build_abs=$(cd "$BUILD" && pwd -P)
lib_real=$(readlink -f "$build_abs/libev.so.4")

# A sanitizer build of the library needs the sanitizer runtime loaded first in these
# uninstrumented programs.
preload=
if [ -n "${EVRING_SAN:-}" ] || ldd "$build_abs/libev.so.4" 2>/dev/null | grep -q 'libasan'; then
  asan=$(gcc -print-file-name=libasan.so 2>/dev/null)
  case "$asan" in
    /*) ;;
    *) echo "1..0 # SKIP sanitizer build of libev.so.4 and no libasan.so to preload"; exit 0 ;;
  esac
  preload=$asan
  if ldd "$build_abs/libev.so.4" 2>/dev/null | grep -q 'libubsan'; then
    ubsan=$(gcc -print-file-name=libubsan.so 2>/dev/null)
    case "$ubsan" in /*) preload="$preload $ubsan" ;; esac
  fi
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi

tmp=$(mktemp -d /tmp/evring-nghttp2.XXXXXX)
srv=     # pid of `timeout` running nghttpd
nghttpd_pid=
cli=     # pid of `timeout` running h2load

cleanup() {
  if [ -n "$cli" ]; then
    kill "$cli" 2>/dev/null
    wait "$cli" 2>/dev/null
  fi
  if [ -n "$srv" ]; then
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
  fi
  if [ -n "$nghttpd_pid" ] && kill -0 "$nghttpd_pid" 2>/dev/null; then
    kill -9 "$nghttpd_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
# Long-running commands run in the background and are waited for: a trapped signal interrupts
# `wait`, while it would be deferred until a foreground command ends.
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { # check <description> <command...>
  d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
comment() { sed 's/^/# /'; }

# The direct child of a process (timeout runs nghttpd as its only child).
child_of() {
  c=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
  if [ -z "$c" ]; then
    for st in /proc/[0-9]*/stat; do
      set -- "$1" $(sed 's/^.*) //' "$st" 2>/dev/null)
      [ "${3:-}" = "$1" ] && { c=${st#/proc/}; c=${c%/stat}; break; }
    done
  fi
  echo "$c" | awk '{ print $1 }'
}

# Is 127.0.0.1:<port> in LISTEN state (state 0A in /proc/net/tcp)?
listening() {
  hex=$(printf '%04X' "$1")
  grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A " /proc/net/tcp
}

random_port() {
  r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
  echo $((20000 + r % 40000))
}

echo "1..7"

# A small file to serve.
mkdir -p "$tmp/htdocs"
awk 'BEGIN { for (i = 0; i < 64; i++) printf "evring nghttp2 test line %02d\n", i }' \
  >"$tmp/htdocs/file"

# 1. The dynamic linker resolves nghttpd's and h2load's libev.so.4 to the build.
check "nghttpd and h2load resolve libev.so.4 to $BUILD" sh -c '
  for p in nghttpd h2load; do
    LD_LIBRARY_PATH="$1" ldd "$(command -v $p)" | grep -q "libev.so.4 => $1/libev.so.4" || exit 1
  done' sh "$build_abs"

# 2. nghttpd starts on a free port and listens.
port=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  p=$(random_port)
  listening "$p" && continue
  LD_LIBRARY_PATH=$build_abs LD_PRELOAD=$preload LIBEV_FLAGS=$FLAGS \
    timeout -k 5 "$LIMIT" nghttpd --no-tls -a 127.0.0.1 -d "$tmp/htdocs" "$p" \
    >"$tmp/nghttpd.log" 2>&1 &
  srv=$!
  i=0
  while [ $i -lt 100 ] && kill -0 "$srv" 2>/dev/null && ! listening "$p"; do
    sleep 0.05
    i=$((i + 1))
  done
  if listening "$p" && kill -0 "$srv" 2>/dev/null; then
    port=$p
    break
  fi
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
  srv=
done
if [ -z "$port" ]; then
  not_ok "nghttpd listens on 127.0.0.1"
  comment <"$tmp/nghttpd.log"
  exit 1
fi
nghttpd_pid=$(child_of "$srv")
ok "nghttpd listens on 127.0.0.1:$port (pid $nghttpd_pid)"

# 3. The running server really mapped evring's library (and no other libev).
check "nghttpd mapped $lib_real" sh -c '
  grep -q " $1\$" "/proc/$2/maps" && ! grep -E "/libev\.so" "/proc/$2/maps" | grep -vq " $1\$"
' sh "$lib_real" "$nghttpd_pid"

# 4. LIBEV_FLAGS was honoured: the server's loop holds the backend's kernel object.
check "nghttpd runs on $backend (LIBEV_FLAGS=$FLAGS)" sh -c '
  for f in /proc/$1/fd/*; do
    [ "$(readlink "$f")" = "$2" ] && exit 0
  done
  exit 1' sh "$nghttpd_pid" "$kernel_object"

# 5. h2load finishes every request.
LD_LIBRARY_PATH=$build_abs LD_PRELOAD=$preload LIBEV_FLAGS=$FLAGS \
  timeout -k 5 "$LIMIT" h2load -n "$REQUESTS" -c 16 -m 10 "http://127.0.0.1:$port/file" \
  >"$tmp/h2load.log" 2>&1 &
cli=$!
wait "$cli"
rc=$?
cli=
grep -E "req/s|^requests:|^status codes:" "$tmp/h2load.log" | comment
check "h2load exits 0 (status $rc)" [ "$rc" -eq 0 ]
if grep -q "^requests: .* $REQUESTS succeeded, 0 failed, 0 errored, 0 timeout" "$tmp/h2load.log"; then
  ok "$REQUESTS requests succeeded, 0 failed"
else
  not_ok "$REQUESTS requests succeeded, 0 failed"
  tail -n 20 "$tmp/h2load.log" | comment
fi

# 7. The server survived the load.
if kill -0 "$nghttpd_pid" 2>/dev/null; then
  ok "nghttpd still running after the load"
else
  not_ok "nghttpd still running after the load"
  tail -n 20 "$tmp/nghttpd.log" | comment
fi
