#!/bin/sh
# man.sh - the man pages render without groff warnings and keep up with the code: evring(3)
# names every function and macro evring.h declares, evring(7) every EVRING_* environment
# variable the library reads (TAP). Run by tests/run-one from the repository root.
set -u
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }

echo "1..4"
for page in man/evring.3 man/evring.7; do
  if ! command -v groff >/dev/null 2>&1; then
    ok "$page renders without warnings # SKIP groff not installed"
    continue
  fi
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  if [ -z "$warnings" ]; then
    ok "$page renders without warnings"
  else
    not_ok "$page renders without warnings"
    echo "$warnings" | comment
  fi
done

# Functions: "<type> evring_x(" at the start of a declaration; macros: "#define evring_x(".
api=$(grep -hoE '^([a-z].*[ *])?evring_[a-z_]+\(|^#define evring_[a-z_]+\(' include/evring.h |
      grep -oE 'evring_[a-z_]+' | sort -u)
missing=
for f in $api; do
  grep -q "^\.B[IR]* .*\b$f\b\|^$f\b\|[ ,]$f[ ,(]" man/evring.3 || missing="$missing $f"
done
if [ -z "$missing" ]; then
  ok "evring(3) documents all $(echo "$api" | wc -w) functions and macros of evring.h"
else
  not_ok "evring(3) documents every function and macro of evring.h; missing:$missing"
fi

vars=$(grep -rhoE '"EVRING_[A-Z_]+"' src | tr -d '"' | sort -u)
missing=
for v in $vars; do
  grep -q "$v" man/evring.7 || missing="$missing $v"
done
if [ -z "$missing" ]; then
  ok "evring(7) documents all $(echo "$vars" | wc -w) EVRING_* variables the library reads"
else
  not_ok "evring(7) documents every EVRING_* variable the library reads; missing:$missing"
fi
exit $failed
