/* faultrun.c - run a program with one system call failing at its Nth call, deterministically.
 *
 *   faultrun [options] SYSCALL ERRNO N -- program [args...]
 *   faultrun --count SYSCALL[,SYSCALL...] -- program [args...]
 *
 * The Nth call of SYSCALL in each process of the program fails with ERRNO (a name such as
 * ENOMEM, or a number); with --all-after the Nth and every later call fail. Every other call
 * runs normally. Options:
 *   --all-after     fail the Nth call and all later ones
 *   --timeout S     kill the program's process group after S seconds (exit 124, "hang")
 *   --children      fail calls only in processes the program forked, not in the program
 *   --verbose       log every intercepted call to stderr
 * --count fails nothing: it reports, for each SYSCALL, how many calls the process that made
 * the most of them made ("faultrun: count SYSCALL most=M calls=C"), the range of N worth
 * trying.
 *
 * How: the program runs in a child that installs a seccomp filter answering SYSCALL with
 * SECCOMP_RET_USER_NOTIF (SECCOMP_FILTER_FLAG_NEW_LISTENER), passes the listener to this
 * process over a unix socket (SCM_RIGHTS) and execs the program. The filter is inherited by the
 * program's threads and forked children. This process answers each notification: ERRNO for
 * the chosen call, SECCOMP_USER_NOTIF_FLAG_CONTINUE for the others. seccomp sees the system
 * call itself, so io_uring_* calls that liburing makes with inline assembly are caught as
 * well as libc's wrappers (LD_PRELOAD would miss them).
 *
 * Counting is per process (thread group): the probe thread of the io_uring backend counts
 * with its process, and each forked child starts from zero. A call interrupted by a signal
 * before it was answered (the notification is gone when we answer: ENOENT) is restarted by
 * the kernel and is not counted, so the count is the number of calls that really ran or
 * failed.
 *
 * mmap: malloc and the dynamic loader call mmap all the time, so failing "the Nth mmap"
 * would mostly test malloc. SYSCALL "mmap" therefore means mmap with MAP_SHARED (the filter
 * tests the flags argument): in evring those are the io_uring ring mappings liburing makes.
 * "mmap-any" fails every kind (accepting that malloc fails).
 *
 * Exit status: the program's exit code, 128+signal if a signal killed it, 124 on timeout,
 * 125 if faultrun itself failed. The last line on stderr says how many calls were seen and
 * failed: "faultrun: SYSCALL calls=C injected=I processes=P most=M", M being the most calls
 * one process made (with --count, one "faultrun: count" line per SYSCALL instead). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL_EXIT 125
#define MAX_TARGETS 32 /* system calls one filter watches (--count) */
#define HANG_EXIT 124

struct syscall_name {
  const char *name;
  int nr;
};

/* The calls evring makes (and a few the programs make), by the name the kernel gives them;
 * the libc names map to the syscalls glibc uses on x86_64. */
static const struct syscall_name syscalls[] = {
  {"io_uring_setup", SYS_io_uring_setup},
  {"io_uring_enter", SYS_io_uring_enter},
  {"io_uring_register", SYS_io_uring_register},
  {"epoll_create1", SYS_epoll_create1},
  {"epoll_ctl", SYS_epoll_ctl},
  {"epoll_wait", SYS_epoll_wait},
  {"epoll_pwait", SYS_epoll_pwait},
  {"eventfd", SYS_eventfd2},
  {"eventfd2", SYS_eventfd2},
  {"signalfd", SYS_signalfd4},
  {"signalfd4", SYS_signalfd4},
  {"inotify_init1", SYS_inotify_init1},
  {"inotify_add_watch", SYS_inotify_add_watch},
  {"inotify_rm_watch", SYS_inotify_rm_watch},
  {"timerfd_create", SYS_timerfd_create},
  {"timerfd_settime", SYS_timerfd_settime},
  {"dup3", SYS_dup3},
  {"dup2", SYS_dup2},
  {"mmap", SYS_mmap},
  {"mmap-any", SYS_mmap},
  {"pipe", SYS_pipe},
  {"pipe2", SYS_pipe2},
  {"fcntl", SYS_fcntl},
  {"poll", SYS_poll},
  {"ppoll", SYS_ppoll},
  {"select", SYS_select},
  {"pselect6", SYS_pselect6},
  {"rt_sigprocmask", SYS_rt_sigprocmask},
  {"rt_sigaction", SYS_rt_sigaction},
  {"statfs", SYS_statfs},
  {"clone", SYS_clone},
  {"clone3", SYS_clone3},
  {"wait4", SYS_wait4},
};

static int syscall_number(const char *name)
{
  for (size_t i = 0; i < sizeof syscalls / sizeof syscalls[0]; i++)
    if (!strcmp(syscalls[i].name, name))
      return syscalls[i].nr;
  char *end;
  long nr = strtol(name, &end, 10);
  return *name && !*end && nr >= 0 && nr < 1024 ? (int)nr : -1;
}

static int errno_number(const char *name)
{
  char *end;
  long n = strtol(name, &end, 10);
  if (*name && !*end)
    return n > 0 && n < 4096 ? (int)n : -1;
  for (int e = 1; e < 200; e++) {
    const char *s = strerrorname_np(e);
    if (s && !strcmp(s, name))
      return e;
  }
  return -1;
}

static void die(const char *what)
{
  fprintf(stderr, "faultrun: %s: %s\n", what, strerror(errno));
  exit(FAIL_EXIT);
}

/* ------------------------------------------------------------------------------------------ */
/* The child: filter, hand over the listener, exec. */

/* The system calls watched: their numbers, and whether the call is "mmap" (shared only). */
static int target_nr[MAX_TARGETS], target_shared[MAX_TARGETS], target_n;

static int install_filter(void)
{
  /* x86_64 and one of the target numbers: notify us; anything else: allow. A shared-only
   * mmap target goes through one more test, MAP_SHARED in the flags argument (low word of
   * args[3]). Classic BPF only jumps forward, hence the two ALLOW returns. */
  struct sock_filter prog[MAX_TARGETS + 10];
  int n = 0, shared = 0;
  for (int i = 0; i < target_n; i++)
    shared |= target_shared[i];
  int allow = 3 + target_n;                /* index of the first RET ALLOW */
  int mmap_check = allow + 1;              /* the MAP_SHARED test, if any */
  int notify = shared ? mmap_check + 3 : allow + 1;
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                           offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
                                           (unsigned char)(allow - 2));
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                           offsetof(struct seccomp_data, nr));
  for (int i = 0; i < target_n; i++) {
    int to = target_shared[i] ? mmap_check : notify;
    prog[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)target_nr[i],
                                           (unsigned char)(to - n - 1), 0);
    n++;
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  if (shared) {
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, args[3]));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_SHARED, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  struct sock_fprog fprog = {(unsigned short)n, prog};

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die("PR_SET_NO_NEW_PRIVS");
  /* Waiting for our answer only fatal signals interrupt: fewer restarted calls. */
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                        &fprog);
  if (fd < 0 && errno == EINVAL)
    fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                      &fprog);
  if (fd < 0)
    die("seccomp");
  return fd;
}

static void send_fd(int sock, int fd)
{
  char byte = 0;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) != 1)
    die("sendmsg");
}

static int recv_fd(int sock)
{
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
    return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* The supervisor: per-process call counts. */

struct proc {
  int tgid;
  unsigned long long start; /* start time, so that a reused pid counts afresh */
  long calls[MAX_TARGETS];
};

static struct proc *procs;
static int proc_n, proc_cap;

/* Thread group and start time of thread tid, from /proc. 0 or -1. */
static int thread_group(int tid, int *tgid, unsigned long long *start)
{
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  *tgid = -1;
  while (fgets(buf, sizeof buf, f))
    if (sscanf(buf, "Tgid: %d", tgid) == 1)
      break;
  fclose(f);
  if (*tgid < 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%d/stat", *tgid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  /* Field 22 (starttime), counted after the ")" that ends the command name. */
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  *start = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
    if (++field == 22) {
      *start = strtoull(tok, NULL, 10);
      break;
    }
  return 0;
}

static struct proc *proc_of(int tid)
{
  int tgid;
  unsigned long long start;
  if (thread_group(tid, &tgid, &start) < 0)
    return NULL;
  for (int i = 0; i < proc_n; i++)
    if (procs[i].tgid == tgid && procs[i].start == start)
      return &procs[i];
  if (proc_n == proc_cap) {
    proc_cap = proc_cap ? 2 * proc_cap : 16;
    procs = realloc(procs, (size_t)proc_cap * sizeof *procs);
    if (!procs)
      die("realloc");
  }
  memset(&procs[proc_n], 0, sizeof procs[proc_n]);
  procs[proc_n].tgid = tgid;
  procs[proc_n].start = start;
  return &procs[proc_n++];
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void)
{
  fprintf(stderr, "usage: faultrun [--all-after] [--children] [--timeout S] [--verbose] "
                  "SYSCALL ERRNO N -- program [args...]\n"
                  "       faultrun [--timeout S] --count SYSCALL[,SYSCALL...] -- program "
                  "[args...]\n");
  exit(FAIL_EXIT);
}

/* Add a comma-separated list of system call names to the targets. 0 or -1. */
static int add_targets(char *list, const char **names)
{
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    int nr = syscall_number(tok);
    if (nr < 0 || target_n == MAX_TARGETS)
      return -1;
    names[target_n] = tok;
    target_shared[target_n] = !strcmp(tok, "mmap");
    target_nr[target_n++] = nr;
  }
  return target_n ? 0 : -1;
}

int main(int argc, char **argv)
{
  int all_after = 0, verbose = 0, count_only = 0, children_only = 0;
  double timeout = 0.;
  const char *pos[3];
  const char *names[MAX_TARGETS];
  int npos = 0, i;

  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else if (!strcmp(argv[i], "--all-after"))
      all_after = 1;
    else if (!strcmp(argv[i], "--verbose"))
      verbose = 1;
    else if (!strcmp(argv[i], "--children"))
      children_only = 1;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      timeout = atof(argv[++i]);
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
      count_only = 1;
      if (add_targets(argv[++i], names) < 0)
        usage();
    } else if (npos < 3)
      pos[npos++] = argv[i];
    else
      usage();
  }
  if (i >= argc || (count_only ? npos != 0 : npos != 3))
    usage();
  int err = 0;
  long nth = 0;
  if (!count_only) {
    char *one = strdup(pos[0]);
    err = errno_number(pos[1]);
    nth = atol(pos[2]);
    if (!one || strchr(one, ',') || add_targets(one, names) < 0 || err < 0 || nth < 1) {
      fprintf(stderr, "faultrun: bad SYSCALL, ERRNO or N\n");
      usage();
    }
  }

  /* Orphaned descendants come back to us, so that nothing outlives the run. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    die("socketpair");
  fflush(NULL);
  pid_t child = fork();
  if (child < 0)
    die("fork");
  if (child == 0) {
    close(sv[0]);
    setpgid(0, 0);
    int listener = install_filter();
    send_fd(sv[1], listener);
    close(listener);
    close(sv[1]);
    execvp(argv[i], argv + i);
    fprintf(stderr, "faultrun: exec %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  setpgid(child, child); /* both sides, whoever runs first */
  close(sv[1]);
  int listener = recv_fd(sv[0]);
  close(sv[0]);
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  if (listener < 0 || pidfd < 0) {
    kill(child, SIGKILL);
    die("listener or pidfd");
  }

  long calls = 0, injected = 0;
  int status = 0, exited = 0, hang = 0;
  double deadline = timeout > 0. ? now() + timeout : 0.;
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
    die("SECCOMP_GET_NOTIF_SIZES");
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif > sizeof *req ? sizes.seccomp_notif
                                                                          : sizeof *req);
  struct seccomp_notif_resp *resp =
    calloc(1, sizes.seccomp_notif_resp > sizeof *resp ? sizes.seccomp_notif_resp : sizeof *resp);
  if (!req || !resp)
    die("calloc");

  while (!exited) {
    struct pollfd pfd[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int ms = -1;
    if (deadline > 0.) {
      double left = deadline - now();
      if (left <= 0.) {
        hang = 1;
        break;
      }
      ms = (int)(left * 1e3) + 1;
    }
    int r = poll(pfd, 2, ms);
    if (r < 0 && errno != EINTR)
      die("poll");
    if (r <= 0)
      continue;
    if (pfd[1].revents) {
      if (waitpid(child, &status, 0) == child)
        exited = 1;
      continue;
    }
    if (!(pfd[0].revents & POLLIN))
      continue;
    memset(req, 0, sizes.seccomp_notif);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
      continue; /* the caller went away (ENOENT) or a signal interrupted us */

    int t = 0;
    while (t < target_n - 1 && target_nr[t] != req->data.nr)
      t++;
    struct proc *p = proc_of((int)req->pid);
    long n = p ? ++p->calls[t] : 0;
    int fail = p && !count_only && (all_after ? n >= nth : n == nth) &&
               !(children_only && p->tgid == child);

    memset(resp, 0, sizes.seccomp_notif_resp);
    resp->id = req->id;
    if (fail)
      resp->error = -err;
    else
      resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0) {
      /* Interrupted before it ran: the kernel restarts it, and that one counts. */
      if (p)
        p->calls[t]--;
      continue;
    }
    calls++;
    injected += fail;
    if (verbose)
      fprintf(stderr, "faultrun: pid %d (process %d) %s #%ld%s\n", (int)req->pid,
              p ? p->tgid : -1, names[t], n, fail ? " FAILED" : "");
  }

  if (hang)
    fprintf(stderr, "faultrun: timeout after %g s, killing the program\n", timeout);
  /* Whatever of the program is left (a hang, or descendants still running) goes now. */
  kill(-child, SIGKILL);
  if (!exited && waitpid(child, &status, 0) == child)
    exited = 1;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  for (int t = 0; t < target_n; t++) {
    long most = 0, total = 0;
    for (int k = 0; k < proc_n; k++) {
      most = procs[k].calls[t] > most ? procs[k].calls[t] : most;
      total += procs[k].calls[t];
    }
    if (count_only)
      fprintf(stderr, "faultrun: count %s most=%ld calls=%ld\n", names[t], most, total);
    else
      fprintf(stderr, "faultrun: %s calls=%ld injected=%ld processes=%d most=%ld\n", names[t],
              calls, injected, proc_n, most);
  }
  if (hang)
    return HANG_EXIT;
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
