/* loadgen - closed-loop load generator for echo servers (bench/run's echo rows).
 *
 *   loadgen [-c CONNS] [-s SIZE] [-w WARMUP] [-d DURATION] [-n MSGS] [-j] PORT
 *
 * Opens CONNS TCP connections to 127.0.0.1:PORT. Each connection sends one SIZE-byte message,
 * waits until all SIZE bytes have come back (and checks them), then sends the next: every
 * connection has exactly one message in flight. Messages completed during the WARMUP seconds
 * (default 0.5) are not measured; DURATION seconds (default 3) are. One thread, one epoll set,
 * level-triggered; pin it with taskset to keep it off the server's CPU.
 * With -n, every connection sends MSGS messages and the run ends when all have come back
 * (for tests: a fixed amount of work); DURATION is then a time limit, and reaching it fails.
 *
 * Output on stdout: one line "result key=value ..." (or a JSON object with -j): msg_s (messages
 * per second in the measured phase), msgs (messages in it), total_msgs (including warm-up and
 * the tail, for dividing the server's whole CPU time), latency percentiles p50_us p90_us
 * p99_us p999_us max_us (send of the first byte to receipt of the last, within 1.6 %).
 * Exit status 0, or 1 when a connection failed, an echo differed from what was sent, or -n's
 * messages did not all come back within DURATION. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  unsigned int seq;   /* number of the message in flight: its bytes are a function of it */
  size_t sent;        /* bytes of it written so far */
  size_t got;         /* bytes of its echo received so far */
  uint64_t t_start;   /* when its first byte was written */
  int want_out;       /* the epoll set watches EPOLLOUT too (a write was short) */
};

static size_t msg_size = 64;
static char *inbuf;

/* ---- latency histogram: 64 linear sub-buckets per power of two (error below 1/64) ---- */

#define SUB 64
#define NBUCKETS (SUB * 40)
static uint64_t hist[NBUCKETS];

static int bucket_of(uint64_t ns)
{
  if (ns < SUB)
    return (int)ns;
  int e = 63 - __builtin_clzll(ns); /* ns is in [2^e, 2^(e+1)), e >= 6 */
  int i = SUB * (e - 5) + (int)(ns >> (e - 6)) - SUB;
  return i < NBUCKETS ? i : NBUCKETS - 1;
}

static uint64_t bucket_value(int i) /* the middle of bucket i, in ns */
{
  if (i < SUB)
    return (uint64_t)i;
  int e = i / SUB + 5;
  uint64_t lo = (uint64_t)(i % SUB + SUB) << (e - 6);
  return lo + ((1ull << (e - 6)) >> 1);
}

static double percentile_us(uint64_t total, double q)
{
  uint64_t want = (uint64_t)(q * (double)total), seen = 0;
  if (want >= total)
    want = total - 1;
  for (int i = 0; i < NBUCKETS; i++) {
    seen += hist[i];
    if (seen > want)
      return (double)bucket_value(i) / 1000.0;
  }
  return 0;
}

/* ---- helpers ---- */

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Message seq of connection fd is the msg_size bytes at pattern + shift(seq, fd): different
 * from the previous message of the connection and from other connections' messages, at no
 * cost per message. */
#define SHIFTS 251
static char *pattern; /* msg_size + SHIFTS bytes */

static const char *message(unsigned int seq, int fd)
{
  return pattern + (seq + (unsigned int)fd * 17u) % SHIFTS;
}

static void set_events(int ep, struct conn *c, int out)
{
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
    die("epoll_ctl");
  c->want_out = out;
}

/* Write what is left of the message in flight; watch EPOLLOUT only while some is left. */
static void send_rest(int ep, struct conn *c)
{
  while (c->sent < msg_size) {
    ssize_t n = write(c->fd, message(c->seq, c->fd) + c->sent, msg_size - c->sent);
    if (n < 0 && errno == EAGAIN)
      break;
    if (n <= 0)
      die("write");
    c->sent += (size_t)n;
  }
  if ((c->sent < msg_size) != c->want_out)
    set_events(ep, c, c->sent < msg_size);
}

static void start_message(int ep, struct conn *c)
{
  c->seq++;
  c->sent = c->got = 0;
  c->t_start = now_ns();
  send_rest(ep, c);
}

int main(int argc, char **argv)
{
  int nconns = 1, json = 0, opt;
  unsigned long per_conn = 0; /* -n */
  double warmup = 0.5, duration = 3.0;
  while ((opt = getopt(argc, argv, "c:s:w:d:n:j")) != -1) {
    switch (opt) {
    case 'c': nconns = atoi(optarg); break;
    case 's': msg_size = (size_t)atol(optarg); break;
    case 'w': warmup = atof(optarg); break;
    case 'd': duration = atof(optarg); break;
    case 'n': per_conn = strtoul(optarg, NULL, 10); warmup = 0; break;
    case 'j': json = 1; break;
    default: goto usage;
    }
  }
  if (optind != argc - 1 || nconns < 1 || msg_size < 1 || duration <= 0) {
  usage:
    fprintf(stderr, "usage: loadgen [-c CONNS] [-s SIZE] [-w WARMUP] [-d DURATION] [-n MSGS] [-j] "
                    "PORT\n");
    return 2;
  }
  int port = atoi(argv[optind]);

  /* Each connection is one fd: lift the soft limit to the hard one when it is too low. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 16) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  pattern = malloc(msg_size + SHIFTS);
  inbuf = malloc(msg_size);
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!pattern || !inbuf || !conns || ep < 0)
    die("setup");

  for (size_t i = 0; i < msg_size + SHIFTS; i++)
    pattern[i] = (char)(i * 7 + i / 251);

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    /* A blocking connect (loopback: done once the server's backlog has room), then
     * non-blocking I/O. */
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
      die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
      die("fcntl");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
      die("epoll_ctl");
  }

  uint64_t t0 = now_ns();
  uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9);
  uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
  uint64_t measured = 0, total = 0, timed = 0; /* timed: measured and started after warm-up */
  int finished = 0; /* -n: connections done */
  for (int i = 0; i < nconns; i++)
    start_message(ep, &conns[i]);

  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, 100);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    uint64_t now = now_ns();
    if (now >= t_end) {
      if (per_conn) {
        fprintf(stderr, "loadgen: %d of %d connections done after %g s\n", finished, nconns, duration);
        return 1;
      }
      break;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (evs[i].events & EPOLLOUT)
        send_rest(ep, c);
      if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        continue;
      ssize_t r = read(c->fd, inbuf, msg_size - c->got);
      if (r < 0 && errno == EAGAIN)
        continue;
      if (r <= 0) {
        errno = r == 0 ? ECONNRESET : errno;
        die("read");
      }
      /* The echo must be the message, byte for byte, and nothing beyond it. */
      if (memcmp(inbuf, message(c->seq, c->fd) + c->got, (size_t)r) != 0) {
        fprintf(stderr, "loadgen: connection %d: echo differs from the message sent\n", c->fd);
        return 1;
      }
      c->got += (size_t)r;
      if (c->got < msg_size)
        continue;
      total++;
      if (now >= t_measure) {
        measured++;
        if (c->t_start >= t_measure)
          hist[bucket_of(now - c->t_start)]++;
        timed += c->t_start >= t_measure;
      }
      if (per_conn && c->seq == per_conn) { /* this connection is done */
        if (++finished < nconns)
          continue;
        duration = (double)(now - t_measure) / 1e9;
        goto report;
      }
      start_message(ep, c);
    }
  }
report:;
  double secs = duration;
  double rate = (double)measured / secs;
  if (timed == 0) {
    fprintf(stderr, "loadgen: no message completed in the measured phase\n");
    return 1;
  }
  double p50 = percentile_us(timed, 0.50), p90 = percentile_us(timed, 0.90);
  double p99 = percentile_us(timed, 0.99), p999 = percentile_us(timed, 0.999);
  double pmax = percentile_us(timed, 1.0);
  if (json)
    printf("{\"conns\": %d, \"size\": %zu, \"seconds\": %.3f, \"msgs\": %llu, \"total_msgs\": %llu, "
           "\"msg_s\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"p999_us\": %.1f, \"max_us\": %.1f}\n",
           nconns, msg_size, secs, (unsigned long long)measured, (unsigned long long)total, rate,
           p50, p90, p99, p999, pmax);
  else
    printf("result conns=%d size=%zu seconds=%.3f msgs=%llu total_msgs=%llu msg_s=%.1f "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
           nconns, msg_size, secs, (unsigned long long)measured, (unsigned long long)total, rate,
           p50, p90, p99, p999, pmax);
  return 0;
}
