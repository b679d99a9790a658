#!/bin/sh
# install.sh - make install puts the library, headers, libev.pc and man pages under PREFIX
# (into a DESTDIR here), a client builds and runs against them, and make uninstall removes
# exactly what make install wrote (TAP). Run by tests/run-one from the repository root.
set -u
BUILD=${BUILD:-build}
tmp=$(mktemp -d /tmp/evring-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
prefix=/opt/evring-test
lib=$dest$prefix/lib

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
comment() { sed 's/^/# /'; }

echo "1..7"
# A file that is there before and must survive make uninstall (directories are shared).
mkdir -p "$dest$prefix/include"
echo keep >"$dest$prefix/include/other.h"

make -s --no-print-directory install BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" \
  >"$tmp/install.log" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=$prefix succeeds" [ $rc -eq 0 ]
[ $rc -eq 0 ] || comment <"$tmp/install.log"

expected="include/ev++.h include/ev.h include/event.h include/evring.h lib/libev.a lib/libev.so
lib/libev.so.4 lib/libev.so.4.0.0 lib/pkgconfig/libev.pc share/man/man3/evring.3
share/man/man7/evring.7"
(cd "$dest$prefix" && find . ! -type d ! -name other.h | sed 's|^\./||' | sort) >"$tmp/got"
echo "$expected" | tr ' ' '\n' | sort >"$tmp/want"
if cmp -s "$tmp/want" "$tmp/got" && [ "$(readlink "$lib/libev.so.4")" = libev.so.4.0.0 ] &&
   [ "$(readlink "$lib/libev.so")" = libev.so.4.0.0 ]; then
  ok "installs the library with its two links, four headers, libev.pc and two man pages"
else
  not_ok "installs the library with its two links, four headers, libev.pc and two man pages"
  diff "$tmp/want" "$tmp/got" | comment
fi

# With a DESTDIR, ldconfig is not run on the real system; the user is told to run it.
check "with DESTDIR it tells the user to run ldconfig" grep -q "run ldconfig" "$tmp/install.log"

check "libev.pc points at PREFIX" sh -c "
  PKG_CONFIG_PATH='$lib/pkgconfig' pkg-config --variable=libdir libev | grep -qx '$prefix/lib' &&
  PKG_CONFIG_PATH='$lib/pkgconfig' pkg-config --cflags libev | grep -q -- '-I$prefix/include'"

# A client of both headers builds against the installed files and runs on the installed library.
cat >"$tmp/client.c" <<'EOF'
#include <evring.h>
#include <stdio.h>
int main(void)
{
  struct ev_loop *loop = ev_loop_new(0);
  if (!loop)
    return 1;
  printf("%d.%d %d\n", ev_version_major(), ev_version_minor(), evring_mode(loop) > 0);
  ev_loop_destroy(loop);
  return 0;
}
EOF
# A sanitizer build of the library needs its runtimes in the client too.
san=
if readelf -d "$lib/libev.so.4.0.0" | grep -q 'NEEDED.*libasan'; then
  san="-fsanitize=${EVRING_SAN:-address,undefined}"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi
if ${CC:-cc} $san -o "$tmp/client" "$tmp/client.c" -I"$dest$prefix/include" -L"$lib" -lev \
     >"$tmp/cc.log" 2>&1 &&
   [ "$(LD_LIBRARY_PATH=$lib "$tmp/client")" = "4.33 1" ]; then
  ok "a client of ev.h and evring.h builds against the installed files and runs"
else
  not_ok "a client of ev.h and evring.h builds against the installed files and runs"
  comment <"$tmp/cc.log"
fi

make -s --no-print-directory uninstall BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" \
  >"$tmp/uninstall.log" 2>&1
check "make uninstall succeeds" [ $? -eq 0 ]
left=$(cd "$dest$prefix" && find . ! -type d | sed 's|^\./||')
if [ "$left" = include/other.h ]; then
  ok "make uninstall removes every installed file and nothing else"
else
  not_ok "make uninstall removes every installed file and nothing else"
  echo "$left" | comment
fi
exit $failed
