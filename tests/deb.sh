#!/bin/sh
# deb.sh - make deb builds the three packages with the relations and files that let apt swap
# them for Debian's libev4/libev-dev/libev-libevent-dev, without installing anything (TAP;
# tests/deb-roundtrip.sh does the real swap in CI). Run by tests/run-one from the repository
# root; writes $BUILD/deb.
set -u
BUILD=${BUILD:-build}
for tool in dpkg-deb dpkg strip objdump readelf; do
  command -v "$tool" >/dev/null 2>&1 || { echo "1..0 # SKIP $tool not installed"; exit 0; }
done
if readelf -d "$BUILD/libev.so.4.0.0" 2>/dev/null | grep -qE 'NEEDED.*lib(a|ub|t)san'; then
  echo "1..0 # SKIP sanitizer build: make deb packages plain builds only"
  exit 0
fi
tmp=$(mktemp -d /tmp/evring-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }
field() { dpkg-deb -f "$1" "$2"; }
files() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./||' | grep -v '/$' | grep . | sort | tr '\n' ' '; }

echo "1..9"
if make -s --no-print-directory BUILD="$BUILD" deb >"$tmp/build.log" 2>&1; then
  ok "make deb builds libev4-evring, libev-evring-dev and libev-evring-libevent-dev"
else
  not_ok "make deb builds the packages"
  comment <"$tmp/build.log"
  exit 1
fi
lib=$(ls "$BUILD"/deb/libev4-evring_*.deb)
dev=$(ls "$BUILD"/deb/libev-evring-dev_*.deb)
lev=$(ls "$BUILD"/deb/libev-evring-libevent-dev_*.deb)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

# relations <deb> <replaced package>: provides it at Debian 12's version, conflicts with and
# replaces it.
relations() {
  [ "$(field "$1" Provides)" = "$2 (= 1:4.33-1)" ] &&
    field "$1" Conflicts | tr ',' '\n' | grep -qx " *$2" &&
    [ "$(field "$1" Replaces)" = "$2" ]
}
if relations "$lib" libev4 && relations "$dev" libev-dev && relations "$lev" libev-libevent-dev &&
   field "$lev" Conflicts | grep -q libevent-dev; then
  ok "each package provides (= 1:4.33-1), conflicts with and replaces its Debian counterpart"
else
  not_ok "each package provides (= 1:4.33-1), conflicts with and replaces its Debian counterpart"
  for d in "$lib" "$dev" "$lev"; do dpkg-deb -f "$d" Package Provides Conflicts Replaces; done |
    comment
fi

want_lib="usr/lib/$ma/libev.so.4 usr/lib/$ma/libev.so.4.0.0 usr/share/doc/libev4-evring/changelog.gz usr/share/doc/libev4-evring/copyright usr/share/lintian/overrides/libev4-evring usr/share/man/man7/evring.7.gz "
want_dev="usr/include/ev++.h usr/include/ev.h usr/include/evring.h usr/lib/$ma/libev.a usr/lib/$ma/libev.so usr/lib/$ma/pkgconfig/libev.pc usr/share/doc/libev-evring-dev/changelog.gz usr/share/doc/libev-evring-dev/copyright usr/share/man/man3/evring.3.gz "
want_lev="usr/include/event.h usr/share/doc/libev-evring-libevent-dev/changelog.gz usr/share/doc/libev-evring-libevent-dev/copyright "
if [ "$(files "$lib")" = "$want_lib" ] && [ "$(files "$dev")" = "$want_dev" ] &&
   [ "$(files "$lev")" = "$want_lev" ]; then
  ok "the files: library + links at Debian's path, headers, libev.a, libev.pc, man pages, copyright"
else
  not_ok "the packages hold the expected files"
  for d in "$lib" "$dev" "$lev"; do echo "$(basename "$d"): $(files "$d")"; done | comment
fi

dpkg-deb -x "$lib" "$tmp/lib"
dpkg-deb -e "$lib" "$tmp/lib-control"
so=$tmp/lib/usr/lib/$ma/libev.so.4.0.0
# Built as Debian builds libev4 (dpkg-buildflags): stack protector, _FORTIFY_SOURCE's checked
# calls, read-only relocations bound at load; stripped of debugging sections, build id kept.
imports=$(nm -D --undefined-only "$so" | awk '{ print $2 }')
if echo "$imports" | grep -q '^__stack_chk_fail' && echo "$imports" | grep -q '^__[a-z]*_chk@' &&
   readelf -lW "$so" | grep -q GNU_RELRO && readelf -dW "$so" | grep -q 'BIND_NOW' &&
   readelf -n "$so" | grep -q 'Build ID:' && ! readelf -S "$so" | grep -q '\.debug_info'; then
  ok "the packaged library is hardened (stack protector, fortify, relro, now) and stripped"
else
  not_ok "the packaged library is hardened (stack protector, fortify, relro, now) and stripped"
  { echo "$imports" | grep '_chk'; readelf -lW "$so" | grep RELRO; readelf -dW "$so" | grep FLAGS; } |
    comment
fi

# DEBIAN/symbols: every exported symbol, libev's at Debian's minimum version, evring_* with
# the libev4-evring dependency template.
exported=$(nm -D --defined-only "$so" | awk '{ print $3 }' | sort)
listed=$(awk '/^ / { sub(/@Base$/, "", $1); print $1 }' "$tmp/lib-control/symbols" | sort)
bad=$(awk '/^ evring_/ && $3 != 1 { print } /^ ev[^r]/ && NF != 2 { print }' \
  "$tmp/lib-control/symbols")
if [ "$exported" = "$listed" ] && [ -z "$bad" ] &&
   grep -q '^ ev_run@Base 1:4.04$' "$tmp/lib-control/symbols" &&
   grep -qx 'activate-noawait ldconfig' "$tmp/lib-control/triggers"; then
  ok "DEBIAN/symbols lists every exported symbol; the ldconfig trigger is set"
else
  not_ok "DEBIAN/symbols lists every exported symbol; the ldconfig trigger is set"
  echo "$bad" | comment
fi

# Every libev4 dependency of Debian 12's dependents that apt knows is met by the Provides.
if command -v apt-cache >/dev/null 2>&1 && apt-cache show libev4 >/dev/null 2>&1; then
  unmet=
  # One apt-cache call for all dependents: each call costs about a second.
  apt-cache show $(apt-cache rdepends libev4 2>/dev/null | tail -n +3 | sort -u) 2>/dev/null |
    awk '/^Package:/ { p = $2 } /^(Pre-)?Depends:/ { n = split($0, d, ","); for (i = 1; i <= n; i++)
           if (match(d[i], /libev4 \([<>=]+ [^)]*\)/)) print p, substr(d[i], RSTART, RLENGTH) }' |
    sort -u >"$tmp/deps"
  while read -r p _ op ver; do
    ver=${ver%)}
    op=$(echo "$op" | tr -d '(')
    case "$op" in '>=') o=ge ;; '<=') o=le ;; '=') o=eq ;; '<<') o=lt ;; '>>') o=gt ;; esac
    dpkg --compare-versions 1:4.33-1 "$o" "$ver" || unmet="$unmet $p($op $ver)"
  done <"$tmp/deps"
  echo "# $(wc -l <"$tmp/deps") versioned libev4 dependencies of $(cut -d' ' -f1 "$tmp/deps" | sort -u | wc -l) packages"
  if [ -z "$unmet" ]; then
    ok "Provides: libev4 (= 1:4.33-1) meets every versioned libev4 dependency apt knows"
  else
    not_ok "Provides: libev4 (= 1:4.33-1) meets every versioned libev4 dependency; unmet:$unmet"
  fi
else
  ok "libev4's dependents are met # SKIP apt does not know libev4"
fi

# apt would swap exactly libev4 (simulation only; needs libev4 installed).
if command -v apt-get >/dev/null 2>&1 &&
   [ "$(dpkg-query -W -f '${db:Status-Abbrev}' libev4 2>/dev/null | cut -c1-2)" = ii ]; then
  cp "$lib" "$tmp/"
  apt-get install -s "$tmp/$(basename "$lib")" >"$tmp/sim.log" 2>&1
  removed=$(awk '$1 == "Remv" { print $2 }' "$tmp/sim.log" | tr '\n' ' ')
  installed=$(awk '$1 == "Inst" { print $2 }' "$tmp/sim.log" | tr '\n' ' ')
  if [ "$removed" = "libev4 " ] && [ "$installed" = "libev4-evring " ]; then
    ok "apt-get install -s ./libev4-evring_*.deb removes libev4 and nothing else"
  else
    not_ok "apt-get install -s ./libev4-evring_*.deb removes libev4 and nothing else"
    grep -E '^(Remv|Inst)|^E:' "$tmp/sim.log" | comment
  fi
else
  ok "apt swaps only libev4 # SKIP libev4 not installed"
fi

if [ -s packaging/deb/copyright ] && grep -q '^License: MIT' packaging/deb/copyright &&
   gzip -dc "$tmp/lib/usr/share/man/man7/evring.7.gz" | cmp -s - man/evring.7; then
  ok "copyright (with liburing's MIT license) and man pages are packaged"
else
  not_ok "copyright (with liburing's MIT license) and man pages are packaged"
fi

# Debian's own package checker, pedantic: no error, warning, info or pedantic tag.
if command -v lintian >/dev/null 2>&1; then
  lintian --allow-root -I --pedantic "$lib" "$dev" "$lev" >"$tmp/lintian.log" 2>&1
  lintian_rc=$?
  tags=$(grep -E '^[EWIPX]: ' "$tmp/lintian.log")
  if [ "$lintian_rc" = 0 ] && [ -z "$tags" ]; then
    ok "lintian -I --pedantic reports no tag on the three packages"
  else
    not_ok "lintian -I --pedantic reports no tag on the three packages"
    { echo "lintian exit status $lintian_rc"; cat "$tmp/lintian.log"; } | comment
  fi
else
  ok "lintian reports nothing # SKIP lintian not installed (tools/setup-debian installs it)"
fi
exit $failed
