/* as-user.c - run a program as another user with a given RLIMIT_MEMLOCK, as a login of that
 * user would (the guest's busybox has no setpriv --reuid).
 *
 *   as-user UID MEMLOCK_KIB PROGRAM [ARGS...]
 *
 * Sets the soft and hard RLIMIT_MEMLOCK to MEMLOCK_KIB KiB ("-" keeps the limit inherited,
 * the kernel's default in the guest: 64 KiB before 5.16, 8 MiB since), drops the
 * supplementary groups, sets gid and uid to UID, then execs PROGRAM (searched in PATH).
 * Must start as root. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: as-user UID MEMLOCK_KIB PROGRAM [ARGS...]\n");
    return 2;
  }
  uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
  if (strcmp(argv[2], "-")) {
    rlim_t kib = (rlim_t)strtoull(argv[2], NULL, 10);
    struct rlimit rl = {kib * 1024, kib * 1024};
    if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
      perror("as-user: RLIMIT_MEMLOCK");
      return 2;
    }
  }
  if (setgroups(0, NULL) || setgid((gid_t)uid) || setuid(uid)) {
    perror("as-user");
    return 2;
  }
  execvp(argv[3], argv + 3);
  perror(argv[3]);
  return 127;
}
