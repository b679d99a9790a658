# normalise.awk - puts an evfuzz trace into the form in which two libraries are compared.
#
# The only normalisation: within a run of consecutive callback lines ("cb d<depth>
# i<iteration> p<priority> <watcher> ...") that share depth, iteration, priority and
# "is a check watcher", the lines are sorted. libev documents that watchers of higher
# priority are invoked first and that check watchers run before the other watchers of the
# same or lower priority in that iteration; the order among the remaining watchers of one
# priority within one pass over the pending queue is left unspecified (Debian's libev happens
# to invoke them in reverse order of queueing). Everything else is compared as printed:
# which callbacks run, their revents and actions, the iteration and depth they see, the
# pending counts, every watcher's active/pending state after every step.
function flush(   i, j, t) {
  for (i = 2; i <= n; i++)          # insertion sort: groups are small
    for (j = i; j > 1 && buf[j - 1] > buf[j]; j--) { t = buf[j]; buf[j] = buf[j - 1]; buf[j - 1] = t }
  for (i = 1; i <= n; i++) print buf[i]
  n = 0; key = ""
}
$1 == "cb" {
  k = $2 " " $3 " " $4 " " ($5 ~ /^(ck|BRK)/ ? "check" : "other")
  if (k != key) flush()
  key = k; buf[++n] = $0
  next
}
{ flush(); print }
END { flush() }
