/* stat.c - ev_stat: lstat semantics, missing paths, change detection with prev/attr (size,
 * rename over, delete, creation), the interval rules, inotify vs polling (wd values, the
 * internal timer), ev_stat_stat, which watcher keeps the loop alive, polling speed.
 *
 * Every test works in its own directory under /tmp. */
#include "test.h"

#include <math.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

#define DEFAULT_POLL 5.0074891
#define MIN_INTERVAL 0.1074891

static char dir[64];
static char paths[4][128];

/* A fresh directory; paths[0..3] = dir/a, dir/b, dir/c, dir/d (none exists yet). */
static void make_dir(void)
{
  strcpy(dir, "/tmp/evring-stat.XXXXXX");
  assert_non_null(mkdtemp(dir));
  for (int i = 0; i < 4; i++)
    snprintf(paths[i], sizeof paths[i], "%s/%c", dir, 'a' + i);
}

static void remove_dir(void)
{
  if (!dir[0])
    return;
  for (int i = 0; i < 4; i++)
    unlink(paths[i]);
  rmdir(dir);
  dir[0] = 0;
}

/* Teardown: also removes the directory of a test that failed half-way. */
static int teardown_dir(void **state)
{
  remove_dir();
  return 0;
}

static void write_file(const char *path, const char *content)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

/* One write() at the end: the file grows in a single step. */
static void append_file(const char *path, const char *content)
{
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

static int ncalls, last_rev;
static void count_cb(struct ev_loop *l, ev_stat *w, int rev)
{
  ncalls++;
  last_rev = rev;
}

static int timed_out;
static void timeout_cb(struct ev_loop *l, ev_timer *w, int rev)
{
  timed_out = 1;
  ev_break(l, EVBREAK_ALL);
}

/* Run until ncalls reaches `want`, at most `limit` seconds. */
static void run_until_calls(struct ev_loop *l, int want, double limit)
{
  ev_timer guard;
  ev_timer_init(&guard, timeout_cb, limit, 0.);
  ev_timer_start(l, &guard);
  timed_out = 0;
  while (ncalls < want && !timed_out)
    ev_run(l, EVRUN_ONCE);
  ev_timer_stop(l, &guard);
  if (timed_out)
    fail_msg("no ev_stat callback within %.1f s", limit);
}

/* Is inotify usable and /tmp a filesystem whose changes all go through this kernel? */
static int local_tmp_with_inotify(const char **why)
{
  int fd = inotify_init1(IN_CLOEXEC);
  if (fd < 0) {
    *why = "inotify not available";
    return 0;
  }
  close(fd);
  struct statfs sfs;
  if (statfs("/tmp", &sfs) < 0) {
    *why = "statfs(/tmp) failed";
    return 0;
  }
  switch ((unsigned long)sfs.f_type) {
  case 0xEF53UL:     /* ext2/3/4 */
  case 0x01021994UL: /* tmpfs */
  case 0x9123683EUL: /* btrfs */
  case 0x58465342UL: /* xfs */
    return 1;
  }
  *why = "/tmp is not ext4/tmpfs/btrfs/xfs";
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* attributes                                                                                 */

static void lstat_reports_the_symlink_itself(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  assert_int_equal(symlink(paths[0], paths[1]), 0);
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[1], 0.);
  ev_stat_start(l, &w);
  assert_true(S_ISLNK(w.attr.st_mode));
  assert_int_equal(w.attr.st_size, (long)strlen(paths[0])); /* a link's size: its target */
  assert_int_equal(w.attr.st_nlink, 1);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void missing_path_has_nlink_0_and_its_creation_fires(void **state)
{
  make_dir();
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5); /* polling fallback fast enough for the guard */
  ev_stat_start(l, &w);
  assert_int_equal(w.attr.st_nlink, 0);
  write_file(paths[0], "hello");
  run_until_calls(l, 1, 5.);
  assert_int_equal(last_rev, EV_STAT);
  assert_int_equal(w.prev.st_nlink, 0);
  assert_int_equal(w.attr.st_nlink, 1);
  assert_true(S_ISREG(w.attr.st_mode));
  assert_int_equal(w.attr.st_size, 5);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void size_change_fires_with_prev_and_attr(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5);
  ev_stat_start(l, &w);
  assert_int_equal(w.attr.st_size, 5); /* start takes the first snapshot */
  ev_run(l, EVRUN_NOWAIT);
  assert_int_equal(ncalls, 0); /* no change, no callback */
  append_file(paths[0], " world");
  run_until_calls(l, 1, 5.);
  assert_int_equal(last_rev, EV_STAT);
  assert_int_equal(w.prev.st_size, 5);
  assert_int_equal(w.attr.st_size, 11);
  assert_int_equal(w.prev.st_ino, w.attr.st_ino);
  assert_true(ev_is_active(&w));
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void mode_change_fires(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  assert_int_equal(chmod(paths[0], 0644), 0);
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5);
  ev_stat_start(l, &w);
  assert_int_equal(chmod(paths[0], 0600), 0);
  run_until_calls(l, 1, 5.);
  assert_int_equal(w.prev.st_mode & 0777, 0644);
  assert_int_equal(w.attr.st_mode & 0777, 0600);
  assert_int_equal(w.attr.st_size, 5);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void rename_over_the_path_fires(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  write_file(paths[1], "other content");
  struct stat a, b;
  assert_int_equal(stat(paths[0], &a), 0);
  assert_int_equal(stat(paths[1], &b), 0);
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5);
  ev_stat_start(l, &w);
  assert_int_equal(rename(paths[1], paths[0]), 0);
  run_until_calls(l, 1, 5.);
  assert_int_equal(w.prev.st_ino, a.st_ino);
  assert_int_equal(w.attr.st_ino, b.st_ino);
  assert_int_equal(w.attr.st_size, 13);

  /* And the replacement is watched in turn. */
  append_file(paths[0], "!");
  run_until_calls(l, 2, 5.);
  assert_int_equal(w.prev.st_size, 13);
  assert_int_equal(w.attr.st_size, 14);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void delete_fires(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5);
  ev_stat_start(l, &w);
  assert_int_equal(unlink(paths[0]), 0);
  run_until_calls(l, 1, 5.);
  assert_int_equal(w.prev.st_nlink, 1);
  assert_int_equal(w.prev.st_size, 5);
  assert_int_equal(w.attr.st_nlink, 0);
  assert_true(ev_is_active(&w));

  /* Created again: fires again. */
  write_file(paths[0], "back");
  run_until_calls(l, 2, 5.);
  assert_int_equal(w.prev.st_nlink, 0);
  assert_int_equal(w.attr.st_nlink, 1);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

/* A path that disappears keeps its last attributes with st_nlink = 0 (libev changes only
 * st_nlink), so `prev` after the re-creation still describes the deleted file. */
static void deleted_file_keeps_its_last_attributes_with_nlink_0(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  ncalls = 0;
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.5);
  ev_stat_start(l, &w);
  ev_statdata before = w.attr;
  assert_int_equal(unlink(paths[0]), 0);
  run_until_calls(l, 1, 5.);
  assert_int_equal(w.attr.st_nlink, 0);
  assert_int_equal(w.attr.st_size, 5);
  assert_true(w.attr.st_ino == before.st_ino);
  assert_true(w.attr.st_dev == before.st_dev);
  assert_true(w.attr.st_mode == before.st_mode);
  assert_true(w.attr.st_mtime == before.st_mtime);

  write_file(paths[0], "again!");
  run_until_calls(l, 2, 5.);
  assert_int_equal(w.prev.st_nlink, 0);
  assert_int_equal(w.prev.st_size, 5);
  assert_true(w.prev.st_ino == before.st_ino);
  assert_true(S_ISREG(w.prev.st_mode));
  assert_int_equal(w.attr.st_nlink, 1);
  assert_int_equal(w.attr.st_size, 6);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void stat_stat_refreshes_attr_of_an_inactive_watcher(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_stat(l, &w);
  assert_false(ev_is_active(&w));
  assert_int_equal(w.attr.st_size, 5);
  assert_int_equal(w.attr.st_nlink, 1);
  append_file(paths[0], " world");
  ev_stat_stat(l, &w);
  assert_int_equal(w.attr.st_size, 11);
  unlink(paths[0]);
  ev_stat_stat(l, &w);
  assert_int_equal(w.attr.st_nlink, 0);
  ev_loop_destroy(l);
  remove_dir();
}

/* ------------------------------------------------------------------------------------------ */
/* intervals, inotify, polling                                                                */

static void interval_0_stays_0(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_start(l, &w);
  assert_true(w.interval == 0.);
  ev_stat_stop(l, &w);
  assert_true(w.interval == 0.);
  ev_loop_destroy(l);
  remove_dir();
}

static void interval_below_minimum_is_raised_to_0_1074891(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.01);
  assert_true(w.interval == 0.01); /* raised by start, not by set */
  ev_stat_start(l, &w);
  assert_near(w.interval, MIN_INTERVAL, 1e-9);
  ev_stat_stop(l, &w);
  assert_near(w.interval, MIN_INTERVAL, 1e-9); /* written back */
  ev_loop_destroy(l);
  remove_dir();
}

static void interval_2_5_is_kept(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 2.5);
  ev_stat_start(l, &w);
  assert_true(w.interval == 2.5);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void noinotify_keeps_wd_unset_and_polls_every_5_0074891(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(EVFLAG_NOINOTIFY);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_start(l, &w);
  assert_int_equal(w.wd, -2);
  assert_true(w.interval == 0.);
  assert_true(ev_is_active(&w.timer));
  assert_near(w.timer.repeat, DEFAULT_POLL, 1e-9);
  assert_near(ev_timer_remaining(l, &w.timer), DEFAULT_POLL, 0.5);
  ev_stat_stop(l, &w);
  assert_false(ev_is_active(&w.timer));

  /* A given interval is the polling period. */
  ev_stat_init(&w, count_cb, paths[0], 2.5);
  ev_stat_start(l, &w);
  assert_int_equal(w.wd, -2);
  assert_true(w.timer.repeat == 2.5);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void inotify_on_a_local_fs_needs_no_polling_timer(void **state)
{
  const char *why = NULL;
  if (!local_tmp_with_inotify(&why)) {
    printf("# skipped: %s\n", why);
    return;
  }
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_false(ev_is_active(&w.timer));
  assert_true(w.timer.repeat == 0.);
  ev_stat_stop(l, &w);

  /* Also with an explicit interval. */
  ev_stat_init(&w, count_cb, paths[0], 1.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_false(ev_is_active(&w.timer));
  assert_true(w.timer.repeat == 0.);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

static void missing_path_is_watched_through_its_directory_and_polled(void **state)
{
  const char *why = NULL;
  if (!local_tmp_with_inotify(&why)) {
    printf("# skipped: %s\n", why);
    return;
  }
  make_dir();
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  /* The directory is watched with inotify, and the path is polled as well. */
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_true(ev_is_active(&w.timer));
  assert_near(w.timer.repeat, DEFAULT_POLL, 1e-9);
  ev_stat_stop(l, &w);
  ev_stat_init(&w, count_cb, paths[0], 1.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_true(ev_is_active(&w.timer));
  assert_true(w.timer.repeat == 1.);
  ev_stat_stop(l, &w);
  assert_false(ev_is_active(&w.timer));
  ev_loop_destroy(l);
  remove_dir();
}

static void non_local_fs_is_polled_every_30_1074891_besides_inotify(void **state)
{
  int fd = inotify_init1(IN_CLOEXEC);
  if (fd < 0) {
    printf("# skipped: inotify not available\n");
    return;
  }
  close(fd);
  /* /proc is not a filesystem whose every change inotify reports. */
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, "/proc/self/status", 0.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_true(ev_is_active(&w.timer));
  assert_near(w.timer.repeat, 30.1074891, 1e-9);
  assert_true(w.interval == 0.);
  ev_stat_stop(l, &w);
  /* An explicit interval is used as given. */
  ev_stat_init(&w, count_cb, "/proc/self/status", 1.);
  ev_stat_start(l, &w);
  assert_true(w.wd >= 0);
  assert_true(ev_is_active(&w.timer));
  assert_true(w.timer.repeat == 1.);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
}

static void unwatchable_path_gets_wd_minus_1_and_polling(void **state)
{
  if (!local_tmp_with_inotify(&(const char *){ NULL })) {
    printf("# skipped: no inotify or /tmp not local\n");
    return;
  }
  /* Neither the path nor any directory above it but / exists. */
  char path[64];
  snprintf(path, sizeof path, "/evring-missing-%d/x", (int)getpid());
  struct stat st;
  assert_int_equal(lstat(path, &st), -1);
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, path, 0.);
  ev_stat_start(l, &w);
  assert_int_equal(w.attr.st_nlink, 0);
  assert_int_equal(w.wd, -1);
  assert_true(ev_is_active(&w.timer));
  assert_near(w.timer.repeat, DEFAULT_POLL, 1e-9);
  ev_stat_stop(l, &w);
  assert_int_equal(w.wd, -1); /* stop resets only a real watch descriptor to -2 */
  ev_loop_destroy(l);
}

static void wd_is_unset_after_init_and_after_stop(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  struct ev_loop *l = test_loop(0);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  assert_int_equal(w.wd, -2);
  ev_stat_start(l, &w);
  ev_stat_stop(l, &w);
  assert_int_equal(w.wd, -2);
  assert_false(ev_is_active(&w));
  assert_false(ev_is_active(&w.timer));
  ev_stat_set(&w, paths[1], 0.);
  assert_int_equal(w.wd, -2);
  ev_loop_destroy(l);
  remove_dir();
}

static void internal_timer_does_not_keep_the_loop_alive_but_the_watcher_does(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  /* Without inotify the polling timer is surely running. */
  struct ev_loop *l = test_loop(EVFLAG_NOINOTIFY);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.);
  ev_stat_start(l, &w);
  assert_true(ev_is_active(&w.timer));
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1); /* the ev_stat, not its timer */
  ev_unref(l);
  double t0 = mono();
  assert_int_equal(ev_run(l, 0), 0); /* only the internal timer left: returns at once */
  assert_true(mono() - t0 < 1.);
  ev_ref(l);
  ev_stat_stop(l, &w);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);

  /* The same with inotify. */
  l = test_loop(0);
  ev_stat_start(l, &w);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 1);
  ev_stat_stop(l, &w);
  assert_int_equal(ev_run(l, EVRUN_NOWAIT), 0);
  ev_loop_destroy(l);
  remove_dir();
}

static void noinotify_polling_detects_a_change_within_the_interval(void **state)
{
  make_dir();
  write_file(paths[0], "hello");
  ncalls = 0;
  struct ev_loop *l = test_loop(EVFLAG_NOINOTIFY);
  ev_stat w;
  ev_stat_init(&w, count_cb, paths[0], 0.2);
  ev_stat_start(l, &w);
  assert_true(w.interval == 0.2);
  assert_true(w.timer.repeat == 0.2);
  double t0 = mono();
  append_file(paths[0], " world");
  run_until_calls(l, 1, 5.);
  double dt = mono() - t0;
  if (dt < 0.1 || dt > 2.)
    fail_msg("change seen after %.3f s, expected about 0.2 s", dt);
  assert_int_equal(w.prev.st_size, 5);
  assert_int_equal(w.attr.st_size, 11);

  /* Polling goes on: a second change is seen as well. */
  append_file(paths[0], "!");
  run_until_calls(l, 2, 5.);
  assert_int_equal(w.attr.st_size, 12);
  ev_stat_stop(l, &w);
  ev_loop_destroy(l);
  remove_dir();
}

#define dir_test(f) cmocka_unit_test_teardown(f, teardown_dir)

int main(void)
{
  const struct CMUnitTest tests[] = {
    dir_test(lstat_reports_the_symlink_itself),
    dir_test(missing_path_has_nlink_0_and_its_creation_fires),
    dir_test(size_change_fires_with_prev_and_attr),
    dir_test(mode_change_fires),
    dir_test(rename_over_the_path_fires),
    dir_test(delete_fires),
    dir_test(deleted_file_keeps_its_last_attributes_with_nlink_0),
    dir_test(stat_stat_refreshes_attr_of_an_inactive_watcher),
    dir_test(interval_0_stays_0),
    dir_test(interval_below_minimum_is_raised_to_0_1074891),
    dir_test(interval_2_5_is_kept),
    dir_test(noinotify_keeps_wd_unset_and_polls_every_5_0074891),
    dir_test(inotify_on_a_local_fs_needs_no_polling_timer),
    dir_test(missing_path_is_watched_through_its_directory_and_polled),
    dir_test(non_local_fs_is_polled_every_30_1074891_besides_inotify),
    dir_test(unwatchable_path_gets_wd_minus_1_and_polling),
    dir_test(wd_is_unset_after_init_and_after_stop),
    dir_test(internal_timer_does_not_keep_the_loop_alive_but_the_watcher_does),
    dir_test(noinotify_polling_detects_a_change_within_the_interval),
  };
  return TEST_MAIN("stat", tests);
}
