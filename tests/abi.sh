#!/bin/sh
# abi.sh - the built library is a drop-in libev.so.4 at the ELF level (TAP):
# SONAME, run-time dependencies, and the exported symbols: every one of Debian's libev 4.33
# (abi/symbols.txt, the project's contract) and beyond them only evring's own API (evring_*,
# include/evring.h).
set -u
BUILD=${BUILD:-build}
lib=$BUILD/libev.so.4
contract=abi/symbols.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..5"
n=0
check() { n=$((n + 1)); d=$1; shift; if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi; }

check "SONAME is libev.so.4" sh -c "readelf -d '$lib' | grep -q 'Library soname: \[libev.so.4\]'"
# (a sanitizer build also needs the sanitizer runtimes)
check "needs only libc.so.6 at run time" sh -c \
  "[ \"\$(readelf -d '$lib' | grep NEEDED | grep -o '\[.*\]' | grep -vE 'lib(a|ub)san|libm\.|libgcc_s|libstdc')\" = '[libc.so.6]' ]"
check "ev_default_loop_ptr is an exported 8-byte object" sh -c \
  "readelf --dyn-syms -W '$lib' | awk '\$8 == \"ev_default_loop_ptr\" && \$4 == \"OBJECT\" && \$3 == 8' | grep -q ."
if [ -r "$contract" ]; then
  nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -v '^__odr_asan' | sort >"$tmp/ours"
  grep -v '^#' "$contract" | awk 'NF { print $1 }' | sort >"$tmp/theirs"
  missing=$(comm -13 "$tmp/ours" "$tmp/theirs")
  extra=$(comm -23 "$tmp/ours" "$tmp/theirs" | grep -v '^evring_')
  if [ -z "$missing" ]; then
    echo "ok 4 - exports all $(wc -l <"$tmp/theirs") symbols of $contract"
  else
    echo "not ok 4 - symbols of $contract not exported:"
    printf '%s\n' "$missing" | sed 's/^/# /'
  fi
  if [ -z "$extra" ]; then
    echo "ok 5 - exports nothing else but evring_* ($(comm -23 "$tmp/ours" "$tmp/theirs" | wc -l) of them)"
  else
    echo "not ok 5 - exports symbols that are neither libev's nor evring_*:"
    printf '%s\n' "$extra" | sed 's/^/# /'
  fi
else
  echo "not ok 4 - $contract not found"
  echo "not ok 5 - $contract not found"
fi
