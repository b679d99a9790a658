#!/bin/sh
# deb-roundtrip.sh - the Debian package swaps every libev program on the machine to evring,
# and Debian's libev4 swaps it back (TAP).
#
# As root: saves Debian's libev4 .deb (from apt's cache, else `apt-get download`) before
# touching anything, installs $BUILD/deb/libev4-evring_*.deb with apt-get (libev4 is removed,
# nothing else changes), starts Debian's unmodified nghttpd without LD_LIBRARY_PATH and checks
# in /proc/PID/maps that it mapped the packaged evring library (its build id), runs h2load
# against it, then installs the saved libev4 again and checks that nghttpd maps Debian's
# library and that the installed package set and apt's auto marks are as before.
# Debian's libev4 is put back on every exit, failed checks and signals included.
#
# It changes the system's libev.so.4 for a few seconds, so it only runs when asked:
# EVRING_DEB_ROUNDTRIP=1 (CI: .ci/run, after `make deb`). Run from the repository root.
set -u

BUILD=${BUILD:-build}
REQUESTS=${EVRING_DEB_REQUESTS:-20000}
export DEBIAN_FRONTEND=noninteractive

skip() { echo "1..0 # SKIP $*"; exit 0; }
[ "${EVRING_DEB_ROUNDTRIP:-}" = 1 ] ||
  skip "swaps the system's libev4: set EVRING_DEB_ROUNDTRIP=1 to run it (as root, after make deb)"
[ "$(id -u)" = 0 ] || skip "needs root (apt-get install)"
for tool in apt-get dpkg-query nghttpd h2load readelf; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
set -- "$BUILD"/deb/libev4-evring_*.deb
[ $# = 1 ] && [ -f "$1" ] || skip "not exactly one $BUILD/deb/libev4-evring_*.deb (run make deb)"
evring_deb=$(readlink -f "$1")
status() { dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2>/dev/null | cut -c1-2; }
[ "$(status libev4)" = ii ] || skip "Debian's libev4 is not installed: nothing to swap back to"
[ "$(status libev4-evring)" != ii ] || skip "libev4-evring is installed already"

tmp=$(mktemp -d /tmp/evring-deb.XXXXXX)
chmod 755 "$tmp" # apt's _apt user reads the local .deb files from here
server=
client=
swapped=

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }

# Put Debian's libev4 back whenever libev4-evring may be installed.
restore() {
  [ "$(status libev4-evring)" = ii ] || [ "$(status libev4)" != ii ] || return 0
  apt-get install -y -o DPkg::Lock::Timeout=120 --allow-downgrades "$tmp/debian.deb" >"$tmp/restore.log" 2>&1 &&
    [ "$(status libev4)" = ii ] && [ "$(status libev4-evring)" != ii ] || return 1
  if [ -s "$tmp/auto.before" ]; then apt-mark auto libev4 >/dev/null; fi
  return 0
}
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=
  fi
}
cleanup() {
  if [ -n "$client" ]; then
    kill "$client" 2>/dev/null
    wait "$client" 2>/dev/null
  fi
  stop_server
  if [ -n "$swapped" ] && ! restore; then
    echo "# COULD NOT PUT DEBIAN'S libev4 BACK: apt-get install $tmp/debian.deb said:"
    comment <"$tmp/restore.log"
    echo "# (kept $tmp)"
    exit 1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

build_id() { readelf -n "$1" 2>/dev/null | awk '/Build ID:/ { print $3; exit }'; }
# The build id of the libev.so the process maps: read through /proc/PID/map_files where
# the kernel allows it, else from the mapped path when its inode is the mapped one.
mapped_build_id() {
  line=$(grep -m1 '/libev\.so' "/proc/$1/maps") || return 1
  range=${line%% *}
  inode=$(echo "$line" | awk '{ print $5 }')
  path=$(echo "$line" | awk '{ print $6 }')
  id=$(build_id "/proc/$1/map_files/$range")
  if [ -z "$id" ] && [ "$(stat -L -c %i "$path" 2>/dev/null)" = "$inode" ]; then
    id=$(build_id "$path")
  fi
  [ -n "$id" ] && echo "$id $path"
}
deb_build_id() { # the build id of the libev.so.4.0.0 inside a .deb
  rm -rf "$tmp/x" && mkdir "$tmp/x" && dpkg-deb -x "$1" "$tmp/x" &&
    build_id "$(find "$tmp/x" -name libev.so.4.0.0 | head -n 1)"
}
installed() { dpkg-query -W -f '${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n' | grep '^ii'; }

listening() {
  hex=$(printf '%04X' "$1")
  grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A " /proc/net/tcp
}
# start_server: Debian's nghttpd with the dynamic linker's own choice of libev.so.4.
start_server() {
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
    listening "$port" && continue
    env -u LD_LIBRARY_PATH -u LD_PRELOAD -u LIBEV_FLAGS \
      nghttpd --no-tls -a 127.0.0.1 -d "$tmp/htdocs" "$port" >"$tmp/nghttpd.log" 2>&1 &
    server=$!
    i=0
    while [ $i -lt 100 ] && kill -0 "$server" 2>/dev/null && ! listening "$port"; do
      sleep 0.05
      i=$((i + 1))
    done
    listening "$port" && kill -0 "$server" 2>/dev/null && return 0
    stop_server
  done
  return 1
}

echo "1..10"
mkdir -p "$tmp/htdocs"
awk 'BEGIN { for (i = 0; i < 64; i++) printf "evring deb round trip line %02d\n", i }' \
  >"$tmp/htdocs/file"
installed >"$tmp/installed.before"
apt-mark showauto libev4 >"$tmp/auto.before"

# 1. Debian's libev4, as installed, saved before anything changes.
version=$(dpkg-query -W -f '${Version}' libev4)
arch=$(dpkg-query -W -f '${Architecture}' libev4)
cached=/var/cache/apt/archives/libev4_$(echo "$version" | sed 's/:/%3a/')_$arch.deb
if [ -f "$cached" ]; then
  cp "$cached" "$tmp/debian.deb"
else
  (cd "$tmp" && apt-get download "libev4:$arch=$version" >"$tmp/download.log" 2>&1) &&
    mv "$tmp"/libev4_*.deb "$tmp/debian.deb"
fi
if [ -f "$tmp/debian.deb" ] && [ "$(dpkg-deb -f "$tmp/debian.deb" Package Version)" = "$(printf 'Package: libev4\nVersion: %s' "$version")" ]; then
  ok "saved Debian's libev4 $version ($([ -f "$cached" ] && echo "apt's cache" || echo "apt-get download"))"
else
  not_ok "saved Debian's libev4 $version (neither in $cached nor downloadable)"
  comment <"$tmp/download.log" 2>/dev/null
  echo "# not touching the system without a way back"
  exit 1
fi
debian_id=$(deb_build_id "$tmp/debian.deb")
evring_id=$(deb_build_id "$evring_deb")
echo "# build ids: Debian's $debian_id, evring's $evring_id"
cp "$evring_deb" "$tmp/"

# 2. apt-get swaps libev4 for libev4-evring and changes nothing else.
swapped=1
if apt-get install -y -o DPkg::Lock::Timeout=120 "$tmp/$(basename "$evring_deb")" >"$tmp/install.log" 2>&1 &&
   [ "$(status libev4-evring)" = ii ] && [ "$(status libev4)" != ii ]; then
  ok "apt-get install ./$(basename "$evring_deb") replaces libev4"
else
  not_ok "apt-get install ./$(basename "$evring_deb") replaces libev4"
  tail -n 20 "$tmp/install.log" | comment
fi
installed | grep -v ' libev4' >"$tmp/installed.during"
if grep -v ' libev4' "$tmp/installed.before" | cmp -s - "$tmp/installed.during"; then
  ok "no other package was removed or installed"
else
  not_ok "no other package was removed or installed"
  grep -v ' libev4' "$tmp/installed.before" | diff - "$tmp/installed.during" | comment
fi

# 3. An unmodified program started without LD_LIBRARY_PATH maps evring's library.
if start_server; then
  m=$(mapped_build_id "$server")
  if [ "${m%% *}" = "$evring_id" ]; then
    ok "nghttpd (no LD_LIBRARY_PATH) maps evring: ${m#* } has evring's build id"
  else
    not_ok "nghttpd (no LD_LIBRARY_PATH) maps evring: mapped ${m:-no libev.so}"
    grep libev "/proc/$server/maps" | comment
  fi
else
  not_ok "nghttpd (no LD_LIBRARY_PATH) starts and listens"
  comment <"$tmp/nghttpd.log"
fi

# 4. It serves: h2load (also on evring now) completes every request.
# (in the background: a signal interrupts `wait`, while it waits for a foreground command)
rc=1
if [ -n "$server" ]; then
  env -u LD_LIBRARY_PATH -u LD_PRELOAD timeout -k 5 120 \
    h2load -n "$REQUESTS" -c 16 -m 10 "http://127.0.0.1:$port/file" >"$tmp/h2load.log" 2>&1 &
  client=$!
  wait "$client"
  rc=$?
  client=
fi
if [ "$rc" -eq 0 ] &&
   grep -q "^requests: .* $REQUESTS succeeded, 0 failed, 0 errored, 0 timeout" "$tmp/h2load.log"; then
  grep -E "req/s|^requests:" "$tmp/h2load.log" | comment
  ok "h2load: $REQUESTS requests to nghttpd on evring succeeded"
else
  not_ok "h2load: $REQUESTS requests to nghttpd on evring succeeded"
  tail -n 20 "$tmp/h2load.log" 2>/dev/null | comment
fi
stop_server

# 5. Installing the saved libev4 swaps back.
if restore; then
  swapped=
  ok "apt-get install Debian's libev4 $version replaces libev4-evring"
else
  not_ok "apt-get install Debian's libev4 $version replaces libev4-evring"
  tail -n 20 "$tmp/restore.log" | comment
fi

# 6. The installed packages and apt's auto marks are those of the start.
if installed | cmp -s "$tmp/installed.before" -; then
  ok "the installed packages are those of the start"
else
  not_ok "the installed packages are those of the start"
  installed | diff "$tmp/installed.before" - | comment
fi
if apt-mark showauto libev4 | cmp -s "$tmp/auto.before" -; then
  ok "libev4 is marked $([ -s "$tmp/auto.before" ] && echo automatically || echo manually) installed, as at the start"
else
  not_ok "libev4's apt mark is that of the start"
fi

# 7. The same program now maps Debian's library again.
if start_server; then
  m=$(mapped_build_id "$server")
  if [ "${m%% *}" = "$debian_id" ]; then
    ok "nghttpd maps Debian's libev again: ${m#* } has Debian's build id"
  else
    not_ok "nghttpd maps Debian's libev again: mapped ${m:-no libev.so}"
  fi
  stop_server
else
  not_ok "nghttpd starts on Debian's libev again"
  comment <"$tmp/nghttpd.log"
fi
if [ "$(build_id "$(readlink -f /usr/lib/"$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)"/libev.so.4)")" = "$debian_id" ]; then
  ok "the system's libev.so.4 is Debian's"
else
  not_ok "the system's libev.so.4 is Debian's"
fi
exit $failed
