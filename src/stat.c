/* stat.c - ev_stat: watching a path for attribute changes.
 *
 * Every watcher polls with an internal timer; where inotify works the kernel tells us about
 * changes instead, and on filesystems known to report every change through inotify the
 * polling timer is not started at all. A path that does not exist yet is watched through the
 * nearest existing parent directory. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_INTERVAL 5.0074891  /* odd values keep watchers from firing in lockstep */
#define MIN_INTERVAL 0.1074891
#define REMOTE_INTERVAL 30.1074891  /* inotify may miss changes made elsewhere: poll slowly */
#define WD_UNSET -2                 /* inotify not used for this watcher */
#define WD_FAILED -1                /* inotify could not watch the path or a parent */

#define INOTIFY_MASK                                                                               \
  (IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_CREATE |            \
   IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DONT_FOLLOW | IN_MASK_ADD)

void ev_stat_stat(struct ev_loop *loop, ev_stat *w)
{
  (void)loop;
  /* A path that cannot be stat'ed keeps its last attributes, only st_nlink becomes 0 (as in
   * libev); an existing one always has st_nlink >= 1. */
  ev_statdata now;
  if (lstat(w->path, &now) < 0) {
    w->attr.st_nlink = 0;
    return;
  }
  w->attr = now;
  if (!w->attr.st_nlink)
    w->attr.st_nlink = 1;
}

static int stat_differs(const ev_statdata *a, const ev_statdata *b)
{
  return a->st_dev != b->st_dev || a->st_ino != b->st_ino || a->st_mode != b->st_mode ||
         a->st_nlink != b->st_nlink || a->st_uid != b->st_uid || a->st_gid != b->st_gid ||
         a->st_rdev != b->st_rdev || a->st_size != b->st_size || a->st_atime != b->st_atime ||
         a->st_mtime != b->st_mtime || a->st_ctime != b->st_ctime;
}

static void stat_check(struct ev_loop *loop, ev_stat *w)
{
  ev_statdata before = w->attr;
  ev_stat_stat(loop, w);
  if (stat_differs(&before, &w->attr)) {
    w->prev = before;
    ev_feed_event(loop, w, EV_STAT);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* inotify */

static int fs_reports_all_changes(const char *path)
{
  /* Local filesystems: every change goes through this kernel, so inotify sees it. */
  static const long local[] = {
    0xEF53,     /* ext2/3/4 */
    0x9123683E, /* btrfs */
    0x58465342, /* xfs */
    0x01021994, /* tmpfs */
    0x3153464a, /* jfs */
    0x52654973, /* reiserfs */
    0x2FC12FC1, /* zfs */
    0xF2F52010, /* f2fs */
    0x794c7630, /* overlayfs */
  };
  struct statfs sfs;
  if (statfs(path, &sfs) < 0)
    return 0;
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
    if ((long)sfs.f_type == local[i])
      return 1;
  return 0;
}

static int wd_in_use(struct ev_loop *loop, int wd, ev_stat *except)
{
  for (int i = 0; i < loop->stat_watches.n; i++) {
    ev_stat *o = (ev_stat *)loop->stat_watches.v[i];
    if (o != except && o->wd == wd)
      return 1;
  }
  return 0;
}

static void inotify_forget(struct ev_loop *loop, ev_stat *w)
{
  if (w->wd >= 0 && !wd_in_use(loop, w->wd, w))
    inotify_rm_watch(loop->inotify_fd, w->wd);
  w->wd = WD_UNSET;
}

static void inotify_cb(struct ev_loop *loop, ev_io *io, int revents);

static int inotify_ready(struct ev_loop *loop)
{
  if (loop->flags & EVFLAG_NOINOTIFY)
    return 0;
  if (loop->inotify_fd >= 0)
    return 1;
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0)
    return 0;
  loop->inotify_fd = fd;
  ev_io_init(&loop->inotify_w, inotify_cb, fd, EV_READ);
  ev_set_priority(&loop->inotify_w, EV_MAXPRI);
  ev__io_start_internal(loop, &loop->inotify_w);
  return 1;
}

/* Watch the path itself; if it cannot be watched (missing, not accessible), watch the nearest
 * parent directory that can, below "/", so that its creation is noticed. Returns 1 when the
 * path itself is watched. */
static int inotify_watch(struct ev_loop *loop, ev_stat *w)
{
  w->wd = inotify_add_watch(loop->inotify_fd, w->path, INOTIFY_MASK);
  if (w->wd >= 0)
    return 1;

  char dir[4096];
  size_t len = strlen(w->path);
  if (len >= sizeof dir || (errno != ENOENT && errno != EACCES))
    return 0;
  memcpy(dir, w->path, len + 1);
  do {
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
      break;
    *slash = 0;
    w->wd = inotify_add_watch(loop->inotify_fd, dir, INOTIFY_MASK);
  } while (w->wd < 0 && (errno == ENOENT || errno == EACCES));
  if (w->wd < 0)
    w->wd = WD_FAILED;
  return 0;
}

/* (Re)start the polling timer with the given period; 0 stops it. The timer never holds a
 * reference on the loop: the ev_stat watcher does. */
static void stat_poll_every(struct ev_loop *loop, ev_stat *w, ev_tstamp period)
{
  if (w->timer.active)
    ev_ref(loop);
  w->timer.repeat = period;
  ev_timer_again(loop, &w->timer);
  if (w->timer.active)
    ev_unref(loop);
}

/* Decide how a watcher learns about changes: inotify on the path (no polling on local
 * filesystems, slow polling elsewhere), or polling (parent directory watched, or no inotify). */
static void stat_arm(struct ev_loop *loop, ev_stat *w)
{
  ev_tstamp period = w->interval != 0. ? w->interval : DEFAULT_INTERVAL;
  if (inotify_ready(loop) && inotify_watch(loop, w)) {
    if (fs_reports_all_changes(w->path))
      period = 0.;
    else if (w->interval == 0.)
      period = REMOTE_INTERVAL;
  }
  stat_poll_every(loop, w, period);
}

static void inotify_cb(struct ev_loop *loop, ev_io *io, int revents)
{
  (void)io;
  (void)revents;
  char buf[sizeof(struct inotify_event) * 64 + 4096] __attribute__((aligned(8)));
  for (;;) {
    loop->stats.sys_other++;
    ssize_t r = read(loop->inotify_fd, buf, sizeof buf);
    if (r <= 0)
      break;
    for (ssize_t off = 0; off < r;) {
      struct inotify_event *ev = (struct inotify_event *)(buf + off);
      off += (ssize_t)(sizeof *ev + ev->len);
      for (int i = loop->stat_watches.n; i--;) {
        ev_stat *w = (ev_stat *)loop->stat_watches.v[i];
        if (w->wd != ev->wd && !(ev->mask & IN_Q_OVERFLOW))
          continue;
        /* The path may have appeared, disappeared or been replaced: watch it anew. */
        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_CREATE | IN_MOVED_TO |
                        IN_DELETE | IN_MOVED_FROM)) {
          if (ev->mask & IN_IGNORED)
            w->wd = WD_UNSET;
          else
            inotify_forget(loop, w);
          stat_arm(loop, w);
        }
        stat_check(loop, w);
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */

static void stat_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
  (void)revents;
  ev_stat *w = EV__CONTAINER_OF(t, ev_stat, timer);
  stat_check(loop, w);
}

void ev_stat_start(struct ev_loop *loop, ev_stat *w)
{
  if (w->active)
    return;

  ev_stat_stat(loop, w);
  if (w->interval != 0. && w->interval < MIN_INTERVAL)
    w->interval = MIN_INTERVAL;

  ev_timer_init(&w->timer, stat_timer_cb, 0., w->interval != 0. ? w->interval : DEFAULT_INTERVAL);
  ev_set_priority(&w->timer, ev_priority(w));

  w->wd = WD_UNSET;
  stat_arm(loop, w);

  /* Remembered for inotify dispatch; `active` stays 1 like every list-type watcher. */
  EV__GROW(loop->stat_watches.v, loop->stat_watches.cap, loop->stat_watches.n + 1);
  loop->stat_watches.v[loop->stat_watches.n++] = (ev_watcher *)w;
  ev__start(loop, (ev_watcher *)w, 1);
}

void ev_stat_stop(struct ev_loop *loop, ev_stat *w)
{
  ev__clear_pending(loop, (ev_watcher *)w);
  if (!w->active)
    return;

  for (int i = 0; i < loop->stat_watches.n; i++)
    if (loop->stat_watches.v[i] == (ev_watcher *)w) {
      loop->stat_watches.v[i] = loop->stat_watches.v[--loop->stat_watches.n];
      break;
    }

  /* Only a real watch descriptor is released and reset; -1 (nothing watchable) stays. */
  if (loop->inotify_fd >= 0 && w->wd >= 0)
    inotify_forget(loop, w);

  if (w->timer.active) {
    ev_ref(loop);
    ev_timer_stop(loop, &w->timer);
  }
  ev__stop(loop, (ev_watcher *)w);
}

void ev__stat_fork(struct ev_loop *loop)
{
  /* The inotify instance is shared with the parent: make a fresh one and watch again. */
  if (loop->inotify_fd < 0)
    return;
  ev__io_stop_internal(loop, &loop->inotify_w);
  close(loop->inotify_fd);
  loop->inotify_fd = -1;
  for (int i = 0; i < loop->stat_watches.n; i++) {
    ev_stat *w = (ev_stat *)loop->stat_watches.v[i];
    w->wd = WD_UNSET;
    stat_arm(loop, w);
  }
}

void ev__stat_loop_destroy(struct ev_loop *loop)
{
  if (loop->inotify_fd >= 0) {
    ev__io_stop_internal(loop, &loop->inotify_w);
    close(loop->inotify_fd);
    loop->inotify_fd = -1;
  }
}
