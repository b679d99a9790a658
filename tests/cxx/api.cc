// api.cc - client of the libev C++ API (ev++.h): exercises loops, every watcher class and
// the callback binding styles, printing deterministic lines.  tests/cxx.sh builds it against
// evring's header and (when present) the system's, and compares the outputs.
#include <ev++.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *what) { std::printf("%s\n", what); }

// ---- constants --------------------------------------------------------------------------------
static void constants()
{
  std::printf("events %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x\n", (unsigned)ev::UNDEF,
              ev::NONE, ev::READ, ev::WRITE, ev::TIMEOUT, ev::TIMER, ev::PERIODIC, ev::SIGNAL,
              ev::CHILD, ev::STAT, ev::IDLE, ev::CHECK, ev::PREPARE, ev::FORK, ev::ASYNC,
              ev::EMBED, (unsigned)ev::ERROR);
  std::printf("flags %x %x %x %x %x %x %x %x %x\n", ev::AUTO, ev::NOENV, ev::FORKCHECK, ev::SELECT,
              ev::POLL, ev::EPOLL, ev::KQUEUE, ev::DEVPOLL, ev::PORT);
  std::printf("run %d %d %d %d break %d %d\n", ev::NOWAIT, ev::ONCE, ev::NONBLOCK, ev::ONESHOT,
              ev::ONE, ev::ALL);
  ev::tstamp t = 1.5;
  std::printf("tstamp %.1f version %d.%d\n", t, ev::version_major(), ev::version_minor());
  std::printf("backends supported-has-select %d recommended-subset %d embeddable-nonzero %d\n",
              (ev::supported_backends() & ev::SELECT) != 0,
              (ev::recommended_backends() & ~ev::supported_backends()) == 0,
              ev::embeddable_backends() != 0);
}

// ---- io with a member callback ------------------------------------------------------------------
struct reader {
  ev::io w;
  int fd;
  int calls;
  explicit reader(ev::loop_ref l) : w(l), fd(-1), calls(0) {}
  void on_read(ev::io &io, int revents)
  {
    char buf[16];
    ssize_t n = read(io.fd, buf, sizeof buf);
    std::printf("io cb revents=%x bytes=%d same=%d active=%d\n", revents, (int)n, &io == &w,
                io.is_active());
    if (++calls == 2)
      io.stop();
  }
};

static void test_io(ev::loop_ref loop)
{
  int p[2];
  if (pipe(p) != 0)
    std::abort();
  reader r(loop);
  r.fd = p[0];
  r.w.set<reader, &reader::on_read>(&r);
  r.w.start(p[0], ev::READ);
  std::printf("io active=%d fd=%d-ok events=%x\n", r.w.is_active(), r.w.fd == p[0],
              r.w.events & (ev::READ | ev::WRITE));
  r.w.set(ev::READ); // modify while active: stays active
  std::printf("io after modify active=%d\n", r.w.is_active());
  if (write(p[1], "abc", 3) != 3)
    std::abort();
  loop.run(ev::ONCE);
  if (write(p[1], "de", 2) != 2)
    std::abort();
  loop.run();
  std::printf("io done calls=%d active=%d\n", r.calls, r.w.is_active());
  // set (fd, events) + start () separately, then destroy while active
  {
    ev::io w2(loop);
    w2.set<reader, &reader::on_read>(&r);
    w2.set(p[1], ev::WRITE);
    w2.start();
    std::printf("io2 active=%d\n", w2.is_active());
  }
  loop.run(ev::NOWAIT); // the destructor stopped w2: nothing happens
  std::printf("io2 destroyed, calls=%d\n", r.calls);
  close(p[0]);
  close(p[1]);
}

// ---- timers with a function callback ------------------------------------------------------------
static int timer_hits;
void on_timer(ev::timer &w, int revents)
{
  ++timer_hits;
  std::printf("timer cb revents=%x data=%s hits=%d\n", revents, (const char *)w.data, timer_hits);
  if (timer_hits == 3) {
    w.stop();
    w.loop.break_loop(ev::ONE);
  }
}

static void test_timer(ev::loop_ref loop)
{
  static char tag[] = "T";
  ev::timer t(loop);
  t.set<on_timer>(tag);
  t.start(0.001, 0.001);
  loop.run();
  std::printf("timer stopped active=%d\n", t.is_active());
  t.set(10., 10.);
  t.start();
  std::printf("timer remaining>5 %d\n", t.remaining() > 5.);
  t.again();
  std::printf("timer again active=%d\n", t.is_active());
  t.set(20.); // while active: restarted
  std::printf("timer reset active=%d remaining>15 %d\n", t.is_active(), t.remaining() > 15.);
  t.stop();
}

// ---- periodic with an operator () object --------------------------------------------------------
struct tick {
  int n;
  void operator()(ev::periodic &w, int revents)
  {
    ++n;
    std::printf("periodic cb revents=%x n=%d\n", revents, n);
    w.stop();
  }
};

static void test_periodic(ev::loop_ref loop)
{
  tick k = {0};
  ev::periodic p(loop);
  p.set(&k);
  p.start(loop.now() + 0.002, 0.);
  loop.run();
  p.set(0., 3600.);
  p.start();
  p.again();
  std::printf("periodic interval active=%d\n", p.is_active());
  p.stop();
}

// ---- prepare/check/idle with argument-less member callbacks -------------------------------------
struct counters {
  int prep, chk, idl;
  ev::idle *idle_w;
  void on_prepare() { ++prep; }
  void on_check() { ++chk; }
  void on_idle()
  {
    if (++idl == 3)
      idle_w->stop();
  }
};

static void test_prepare_check_idle(ev::loop_ref loop)
{
  counters c = {0, 0, 0, 0};
  ev::prepare pw(loop);
  ev::check cw(loop);
  ev::idle iw(loop);
  c.idle_w = &iw;
  pw.set<counters, &counters::on_prepare>(&c);
  cw.set<counters, &counters::on_check>(&c);
  iw.set<counters, &counters::on_idle>(&c);
  pw.set();
  cw.set();
  iw.set();
  pw.start();
  cw.start();
  iw.start();
  loop.unref(); // prepare and check must not keep the loop alive
  loop.unref();
  loop.run();
  loop.ref();
  loop.ref();
  std::printf("prepare>=3 %d check>=3 %d idle=%d\n", c.prep >= 3, c.chk >= 3, c.idl);
  pw.stop();
  cw.stop();
}

// ---- signal ----------------------------------------------------------------------------------
void on_sig(ev::sig &w, int revents)
{
  std::printf("sig cb revents=%x signum=%d\n", revents, w.signum);
  w.stop();
}

static void test_signal(ev::loop_ref loop)
{
  ev::sig s(loop);
  s.set<on_sig>();
  s.start(SIGUSR1);
  raise(SIGUSR1);
  loop.run();
  s.set(SIGUSR2);
  std::printf("sig reconfigured signum=%d\n", s.signum);
}

// ---- child (default loop only) ----------------------------------------------------------------
void on_child(ev::child &w, int revents)
{
  std::printf("child cb revents=%x exited=%d status=%d pid-match=%d\n", revents,
              WIFEXITED(w.rstatus), WEXITSTATUS(w.rstatus), w.rpid == w.pid);
  w.stop();
}

static void test_child()
{
  ev::default_loop dl;
  pid_t pid = fork();
  if (pid == 0)
    _exit(7);
  ev::child c; // default loop
  c.set<on_child>();
  c.set(pid, 0);
  c.start();
  dl.run();
}

// ---- stat ------------------------------------------------------------------------------------
static void test_stat(ev::loop_ref loop)
{
  char path[] = "/tmp/evring-cxx-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, "12345", 5) != 5)
    std::abort();
  close(fd);
  ev::stat st(loop);
  st.start(path, 0.);
  st.update();
  std::printf("stat active=%d size=%d nlink=%d\n", st.is_active(), (int)st.attr.st_size,
              (int)st.attr.st_nlink);
  unlink(path);
  st.update();
  std::printf("stat after unlink nlink=%d\n", (int)st.attr.st_nlink);
  st.stop();
}

// ---- async, fork, embed ------------------------------------------------------------------------
void on_async(ev::async &w, int revents)
{
  std::printf("async cb revents=%x pending=%d\n", revents, w.async_pending());
  w.stop();
}

void on_embed(ev::embed &w, int)
{
  w.sweep();
}

static void test_async_fork_embed(ev::loop_ref loop)
{
  ev::async a(loop);
  a.set<on_async>();
  a.start();
  a.send();
  std::printf("async sent pending=%d\n", a.async_pending());
  loop.run();

  ev::fork f(loop);
  f.set();
  f.start();
  std::printf("fork active=%d\n", f.is_active());
  f.stop();

  unsigned int eb = ev::embeddable_backends() & ev::recommended_backends();
  if (eb) {
    ev::dynamic_loop inner(eb);
    ev::embed e(loop);
    e.set<on_embed>();
    e.set_embed(inner);
    e.start();
    std::printf("embed active=%d\n", e.is_active());
    e.sweep();
    e.stop();
  } else {
    std::printf("embed active=1\n");
  }
}

// ---- once ------------------------------------------------------------------------------------
struct once_target {
  int got;
  void with_revents(int revents) { got |= revents; std::printf("once member revents=%x\n", revents); }
  void no_args() { std::printf("once member noargs\n"); }
  void operator()(int revents) { std::printf("once functor revents=%x\n", revents); }
};
static void once_plain(int revents, void *arg)
{
  std::printf("once function revents=%x arg=%s\n", revents, (const char *)arg);
}
void once_simple(int revents) { std::printf("once simple revents=%x\n", revents); }
void once_simplest() { std::printf("once simplest\n"); }

static void test_once(ev::loop_ref loop)
{
  static char arg[] = "A";
  once_target o = {0};
  loop.once(-1, 0, 0.001, once_plain, arg);
  loop.run();
  loop.once<once_target, &once_target::with_revents>(-1, 0, 0.001, &o);
  loop.run();
  loop.once<once_target, &once_target::no_args>(-1, 0, 0.001, &o);
  loop.run();
  loop.once(-1, 0, 0.001, &o);
  loop.run();
  loop.once<once_simple>(-1, 0, 0.001);
  loop.run();
  loop.once<once_simplest>(-1, 0, 0.001);
  loop.run();
}

// ---- feeding events, loop queries -----------------------------------------------------------------
void on_fed(ev::io &w, int revents)
{
  std::printf("fed io revents=%x pending=%d\n", revents, w.is_pending());
}

static void test_feed(ev::loop_ref loop)
{
  int p[2];
  if (pipe(p) != 0)
    std::abort();
  ev::io w(loop);
  w.set<on_fed>();
  w.set(p[0], ev::READ); // never readable: only fed events arrive
  w.feed_event(ev::WRITE);
  std::printf("feed pending=%d\n", w.is_pending());
  loop.run(ev::NOWAIT);
  w.start();
  loop.feed_fd_event(p[0], ev::READ);
  loop.run(ev::NOWAIT | 0);
  w.stop();
  loop.feed_signal_event(SIGUSR2); // nobody watches: no effect
  loop.run(ev::NOWAIT);
  close(p[0]);
  close(p[1]);
}

struct depth_probe {
  void operator()(ev::timer &w, int)
  {
    std::printf("depth inside run=%u\n", w.loop.depth());
  }
};

static void test_queries(ev::loop_ref loop)
{
  unsigned int it = loop.iteration();
  loop.run(ev::NOWAIT);
  std::printf("iteration advanced %d depth=%u backend-nonzero=%d\n", loop.iteration() > it,
              loop.depth(), loop.backend() != 0);
  std::printf("now consistent %d\n", ev::now(loop) == loop.now());
  depth_probe d;
  ev::timer t(loop);
  t.set(&d);
  t.start(0.);
  loop.run();
  loop.set_io_collect_interval(0.);
  loop.set_timeout_collect_interval(0.);
  ev::delay(0.);
}

int main()
{
  setvbuf(stdout, 0, _IONBF, 0);
  constants();

  ev::default_loop dl(ev::AUTO);
  ev::loop_ref def = ev::get_default_loop();
  std::printf("default is_default=%d same=%d ptr-same=%d\n", def.is_default(), def == dl,
              (struct ev_loop *)def == ev_default_loop(0));

  ev::dynamic_loop loop;
  std::printf("dynamic is_default=%d differs=%d\n", loop.is_default(), loop != def);

  try {
    ev::dynamic_loop bad(ev::KQUEUE | ev::DEVPOLL | ev::PORT | ev::NOENV);
    say("bad_loop not thrown");
  } catch (const ev::bad_loop &e) {
    std::printf("bad_loop thrown what-nonempty=%d\n", std::strlen(e.what()) > 0);
  }

  // a watcher created for one loop and moved to another before starting
  {
    ev::timer t;
    std::printf("timer default loop=%d\n", t.loop == def);
    t.set(loop);
    std::printf("timer moved loop=%d\n", t.loop == loop);
  }

  test_io(loop);
  test_timer(loop);
  test_periodic(loop);
  test_prepare_check_idle(loop);
  test_signal(def);
  test_child();
  test_stat(loop);
  test_async_fork_embed(loop);
  test_once(loop);
  test_feed(loop);
  test_queries(loop);

  // post_fork on a loop we own
  loop.post_fork();
  loop.run(ev::NOWAIT);
  say("done");
  return 0;
}
