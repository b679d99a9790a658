#!/bin/sh
# cxx.sh - the C++ API (include/ev++.h) compiles and behaves like libev's (TAP).
# Builds tests/cxx/api.cc against evring's headers in C++98/11/17 with -Wall -Wextra -Werror,
# runs it against $BUILD/libev.so.4, and - when Debian's /usr/include/ev++.h is installed -
# builds the same client against Debian's headers (and Debian's ev++.h over evring's ev.h)
# and requires identical output.  tests/cxx/extras.cc covers evring-only additions.
set -u
BUILD=${BUILD:-build}
CXX=${CXX:-g++}
lib=$BUILD/libev.so.4
sys_evxx=/usr/include/ev++.h

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "1..0 # SKIP $CXX not found"
  exit 0
fi
if [ ! -r "$lib" ]; then
  echo "1..0 # SKIP $lib not built"
  exit 0
fi

out=$BUILD/tests/cxx
rm -rf "$out" && mkdir -p "$out" || exit 1
libdir=$(cd "$BUILD" && pwd)
repo=$(pwd)

# A sanitizer build of the library needs the clients built with the same runtime.
san=
readelf -d "$lib" 2>/dev/null | grep -q 'libasan' && san="$san -fsanitize=address"
readelf -d "$lib" 2>/dev/null | grep -q 'libubsan' && san="$san -fsanitize=undefined"
[ -n "$san" ] && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

WFLAGS="-Wall -Wextra -Werror"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; [ -s "$2" ] && sed 's/^/# /' "$2" | head -40; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# build <name> <std> <source> <include flags...>
build() {
  b_name=$1 b_std=$2 b_src=$3
  shift 3
  # shellcheck disable=SC2086
  if $CXX -std="$b_std" $WFLAGS $san "$@" -o "$out/$b_name" "$b_src" -L"$libdir" -lev \
    >"$out/$b_name.log" 2>&1; then
    ok "compile $b_src ($b_std, $b_name)"
  else
    notok "compile $b_src ($b_std, $b_name)" "$out/$b_name.log"
  fi
}

# run <name>: output in $out/<name>.out; fails on a non-zero exit or a missing final "done"
run() {
  [ -x "$out/$1" ] || return 1
  LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout -k 2 10 "$out/$1" \
    </dev/null >"$out/$1.out" 2>"$out/$1.err" || return 1
  [ "$(tail -n 1 "$out/$1.out")" = done ]
}

# run_same <name> <reference>: runs <name> and compares its output with <reference>'s
run_same() {
  if ! run "$1"; then
    cat "$out/$1.err" >>"$out/$1.out" 2>/dev/null
    notok "run $1" "$out/$1.out"
  elif ! cmp -s "$out/$1.out" "$out/$2.out"; then
    diff "$out/$2.out" "$out/$1.out" >"$out/$1.diff"
    notok "run $1: output differs from $2" "$out/$1.diff"
  else
    ok "run $1: same output as $2"
  fi
}

echo "1..14"

# 1-3: evring's header, three language levels
for std in c++11 c++98 c++17; do
  build "evring-$std" "$std" tests/cxx/api.cc -I"$repo/include"
done

# 4-6: runs; C++11 is the reference
if run evring-c++11; then
  ok "run evring-c++11 ($(wc -l <"$out/evring-c++11.out") lines)"
else
  cat "$out/evring-c++11.err" >>"$out/evring-c++11.out" 2>/dev/null
  notok "run evring-c++11" "$out/evring-c++11.out"
fi
run_same evring-c++98 evring-c++11
run_same evring-c++17 evring-c++11

# 7-8: evring-only extensions (self-checking)
build extras c++11 tests/cxx/extras.cc -I"$repo/include"
if [ -x "$out/extras" ] && LD_LIBRARY_PATH=$libdir timeout -k 2 10 "$out/extras" </dev/null \
  >"$out/extras.out" 2>&1; then
  ok "run extras"
else
  notok "run extras" "$out/extras.out"
fi

# 9-14: the same client against Debian's C++ header (libev-dev), as the reference API.
# Debian's header does not compile as C++98 with -Werror (its own what () override), so
# C++11 and C++17 are compared.
if [ -r "$sys_evxx" ] && [ -r "$(dirname "$sys_evxx")/ev.h" ]; then
  # Debian's ev++.h + Debian's ev.h
  for std in c++11 c++17; do
    build "debian-$std" "$std" tests/cxx/api.cc -I"$(dirname "$sys_evxx")"
    run_same "debian-$std" evring-c++11
  done
  # Debian's ev++.h over evring's ev.h: our C header is enough for the real C++ wrapper
  # (-isystem, as under /usr/include: that header has unused parameters)
  mkdir -p "$out/mixed-inc"
  ln -sf "$sys_evxx" "$out/mixed-inc/ev++.h"
  ln -sf "$repo/include/ev.h" "$out/mixed-inc/ev.h"
  build mixed-c++17 c++17 tests/cxx/api.cc -isystem "$out/mixed-inc"
  run_same mixed-c++17 evring-c++11
else
  for s in 9 10 11 12 13 14; do skip "$sys_evxx not installed (package libev-dev)"; done
fi
