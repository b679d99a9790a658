/* child.c - ev_child: process status changes, on the default loop only.
 *
 * The default loop watches SIGCHLD with an internal, unreferenced signal watcher installed
 * by ev_default_loop itself (gevent saves and re-installs that handler). On SIGCHLD every
 * child with news is reaped, watched or not, one per callback, and handed to the matching
 * watchers. */
#include "internal.h"

#include <sys/wait.h>

static ev_watcher_list *children;

static void child_reap(struct ev_loop *loop, int pid, int status)
{
  int traced = WIFSTOPPED(status) || WIFCONTINUED(status);
  for (ev_watcher_list *wl = children; wl; wl = wl->next) {
    ev_child *w = (ev_child *)wl;
    if ((w->pid == pid || !w->pid) && (!traced || (w->flags & 1))) {
      ev_set_priority(w, EV_MAXPRI); /* libev delivers child status at the highest priority */
      w->rpid = pid;
      w->rstatus = status;
      ev_feed_event(loop, w, EV_CHILD);
    }
  }
}

/* One child per call: its status must reach the watchers before the next child's status
 * overwrites their rpid/rstatus. While a child was found the callback queues itself again;
 * both run at EV_MAXPRI and the queue is last-in first-out, so the watchers fed here run
 * before the next call reaps the next child (the order libev delivers statuses in). */
static void childev_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
  (void)revents;
  int status;
  loop->stats.sys_other++;
  pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
  if (pid <= 0)
    return;
  ev_feed_event(loop, w, EV_SIGNAL);
  child_reap(loop, pid, status);
}

void ev__child_init_default(struct ev_loop *loop)
{
  ev_signal_init(&loop->childev, childev_cb, SIGCHLD);
  ev_set_priority(&loop->childev, EV_MAXPRI);
  ev_signal_start(loop, &loop->childev);
  ev_unref(loop);
}

void ev__child_destroy_default(struct ev_loop *loop)
{
  if (loop->childev.active) {
    ev_ref(loop);
    ev_signal_stop(loop, &loop->childev);
  }
}

void ev_child_start(struct ev_loop *loop, ev_child *w)
{
  EV__REQUIRE(loop == ev_default_loop_ptr, "child watchers are only supported in the default loop");
  if (w->active)
    return;
  ev__start(loop, (ev_watcher *)w, 1);
  w->next = children;
  children = (ev_watcher_list *)w;
}

void ev_child_stop(struct ev_loop *loop, ev_child *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;
  ev_watcher_list **link = &children;
  while (*link && *link != (ev_watcher_list *)w)
    link = &(*link)->next;
  if (*link)
    *link = w->next;
  ev__stop(loop, (ev_watcher *)w);
}
