#!/bin/sh
# faults.sh - the library under injected system-call failures (TAP, run by tests/run-one from
# the repository root; `make faults-long` runs the long matrix).
#
#   sh tests/faults.sh [--long] [--table FILE]
#
# A case is "BACKEND SYSCALL ERRNO N", N+ meaning the Nth call and all later ones, Nc the Nth
# call in each forked child only (the calls that renew kernel state after fork).
#
# Each case runs build/faults/workload (every watcher kind, tests/faults/workload.c) under
# build/faults/faultrun (tests/faults/faultrun.c): the Nth call of one system call in each
# process fails with one errno the kernel documents for it (or the Nth and all later ones),
# on one backend. Backends: select, poll, epoll, iouring (ring-driven epoll where the kernel
# has it) and iouring-poll (EVRING_IOURING_DISABLE=epoll_wait: per-fd polls). N runs over
# the first calls and the last call the program makes (counted in a run without a fault).
#
# make check (short): per backend and system call, the first documented errno at the first
# and the last call, the second from the first call on, and the first call in forked children
# for the calls that renew kernel state after fork. --long: every documented errno at every
# call up to EVRING_FAULTS_MAX_N (64) and the last, from the first call on for every
# non-transient errno, more RLIMIT_NOFILE cases, and behaviour programs of build/tests/ under
# the faults of the calls they reach (judged as described below the matrix).
#
# Each run is classified:
#   normal    every watcher fired, nothing reported (or the call was not reached)
#   error     EV_ERROR was delivered to a watcher
#   syserr    the syserr callback was called (a watcher may then stay silent, or the
#             library may abort or die of a pending signal afterwards: libev documents
#             "bad stuff (such as abort)" after a syserr callback returns)
#   fallback  ev_backend() changed (io_uring handed the loop to epoll), everything fired
#   noloop    ev_default_loop returned NULL (documented)
#   DEFECT    a hang (timeout), a crash (SIGSEGV, SIGBUS), an abort without the syserr
#             callback, a watcher that silently did not fire, any other exit
# plus the RLIMIT_NOFILE cases: every descriptor but K used up before the loop is created or
# after every watcher started (workload --nofile-before/--nofile-after K).
#
# One TAP test per (backend, system call) and per RLIMIT_NOFILE case; a defect is printed
# with the command that reproduces it. Defects known and reported (KNOWN below) are TAP TODO
# tests: they are listed but do not fail `make check` until they are fixed.
set -u

BUILD=${BUILD:-build}
FAULTRUN=$BUILD/faults/faultrun
WORKLOAD=$BUILD/faults/workload
LIMIT=${EVRING_FAULTS_TIMEOUT:-20}
long=0
table=
while [ $# -gt 0 ]; do
  case "$1" in
    --long) long=1 ;;
    --table) table=$2; shift ;;
    --case) shift; break ;;
    *) echo "usage: faults.sh [--long] [--table FILE]" >&2; exit 2 ;;
  esac
  shift
done

# backend config -> environment
backend_env() {
  case "$1" in
    iouring-poll) echo "EVRING_TEST_BACKEND=iouring EVRING_IOURING_DISABLE=epoll_wait" ;;
    *) echo "EVRING_TEST_BACKEND=$1" ;;
  esac
}

# The errnos each call's manual page documents (the long matrix) and the ones the short
# matrix of `make check` uses (first two words before the bar).
errnos() {
  case "$1" in
    io_uring_setup) echo "EMFILE ENOMEM | EFAULT EINVAL ENFILE EPERM ENOSYS" ;;
    io_uring_enter) echo "EBADR EINTR | EAGAIN EBADF EBADFD EBUSY EEXIST EFAULT EINVAL ENXIO EOPNOTSUPP ETIME" ;;
    io_uring_register) echo "ENOMEM EBUSY | EACCES EBADF EEXIST EFAULT EINVAL EMFILE ENXIO EOPNOTSUPP EPERM EINTR" ;;
    epoll_create1) echo "EMFILE ENOMEM | EINVAL ENFILE" ;;
    epoll_ctl) echo "ENOMEM ENOSPC | EBADF EEXIST EINVAL ELOOP ENOENT EPERM" ;;
    epoll_wait) echo "EINTR EBADF | EFAULT EINVAL" ;;
    eventfd2) echo "EMFILE ENOMEM | EINVAL ENFILE ENODEV" ;;
    signalfd4) echo "EMFILE ENOMEM | EBADF EINVAL ENFILE ENODEV" ;;
    inotify_init1) echo "EMFILE ENOMEM | EINVAL ENFILE" ;;
    inotify_add_watch) echo "ENOSPC EACCES | EBADF EEXIST EFAULT EINVAL ENAMETOOLONG ENOENT ENOMEM" ;;
    inotify_rm_watch) echo "EINVAL EBADF |" ;;
    timerfd_create) echo "EMFILE ENOMEM | EINVAL ENFILE ENODEV" ;;
    timerfd_settime) echo "ECANCELED EINVAL | EBADF EFAULT" ;;
    dup3) echo "EMFILE EBUSY | EBADF EINTR EINVAL" ;;
    mmap) echo "ENOMEM EAGAIN | EACCES EBADF EEXIST EINVAL ENFILE ENODEV EOVERFLOW EPERM ETXTBSY" ;;
    fcntl) echo "EBADF |" ;; # evring calls only F_GETFD, whose one documented error is EBADF
    pipe2) echo "EMFILE ENFILE | EFAULT EINVAL ENOPKG" ;;
    poll) echo "EINTR ENOMEM | EFAULT EINVAL" ;;
    pselect6) echo "EINTR ENOMEM | EBADF EINVAL" ;;
  esac
}

# The calls worth failing on each backend config (the embedded loop of the workload uses
# epoll on select and poll, and the io_uring probe runs on every backend).
syscalls_for() {
  common="eventfd2 signalfd4 inotify_init1 inotify_add_watch timerfd_create timerfd_settime epoll_create1 epoll_ctl epoll_wait dup3 pipe2"
  case "$1" in
    select) echo "$common pselect6 fcntl io_uring_setup" ;;
    poll) echo "$common poll fcntl io_uring_setup" ;;
    epoll) echo "$common io_uring_setup" ;;
    iouring|iouring-poll) echo "$common io_uring_setup io_uring_enter io_uring_register mmap fcntl" ;;
  esac
}

# Defects reported and not fixed yet: "backend:syscall:errno:N[+c]|detail" shell patterns ->
# name.
# A group whose first defect matches is a TAP TODO test: listed, but `make check` passes.
# Remove the line with the fix (prove then stops reporting the TODO as failing).
KNOWN='
select:pselect6:EBADF:*+|* select-ebadf-without-bad-fd: select answering EBADF while every watched fd is open is retried silently forever (as libev does)
*:event:epoll_create1:*|* event-null-base: event_init returned NULL and the program goes on with it (libevent API, libev crashes the same way)
'
known_defect() { # "BACKEND SYSCALL ERRNO N" DETAIL
  key="$(echo "$1" | tr ' ' :)|$2"
  echo "$KNOWN" | while read -r pat name; do
    [ -n "$pat" ] || continue
    # shellcheck disable=SC2254
    case "$key" in $pat) echo "$name"; break ;; esac
  done
}

# run_case BACKEND SYSCALL ERRNO N ALL: prints "BACKEND SYSCALL ERRNO N[+]|class|detail|command"
run_case() {
  b=$1 s=$2 e=$3 n=$4 all=$5
  env=$(backend_env "$b")
  allflag=
  [ "$all" = 1 ] && allflag=--all-after
  [ "$all" = 2 ] && allflag=--children
  cmd="$env $FAULTRUN --timeout $LIMIT $allflag $s $e $n -- $WORKLOAD"
  out=$(env $env "$FAULTRUN" --timeout "$LIMIT" $allflag "$s" "$e" "$n" -- "$WORKLOAD" 2>&1)
  rc=$?
  classify "$rc" "$out"
  echo "$b $s $e $n$([ "$all" = 1 ] && echo +)$([ "$all" = 2 ] && echo c)|$class|$detail|$cmd"
}

# classify RC OUTPUT: sets class and detail (one awk over the output: this runs per case).
classify() {
  r=$(printf '%s\n' "$2" | awk -v rc="$1" '
    /^faultrun: .* injected=/ { sub(/.*injected=/, ""); injected = $1 + 0; next }
    /^workload: syserr: / { if (!syserr++) { first = $0; sub(/^workload: syserr: /, "", first) } next }
    /^[a-z-]+: error/ { errors = errors $1 " "; next }
    /^[a-z-]+: (MISSING|CRASH)/ { missing = missing $1 $2 " "; next }
    /^backend: .* then / { fell = $0; sub(/^backend: /, "", fell); next }
    /^backend: requested iouring got epoll/ { fell = "io_uring unusable, epoll chosen"; next }
    /^setup: / { setup = $0; next }
    /^(faultrun|nofile|syserr|verdict|backend|[a-z-]+): / { next }
    { if (n++ < 2) other = other $0 " " }
    END {
      if (rc == 0) {
        if (errors != "") print "error|" errors
        else if (syserr) print "syserr|" first
        else if (fell != "") print "fallback|" fell
        else print "normal|" (injected ? "" : "not reached")
      } else if (rc == 3) print "noloop|ev_default_loop returned NULL"
      else if (rc == 2) print "setup|" setup
      else if (rc == 124) print "DEFECT|hang"
      else if (rc == 1) print "DEFECT|silent: " missing
      else if (rc == 134) {
        if (syserr) print "syserr|abort after the syserr callback"
        else print "DEFECT|abort without syserr: " other
      } else if (rc > 128) {
        sig = rc - 128
        # After a syserr report libev may "do bad stuff (such as abort)"; a crash stays a defect.
        if (syserr && sig != 4 && sig != 7 && sig != 8 && sig != 11) print "syserr|killed by signal " sig " after the syserr callback"
        else print "DEFECT|killed by signal " sig (syserr ? " after the syserr callback" : "")
      } else print "DEFECT|exit " rc
    }')
  class=${r%%|*}
  detail=${r#*|}
}

# How many calls of each system call one process of the workload makes without faults (the
# most): "SYSCALL M" lines, from one counting run per backend config.
calls_made() {
  env $(backend_env "$1") "$FAULTRUN" --timeout "$LIMIT" --count "$(echo $2 | tr ' ' ,)" -- "$WORKLOAD" 2>&1 >/dev/null |
    sed -n 's/^faultrun: count \([^ ]*\) most=\([0-9]*\).*/\1 \2/p'
}

if [ "$#" -gt 0 ]; then
  # --case BACKEND SYSCALL ERRNO N ALL (for xargs in the long matrix)
  run_case "$@"
  exit 0
fi

# A sanitizer build: a leak on an error path would turn a run's exit status into LSan's, and
# the classification is about how the loop behaves; leaks are for the behaviour tests.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS

if [ ! -x "$FAULTRUN" ] || [ ! -x "$WORKLOAD" ]; then
  echo "1..0 # SKIP $FAULTRUN or $WORKLOAD not built"
  exit 0
fi
# seccomp user notification needs Linux 5.5+ (CONTINUE) and may be forbidden in a container.
if ! "$FAULTRUN" pipe2 EIO 1000 -- true >/dev/null 2>&1; then
  echo "1..0 # SKIP seccomp user notification not available here"
  exit 0
fi
configs="select poll epoll"
if EVRING_TEST_BACKEND=iouring "$WORKLOAD" 2>/dev/null | grep -q '^backend: requested iouring got iouring'; then
  configs="$configs iouring iouring-poll"
fi

tmp=$(mktemp -d /tmp/evring-faults-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
# the workload's files go there too (a crashed run leaves its stat file)
TMPDIR=$tmp
export TMPDIR


# The plan: one line "BACKEND SYSCALL ERRNO N ALL" per run.
: > "$tmp/plan"
: > "$tmp/groups"
for b in $configs; do
  calls_made "$b" "$(syscalls_for "$b")" > "$tmp/counts"
  for s in $(syscalls_for "$b"); do
    most=$(awk -v s="$s" '$1 == s { print $2 }' "$tmp/counts")
    echo "$b $s ${most:-0}" >> "$tmp/groups"
    [ "${most:-0}" -gt 0 ] || continue
    list=$(errnos "$s")
    short=${list%%|*}
    if [ "$long" = 1 ]; then
      # every documented errno at each of the first EVRING_FAULTS_MAX_N (64) calls and the
      # last, and from the first call on
      maxn=${EVRING_FAULTS_MAX_N:-64}
      for e in $short ${list#*|}; do
        i=1
        while [ $i -le "$most" ] && [ $i -le "$maxn" ]; do echo "$b $s $e $i 0"; i=$((i + 1)); done
        [ "$most" -gt "$maxn" ] && echo "$b $s $e $most 0"
        case "$e" in EINTR|EAGAIN|EBUSY|ETIME) ;; *) echo "$b $s $e 1 1" ;; esac
      done >> "$tmp/plan"
    else
      # the first errno at the first and the last call; the other from the first call on (a
      # kernel does not answer EINTR forever: then the first errno)
      set -- $short
      echo "$b $s $1 1 0" >> "$tmp/plan"
      [ "$most" -gt 1 ] && echo "$b $s $1 $most 0" >> "$tmp/plan"
      e=${2:-$1}
      case "$e" in EINTR|EAGAIN|EBUSY|ETIME) e=$1 ;; esac
      echo "$b $s $e 1 1" >> "$tmp/plan"
    fi
    # the calls that renew kernel state after fork: fail them in the forked child only
    case "$s" in
      epoll_create1|dup3|io_uring_setup|eventfd2|inotify_init1|timerfd_create)
        set -- $short
        echo "$b $s $1 1 2" >> "$tmp/plan" ;;
    esac
  done
done

# Answers a backend treats specially, in the short matrix too: EPERM from epoll_ctl means "a
# file epoll cannot poll" (always ready), which for one of the loop's own descriptors would
# make it spin (the 3rd epoll_ctl of the workload is for such a descriptor).
case " $configs " in *" epoll "*) echo "epoll epoll_ctl EPERM 3 0" >> "$tmp/plan" ;; esac

jobs=1
[ "$long" = 1 ] && jobs=${EVRING_FAULTS_JOBS:-2}
xargs -P "$jobs" -L 1 sh "$0" --case < "$tmp/plan" > "$tmp/results" 2>/dev/null

# RLIMIT_NOFILE: every descriptor but K used up, before loop creation or after the start.
nofile_left="0 1 2"
[ "$long" = 1 ] && nofile_left="0 1 2 3 4 5 6"
for b in $configs; do
  for when in before after; do
    for k in $nofile_left; do
      env=$(backend_env "$b")
      out=$(env $env timeout -k 5 "$LIMIT" "$WORKLOAD" --nofile-$when $k 2>&1)
      rc=$?
      classify "$rc" "$out"
      echo "$b nofile-$when $k -|$class|$detail|$env $WORKLOAD --nofile-$when $k" >> "$tmp/nofile"
    done
  done
done 2>/dev/null

# Long matrix: behaviour test programs under the faults of the calls they reach through the
# library. Judged: exit 0 normal; "(libev)" on stderr (the default syserr path: message,
# abort) syserr; a crash, a hang or an abort without it DEFECT. A failed assertion is listed as
# test-fail and judged by hand: under a fault many tests see a documented fallback they assert
# against (no inotify, no signalfd, another backend).
: > "$tmp/programs"
if [ "$long" = 1 ]; then
  pcalls="eventfd2 signalfd4 inotify_init1 inotify_add_watch timerfd_create timerfd_settime epoll_create1 dup3"
  for b in epoll iouring; do
    for p in watchers timer signal stat child fork loop io event; do
      [ -x "$BUILD/tests/$p" ] || continue
      env $(backend_env "$b") "$FAULTRUN" --timeout 120 --count "$(echo $pcalls | tr ' ' ,)" -- "$BUILD/tests/$p" 2>&1 >/dev/null |
        sed -n 's/^faultrun: count \([^ ]*\) most=\([1-9][0-9]*\).*/\1/p' > "$tmp/pc"
      for s in $(cat "$tmp/pc"); do
        e=$(errnos "$s"); e=${e%% *}
        for a in "" --all-after; do
          cmd="$(backend_env "$b") $FAULTRUN --timeout 120 $a $s $e 1 -- $BUILD/tests/$p"
          out=$(env $(backend_env "$b") "$FAULTRUN" --timeout 120 $a "$s" "$e" 1 -- "$BUILD/tests/$p" 2>&1)
          rc=$?
          if echo "$out" | grep -q 'exception'; then class=DEFECT; detail="crash: $(echo "$out" | grep -m1 exception)"
          elif [ $rc = 0 ]; then class=normal; detail=
          elif [ $rc = 124 ]; then class=DEFECT; detail=hang
          elif echo "$out" | grep -q '^(libev)'; then class=syserr; detail=$(echo "$out" | grep -m1 '^(libev)')
          elif echo "$out" | grep -q '^not ok'; then class=test-fail; detail="$(echo "$out" | grep -c '^not ok') failed: $(echo "$out" | grep '^not ok' | sed 's/^not ok [0-9]* - //' | head -n 3 | tr '\n' ' ')"
          elif [ $rc -gt 128 ]; then class=DEFECT; detail="killed by signal $((rc - 128))"
          else class=DEFECT; detail="exit $rc"; fi
          echo "$b $p:$s $e 1$([ -n "$a" ] && echo +)|$class|$detail|$cmd" >> "$tmp/programs"
        done
      done
    done
  done
fi

ngroups=$(wc -l < "$tmp/groups")
nprograms=$(wc -l < "$tmp/programs")
nnofile=$(wc -l < "$tmp/nofile")
echo "1..$((ngroups + nnofile + nprograms))"
t=0
report() { # NAME RESULTLINES
  t=$((t + 1))
  bad=$(echo "$2" | grep '|DEFECT|')
  summary=$(echo "$2" | cut -d'|' -f2 | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}')
  if [ -z "$bad" ]; then
    echo "ok $t - $1: $summary"
    return
  fi
  # TODO only when every defect of the group is a known one
  todo=
  names=$(echo "$bad" | while IFS='|' read -r c rest; do
    n=$(known_defect "$c" "$rest"); echo "${n:-UNKNOWN}" | cut -d: -f1; done | sort -u)
  case "$names" in
    *UNKNOWN*) ;;
    *) todo=" # TODO known defect: $(echo "$names" | tr '\n' ' ')" ;;
  esac
  echo "not ok $t - $1: $summary$todo"
  echo "$bad" | while IFS='|' read -r c cl d cmd; do
    echo "#   $c: $d"
    echo "#     $cmd"
  done
}
while read -r b s most; do
  if [ "$most" = 0 ]; then
    t=$((t + 1))
    echo "ok $t - $b $s: never called"
    continue
  fi
  report "$b $s (errnos x N of $most calls)" "$(grep "^$b $s " "$tmp/results")"
done < "$tmp/groups"
while read -r line; do
  report "$(echo "$line" | cut -d'|' -f1 | sed 's/ -$//')" "$line"
done < "$tmp/nofile"

while read -r line; do
  report "$(echo "$line" | cut -d'|' -f1)" "$line"
done < "$tmp/programs"

if [ -n "$table" ]; then
  { echo "# backend syscall errno N(+ = and later) | outcome | detail | command"
    sort "$tmp/results" "$tmp/nofile" "$tmp/programs"; } > "$table"
fi
