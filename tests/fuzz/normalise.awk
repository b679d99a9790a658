# normalise.awk - puts an evfuzz trace into the form in which two libraries are compared.
#
# The only normalisation: within a run of consecutive callback lines ("cb d<depth>
# i<iteration> p<priority> <watcher> ...") that share depth, iteration, priority and "is a
# check watcher run by the check phase" (EV_CHECK in its revents: a check watcher fed other
# events with ev_feed_event is an ordinary pending watcher), the lines are sorted. libev documents that watchers of higher
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
  # a check watcher run by the check phase (revents has EV_CHECK, 0x8000); one that was fed
  # other events is an ordinary pending watcher of its priority
  chk = $5 ~ /^(ck|BRK)/ && $6 ~ /^r[0-9a-f]*[89a-f][0-9a-f][0-9a-f][0-9a-f]$/
  k = $2 " " $3 " " $4 " " (chk ? "check" : "other")
  if (k != key) flush()
  key = k; buf[++n] = $0
  next
}
{ flush(); print }
END { flush() }
