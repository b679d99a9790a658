/* evbench - event loop micro benchmarks that use nothing but the libev 4.33 API (ev.h).
 *
 * Built once against /usr/include/ev.h and linked with -lev: the same binary runs on the
 * system's libev (default library path) and on evring (LD_LIBRARY_PATH=<evring build dir>).
 *
 *   evbench info
 *   evbench pingpong -n PAIRS -a CHAINS [-b BACKEND] [-w WARMUP] [-d DURATION]
 *   evbench churn    -k FDS              [-b BACKEND] [-w WARMUP] [-d DURATION] [--set]
 *   evbench rereg    -n WATCHERS         [-b BACKEND] [-w WARMUP] [-d DURATION]
 *   evbench start    -n WATCHERS         [-b BACKEND] [-w WARMUP] [-d DURATION]
 *   evbench timers   -n TIMERS -s SPREAD [-b BACKEND]
 *
 * BACKEND: epoll, iouring, poll, select or a number (libev backend flags). Without -b the
 * value of LIBEV_FLAGS is used. The loop is always created with ev_loop_new(flags |
 * EVFLAG_NOENV). If that backend is not available the program prints "status=na" and
 * exits with status 3.
 *
 * Output: one line "result key=value ..." on stdout (parsed by bench/run).
 *
 * Only the measured phase (after the warm-up) is counted. When EVBENCH_PERF_CTL and
 * EVBENCH_PERF_ACK name perf's control and ack FIFOs (perf stat --control fifo:CTL,ACK -D -1),
 * the program enables perf's counters for exactly that phase, so that a syscall count can be
 * divided by the loop iterations of the same phase. app_syscalls is the number of syscalls
 * made by the benchmark's own callbacks in that phase (to tell loop syscalls from them).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#define EXIT_NA 3

static struct ev_loop *loop;
static unsigned backend_flags;
static const char *backend_name = "?";

/* ---- small helpers ---------------------------------------------------------------- */

static void die(const char *what)
{
    fprintf(stderr, "evbench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void make_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair (raise the open files limit?)");
}

static const char *lib_path(void)
{
    Dl_info info;
    if (dladdr((void *)ev_run, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

static unsigned parse_backend(const char *s)
{
    if (!strcmp(s, "epoll")) return EVBACKEND_EPOLL;
    if (!strcmp(s, "iouring") || !strcmp(s, "io_uring")) return 0x80u; /* EVBACKEND_IOURING */
    if (!strcmp(s, "poll")) return EVBACKEND_POLL;
    if (!strcmp(s, "select")) return EVBACKEND_SELECT;
    if (!strcmp(s, "linuxaio")) return 0x40u;
    return (unsigned)strtoul(s, NULL, 0);
}

static const char *name_of_backend(unsigned b)
{
    switch (b) {
    case EVBACKEND_SELECT: return "select";
    case EVBACKEND_POLL: return "poll";
    case EVBACKEND_EPOLL: return "epoll";
    case 0x40u: return "linuxaio";
    case 0x80u: return "iouring";
    default: return "other";
    }
}

/* ---- perf control (optional) ------------------------------------------------------- */

static int perf_ctl = -1, perf_ack = -1;

static void perf_open(void)
{
    const char *c = getenv("EVBENCH_PERF_CTL"), *a = getenv("EVBENCH_PERF_ACK");
    if (!c || !a || !*c || !*a)
        return;
    perf_ctl = open(c, O_WRONLY | O_CLOEXEC);
    perf_ack = open(a, O_RDONLY | O_CLOEXEC);
    if (perf_ctl < 0 || perf_ack < 0)
        die("open perf control fifos");
}

static void perf_cmd(const char *cmd)
{
    char buf[32];
    if (perf_ctl < 0)
        return;
    if (write(perf_ctl, cmd, strlen(cmd)) < 0)
        die("write perf control fifo");
    if (read(perf_ack, buf, sizeof buf) < 0) /* "ack\n": counters switched */
        die("read perf ack fifo");
}

/* ---- the measured phase ------------------------------------------------------------- */

static uint64_t n_events;    /* callbacks that did their work */
static uint64_t n_spurious;  /* callbacks that found nothing to do */
static uint64_t n_app_sys;   /* syscalls made by the callbacks */

struct mark {
    uint64_t wall, cpu, events, spurious, app_sys;
    unsigned iter;
};

static struct mark m0, m1;

static void take_mark(struct mark *m)
{
    m->wall = now_ns();
    m->cpu = cpu_ns();
    m->events = n_events;
    m->spurious = n_spurious;
    m->app_sys = n_app_sys;
    m->iter = ev_iteration(loop);
}

static void phase_begin(void)
{
    perf_cmd("enable\n");
    take_mark(&m0);
}

static void phase_end(void)
{
    take_mark(&m1);
    perf_cmd("disable\n");
}

static void print_result(const char *mode, const char *extra)
{
    uint64_t wall = m1.wall - m0.wall, cpu = m1.cpu - m0.cpu, ev = m1.events - m0.events;
    unsigned iters = m1.iter - m0.iter;
    printf("result status=ok mode=%s backend=%s flags=%#x lib=%s wall_ns=%llu cpu_ns=%llu "
           "events=%llu spurious=%llu iters=%u app_syscalls=%llu ns_per_event=%.2f "
           "events_per_s=%.1f events_per_iter=%.3f%s%s\n",
           mode, backend_name, backend_flags, lib_path(), (unsigned long long)wall,
           (unsigned long long)cpu, (unsigned long long)ev,
           (unsigned long long)(m1.spurious - m0.spurious), iters,
           (unsigned long long)(m1.app_sys - m0.app_sys), ev ? (double)wall / (double)ev : 0.0,
           wall ? (double)ev * 1e9 / (double)wall : 0.0, iters ? (double)ev / iters : 0.0,
           extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

/* Two timers split a run into warm-up and measured phase. */
static ev_timer warm_timer, end_timer;

static void warm_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l; (void)w; (void)revents;
    phase_begin();
}

static void end_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w; (void)revents;
    phase_end();
    ev_break(l, EVBREAK_ALL);
}

static void run_phased(double warmup, double duration)
{
    ev_now_update(loop);
    ev_timer_init(&warm_timer, warm_cb, warmup, 0.);
    ev_timer_init(&end_timer, end_cb, warmup + duration, 0.);
    ev_timer_start(loop, &warm_timer);
    ev_timer_start(loop, &end_timer);
    ev_run(loop, 0);
}

/* ---- 1. ping-pong chains -------------------------------------------------------------
 * N socketpairs are split into A rings ("chains") of consecutive pairs. Hop i watches the
 * read end of pair i; when a byte arrives it reads it and writes it into the write end of
 * the next pair of its ring. One token circulates per ring, so A watchers are ready at any
 * time and N - A are armed but idle. */

struct hop {
    ev_io io;
    int out; /* write end of the next hop's pair */
};

static void hop_cb(struct ev_loop *l, ev_io *w, int revents)
{
    struct hop *h = (struct hop *)w;
    char c;
    (void)l; (void)revents;
    n_app_sys++;
    if (read(w->fd, &c, 1) != 1) {
        n_spurious++;
        return;
    }
    n_app_sys++;
    if (write(h->out, &c, 1) != 1)
        die("write token");
    n_events++;
}

static int bench_pingpong(int n, int a, double warmup, double duration)
{
    if (a < 1 || a > n) {
        fprintf(stderr, "evbench: need 1 <= chains <= pairs\n");
        return 2;
    }
    int (*sv)[2] = calloc((size_t)n, sizeof *sv);
    struct hop *hops = calloc((size_t)n, sizeof *hops);
    if (!sv || !hops)
        die("calloc");
    for (int i = 0; i < n; i++)
        make_pair(sv[i]);
    for (int c = 0; c < a; c++) {
        int first = (int)((long)c * n / a), end = (int)((long)(c + 1) * n / a);
        for (int i = first; i < end; i++) {
            int next = i + 1 < end ? i + 1 : first;
            hops[i].out = sv[next][0];
            ev_io_init(&hops[i].io, hop_cb, sv[i][1], EV_READ);
            ev_io_start(loop, &hops[i].io);
        }
    }
    for (int c = 0; c < a; c++) {
        int first = (int)((long)c * n / a);
        if (write(sv[first][0], "t", 1) != 1)
            die("write first token");
    }
    run_phased(warmup, duration);
    char extra[64];
    snprintf(extra, sizeof extra, "pairs=%d chains=%d", n, a);
    print_result("pingpong", extra);
    return 0;
}

/* ---- 2. churn --------------------------------------------------------------------------
 * K socketpair ends that are always readable (one unread byte) and writable. Every callback
 * flips its watcher between READ|WRITE and READ: stop, modify, start. Level-triggered, so
 * all K fire in every iteration and every one of them changes its registration. */

static int churn_use_set;

static void churn_cb(struct ev_loop *l, ev_io *w, int revents)
{
    (void)revents;
    int ev = (w->events & (EV_READ | EV_WRITE)) == EV_READ ? EV_READ | EV_WRITE : EV_READ;
    ev_io_stop(l, w);
    if (churn_use_set)
        ev_io_set(w, w->fd, ev);
    else
        ev_io_modify(w, ev);
    ev_io_start(l, w);
    n_events++;
}

static int bench_churn(int k, double warmup, double duration)
{
    ev_io *ios = calloc((size_t)k, sizeof *ios);
    if (!ios)
        die("calloc");
    for (int i = 0; i < k; i++) {
        int sv[2];
        make_pair(sv);
        if (write(sv[1], "x", 1) != 1)
            die("write");
        ev_io_init(&ios[i], churn_cb, sv[0], (i & 1) ? EV_READ : EV_READ | EV_WRITE);
        ev_io_start(loop, &ios[i]);
    }
    run_phased(warmup, duration);
    char extra[64];
    snprintf(extra, sizeof extra, "fds=%d modify=%s", k, churn_use_set ? "ev_io_set" : "ev_io_modify");
    print_result("churn", extra);
    return 0;
}

/* ---- 3. warm re-registration -------------------------------------------------------------
 * N armed io watchers on idle socketpair ends (never ready). One round: stop + ev_io_set
 * (same fd, same events) + start on every watcher, then one ev_run(EVRUN_NOWAIT). */

static void idle_cb(struct ev_loop *l, ev_io *w, int revents)
{
    (void)l; (void)w; (void)revents;
    n_spurious++;
}

static int bench_rereg(int n, double warmup, double duration)
{
    ev_io *ios = calloc((size_t)n, sizeof *ios);
    if (!ios)
        die("calloc");
    for (int i = 0; i < n; i += 2) {
        int sv[2];
        make_pair(sv);
        ev_io_init(&ios[i], idle_cb, sv[0], EV_READ);
        ev_io_start(loop, &ios[i]);
        if (i + 1 < n) {
            ev_io_init(&ios[i + 1], idle_cb, sv[1], EV_READ);
            ev_io_start(loop, &ios[i + 1]);
        }
    }
    ev_run(loop, EVRUN_NOWAIT); /* registered: from now on everything is warm */
    uint64_t rounds = 0, t_warm = now_ns() + (uint64_t)(warmup * 1e9), t_end = 0;
    int measuring = 0;
    for (;;) {
        for (int i = 0; i < n; i++) {
            ev_io_stop(loop, &ios[i]);
            ev_io_set(&ios[i], ios[i].fd, EV_READ);
            ev_io_start(loop, &ios[i]);
        }
        ev_run(loop, EVRUN_NOWAIT);
        n_events += (uint64_t)n;
        if (measuring) {
            rounds++;
            if ((rounds & 7) == 0 && now_ns() >= t_end)
                break;
        } else if (now_ns() >= t_warm) {
            measuring = 1;
            phase_begin();
            t_end = m0.wall + (uint64_t)(duration * 1e9);
        }
    }
    phase_end();
    char extra[96];
    snprintf(extra, sizeof extra, "watchers=%d rounds=%llu ns_per_round=%.1f", n,
             (unsigned long long)rounds, (double)(m1.wall - m0.wall) / (double)rounds);
    print_result("rereg", extra);
    return 0;
}

/* ---- 3b. first start ------------------------------------------------------------------
 * N idle watchers on N/2 socketpairs (both ends), started on a new loop and registered by
 * its first iteration: a server taking on N connections at once. Each round creates a loop,
 * and the time from the first ev_io_start to the end of the first ev_run(EVRUN_NOWAIT) is
 * measured; stopping and destroying happen outside the measured time. */

static int bench_start(int n, double warmup, double duration)
{
    ev_io *ios = calloc((size_t)n, sizeof *ios);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!ios || !fds)
        die("calloc");
    for (int i = 0; i < n; i += 2) {
        int sv[2];
        make_pair(sv);
        fds[i] = sv[0];
        if (i + 1 < n)
            fds[i + 1] = sv[1];
    }
    ev_loop_destroy(loop);
    uint64_t rounds = 0, measured = 0, t_warm = now_ns() + (uint64_t)(warmup * 1e9), t_end = 0;
    int measuring = 0;
    for (;;) {
        loop = ev_loop_new(backend_flags | EVFLAG_NOENV);
        if (!loop)
            die("ev_loop_new");
        uint64_t t0 = now_ns();
        for (int i = 0; i < n; i++) {
            ev_io_init(&ios[i], idle_cb, fds[i], EV_READ);
            ev_io_start(loop, &ios[i]);
        }
        ev_run(loop, EVRUN_NOWAIT);
        uint64_t t1 = now_ns();
        for (int i = 0; i < n; i++)
            ev_io_stop(loop, &ios[i]);
        if (measuring) {
            rounds++;
            measured += t1 - t0;
            n_events += (uint64_t)n;
            if (t1 >= t_end && rounds >= 3)
                break;
        } else if (t1 >= t_warm) {
            measuring = 1;
            phase_begin();
            t_end = m0.wall + (uint64_t)(duration * 1e9);
        }
        ev_loop_destroy(loop);
    }
    phase_end();
    char extra[96];
    snprintf(extra, sizeof extra, "watchers=%d rounds=%llu ns_per_round=%.1f", n,
             (unsigned long long)rounds, (double)measured / (double)rounds);
    print_result("start", extra);
    return 0;
}

/* ---- 4. timers ---------------------------------------------------------------------------
 * T one-shot ev_timers with timeouts spread uniformly over S seconds (grid S*(i+1)/T),
 * started in a fixed pseudo-random order. Measured: from the first start until the last
 * one fired. */

static uint64_t timers_left;

static void timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w; (void)revents;
    n_events++;
    if (--timers_left == 0)
        ev_break(l, EVBREAK_ALL);
}

static int bench_timers(int t, double spread)
{
    ev_timer *tm = calloc((size_t)t, sizeof *tm);
    int *order = malloc((size_t)t * sizeof *order);
    if (!tm || !order)
        die("calloc");
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < t; i++)
        order[i] = i;
    for (int i = t - 1; i > 0; i--) { /* Fisher-Yates with xorshift64 */
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int j = (int)(x % (uint64_t)(i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < t; i++)
        ev_timer_init(&tm[i], timer_cb, spread * (double)(i + 1) / (double)t, 0.);
    timers_left = (uint64_t)t;
    ev_now_update(loop);
    phase_begin();
    for (int i = 0; i < t; i++)
        ev_timer_start(loop, &tm[order[i]]);
    ev_run(loop, 0);
    phase_end();
    char extra[128];
    snprintf(extra, sizeof extra, "timers=%d spread=%g fired=%llu late_ms=%.3f", t, spread,
             (unsigned long long)n_events,
             ((double)(m1.wall - m0.wall) / 1e9 - spread) * 1e3);
    print_result("timers", extra);
    return n_events == (uint64_t)t ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: evbench info|pingpong|churn|rereg|start|timers [-b BACKEND] [-n N] [-a CHAINS]\n"
            "               [-k FDS] [-w WARMUP_S] [-d DURATION_S] [-s SPREAD_S] [--set]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    const char *bstr = getenv("LIBEV_FLAGS");
    int n = -1, a = 1, k = 100;
    double warmup = 0.1, duration = 1.0, spread = 1.0;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--set")) { churn_use_set = 1; continue; }
        if (!v) usage();
        if (!strcmp(o, "-b")) bstr = v;
        else if (!strcmp(o, "-n")) n = atoi(v);
        else if (!strcmp(o, "-a")) a = atoi(v);
        else if (!strcmp(o, "-k")) k = atoi(v);
        else if (!strcmp(o, "-w")) warmup = atof(v);
        else if (!strcmp(o, "-d")) duration = atof(v);
        else if (!strcmp(o, "-s")) spread = atof(v);
        else usage();
        i++;
    }

    if (!strcmp(mode, "info")) {
        printf("result status=ok mode=info lib=%s version=%d.%d supported=%#x recommended=%#x "
               "embeddable=%#x\n",
               lib_path(), ev_version_major(), ev_version_minor(), ev_supported_backends(),
               ev_recommended_backends(), ev_embeddable_backends());
        return 0;
    }

    raise_nofile();
    backend_flags = bstr && *bstr ? parse_backend(bstr) : EVBACKEND_EPOLL;
    loop = ev_loop_new(backend_flags | EVFLAG_NOENV);
    if (!loop) {
        printf("result status=na mode=%s flags=%#x lib=%s supported=%#x\n", mode, backend_flags,
               lib_path(), ev_supported_backends());
        return EXIT_NA;
    }
    backend_name = name_of_backend(ev_backend(loop));
    perf_open();

    if (!strcmp(mode, "pingpong"))
        return bench_pingpong(n < 0 ? 1000 : n, a, warmup, duration);
    if (!strcmp(mode, "churn"))
        return bench_churn(k, warmup, duration);
    if (!strcmp(mode, "rereg"))
        return bench_rereg(n < 0 ? 10000 : n, warmup, duration);
    if (!strcmp(mode, "start"))
        return bench_start(n < 0 ? 19900 : n, warmup, duration);
    if (!strcmp(mode, "timers"))
        return bench_timers(n < 0 ? 100000 : n, spread);
    usage();
    return 2;
}
