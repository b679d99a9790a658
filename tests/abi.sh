#!/bin/sh
# abi.sh - the built library is a drop-in libev.so.4 at the ELF level (TAP):
# SONAME, run-time dependencies, and exactly the exported symbols of Debian's libev 4.33
# (../shared/abi/symbols.txt, the project's contract) plus evring.h's evring_* functions.
set -u
BUILD=${BUILD:-build}
lib=$BUILD/libev.so.4
contract=../shared/abi/symbols.txt
echo "1..4"
n=0
check() { n=$((n + 1)); d=$1; shift; if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi; }

check "SONAME is libev.so.4" sh -c "readelf -d '$lib' | grep -q 'Library soname: \[libev.so.4\]'"
# (a sanitizer build also needs the sanitizer runtimes)
check "needs only libc.so.6 at run time" sh -c \
  "[ \"\$(readelf -d '$lib' | grep NEEDED | grep -o '\[.*\]' | grep -vE 'lib(a|ub)san|libm\.|libgcc_s|libstdc')\" = '[libc.so.6]' ]"
check "ev_default_loop_ptr is an exported 8-byte object" sh -c \
  "readelf --dyn-syms -W '$lib' | awk '\$8 == \"ev_default_loop_ptr\" && \$4 == \"OBJECT\" && \$3 == 8' | grep -q ."
if [ -r "$contract" ]; then
  # Besides libev's: evring.h's own functions, each declared in include/evring.h.
  extra=$(nm -D --defined-only "$lib" | awk '$3 ~ /^evring_/ { print $3 }')
  undeclared=
  for f in $extra; do
    grep -q "[ *]$f(" include/evring.h || undeclared="$undeclared $f"
  done
  ours=$(nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -v '^__odr_asan' | grep -v '^evring_' | sort)
  theirs=$(grep -v '^#' "$contract" | awk 'NF { print $1 }' | sort)
  if [ -n "$undeclared" ]; then
    echo "not ok 4 - exported but not declared in include/evring.h:$undeclared"
  elif [ "$ours" = "$theirs" ]; then
    echo "ok 4 - exports exactly the $(echo "$theirs" | wc -l) symbols of $contract, and evring.h's evring_*"
  else
    echo "not ok 4 - exported symbols differ from $contract"
    printf '%s\n' "$theirs" >/tmp/evring-abi-theirs.$$
    printf '%s\n' "$ours" | diff /tmp/evring-abi-theirs.$$ - | sed 's/^/# /'
    rm -f /tmp/evring-abi-theirs.$$
  fi
else
  echo "ok 4 # SKIP $contract not found"
fi
