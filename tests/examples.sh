#!/bin/sh
# examples.sh - the server examples serve correctly on every backend (TAP).
#
# examples/echo-evring.c and http-evring.c (evring.h) and echo-evio.c and http-evio.c (ev_io)
# run on evring with LIBEV_FLAGS = 1 (select), 2 (poll), 4 (epoll), 128 (io_uring), and on
# io_uring with a ring of 8 entries (EVRING_IOURING_ENTRIES=8: the submission queue fills
# while completions are handled). Echo: bench/loadgen sends a fixed number of messages per
# connection and checks every echoed byte (many connections with small messages, and one
# connection with messages larger than all receive buffers together). HTTP: every request of
# many connections is answered, pipelined requests and requests split across packets too.
# A fixed amount of work with a generous time limit: nothing here depends on speed.
# EVRING_EXAMPLES_CONFIGS="flags:entries:name ..." runs a subset (entries 0: the default ring).
#
# Run by tests/run-one with cwd = repository root and BUILD = build directory.
set -u
BUILD=${BUILD:-build}
for f in examples/echo-evring examples/http-evring examples/echo-evio examples/http-evio \
  bench/loadgen; do
  if [ ! -x "$BUILD/$f" ]; then
    echo "1..0 # SKIP $BUILD/$f not built (make examples $BUILD/bench/loadgen)"
    exit 0
  fi
done
build_abs=$(cd "$BUILD" && pwd -P)
tmp=$(mktemp -d /tmp/evring-examples.XXXXXX)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }

listening() {
  grep -q "^ *[0-9]*: 0100007F:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp
}

# serve PROGRAM: start it on evring on a free port with the current $flags and $entries;
# sets $port and $server, or returns 1.
serve() {
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    port=$((20000 + r % 40000))
    listening "$port" && continue
    LD_LIBRARY_PATH=$build_abs LIBEV_FLAGS=$flags EVRING_IOURING_ENTRIES=$entries \
      "$BUILD/examples/$1" "$port" 2>"$tmp/server.log" &
    server=$!
    i=0
    while [ $i -lt 200 ] && kill -0 "$server" 2>/dev/null && ! listening "$port"; do
      sleep 0.05
      i=$((i + 1))
    done
    listening "$port" && kill -0 "$server" 2>/dev/null && return 0
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=
  done
  return 1
}

# stop: SIGTERM ends the server's loop; it must exit with status 0.
stop() {
  kill "$server" 2>/dev/null
  wait "$server"
  rc=$?
  server=
  return $rc
}

# The HTTP client: 50 connections x 40 requests, one by one, then pipelined batches, then
# requests cut in the middle of their head; every answer counted.
cat >"$tmp/http.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
REQ = b"GET / HTTP/1.1\r\nHost: test\r\nUser-Agent: examples.sh\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"

def expect(s, count):
    want, got = RESP * count, b""
    while len(got) < len(want):
        d = s.recv(65536)
        if not d:
            sys.exit(f"connection closed after {len(got)} of {len(want)} bytes")
        got += d
    if got != want:
        sys.exit("answers differ from the expected response")

conns = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(50)]
for _ in range(40):
    for s in conns:
        s.sendall(REQ)
    for s in conns:
        expect(s, 1)
for s in conns:
    s.sendall(REQ * 100)
for s in conns:
    expect(s, 100)
s = conns[0]
for cut in (1, 10, len(REQ) - 1):
    s.sendall(REQ[:cut])
    time.sleep(0.05)
    s.sendall(REQ[cut:] + REQ)
    expect(s, 2)
for s in conns:
    s.close()
EOF

configs=${EVRING_EXAMPLES_CONFIGS:-"1:0:select 2:0:poll 4:0:epoll 128:0:io_uring 128:8:io_uring-8-entries"}
echo "1..$(( $(echo $configs | wc -w) * 10 ))"
for c in $configs; do
  flags=${c%%:*}
  rest=${c#*:}
  entries=${rest%%:*}
  name=${rest#*:}
  [ "$entries" = 0 ] && entries=

  for prog in echo-evring echo-evio; do
    if ! serve "$prog"; then
      not_ok "$prog on $name: listens"
      comment <"$tmp/server.log"
      not_ok "$prog on $name: 20 connection(s) x 200 messages of 4096 bytes echoed"
      not_ok "$prog on $name: 1 connection(s) x 5 messages of 8388608 bytes echoed"
      continue
    fi
    for load in "20 4096 200" "1 8388608 5"; do
      set -- $load
      if timeout -k 5 60 "$BUILD/bench/loadgen" -c "$1" -s "$2" -n "$3" -d 30 "$port" \
        >"$tmp/loadgen.log" 2>&1; then
        ok "$prog on $name: $1 connection(s) x $3 messages of $2 bytes echoed"
      else
        not_ok "$prog on $name: $1 connection(s) x $3 messages of $2 bytes echoed"
        comment <"$tmp/loadgen.log"
      fi
    done
    if stop; then
      ok "$prog on $name: exits 0 on SIGTERM"
    else
      not_ok "$prog on $name: exits 0 on SIGTERM"
      comment <"$tmp/server.log"
    fi
  done

  for prog in http-evring http-evio; do
    if ! serve "$prog"; then
      not_ok "$prog on $name: listens"
      comment <"$tmp/server.log"
      not_ok "$prog on $name: answers"
      continue
    fi
    if timeout -k 5 60 python3 "$tmp/http.py" "$port" >"$tmp/http.log" 2>&1; then
      ok "$prog on $name: every request answered (one by one, pipelined, split)"
    else
      not_ok "$prog on $name: every request answered (one by one, pipelined, split)"
      comment <"$tmp/http.log"
    fi
    if stop; then
      ok "$prog on $name: exits 0 on SIGTERM"
    else
      not_ok "$prog on $name: exits 0 on SIGTERM"
      comment <"$tmp/server.log"
    fi
  done
done
