// extras.cc - parts of evring's ev++.h beyond what the C++ header of libev 4.33 offers (or
// where it does not compile): cleanup watchers, ev::CLEANUP / ev::CANCEL, invoking a watcher's
// callback directly, embed::start (loop), suspend/resume and friends.  Self-checking: prints
// "not ok" lines for failures, exits non-zero if any.
#include <ev++.h>

#include <cstdio>

static int failures;
static void expect(bool cond, const char *what)
{
  if (!cond) {
    ++failures;
    std::printf("not ok: %s\n", what);
  }
}

static int cleanup_calls;
void on_cleanup(ev::cleanup &, int revents)
{
  ++cleanup_calls;
  expect(revents == ev::CLEANUP, "cleanup revents");
}

static int direct_revents;
void on_direct(ev::timer &, int revents) { direct_revents = revents; }

static int embed_calls;
void on_embed(ev::embed &w, int)
{
  ++embed_calls;
  w.sweep();
}

int main()
{
  expect((int)ev::CLEANUP == (int)EV_CLEANUP, "ev::CLEANUP");
  expect((int)ev::CANCEL == (int)EVBREAK_CANCEL, "ev::CANCEL");

  {
    ev::dynamic_loop l;
    ev::cleanup c(l);
    c.set<on_cleanup>();
    c.start();
    expect(c.is_active(), "cleanup active");
    l.run(); // a cleanup watcher does not keep the loop alive
    c.stop();
  }
  expect(cleanup_calls == 0, "stopped cleanup watcher not called");
  {
    ev::dynamic_loop *l = new ev::dynamic_loop;
    ev::cleanup *c = new ev::cleanup(*l);
    c->set<on_cleanup>();
    c->start();
    delete l; // ev_loop_destroy runs the cleanup watcher
    expect(cleanup_calls == 1, "cleanup called on loop destruction");
    // the watcher belongs to a destroyed loop; release it without touching the loop
    ::operator delete(static_cast<void *>(c));
  }

  {
    ev::dynamic_loop l;
    ev::timer t(l);
    t.set<on_direct>();
    t();
    expect(direct_revents == ev::UNDEF, "operator () default revents");
    t(ev::TIMER);
    expect(direct_revents == ev::TIMER, "operator () revents");
    t.call(ev::READ);
    expect(direct_revents == ev::READ, "call ()");

    l.suspend();
    l.resume();
    l.now_update();
    l.verify();
    t.feed_event(ev::TIMER);
    expect(l.pending_count() == 1, "pending_count");
    l.invoke_pending();
    expect(l.pending_count() == 0 && direct_revents == ev::TIMER, "invoke_pending");

    l.break_loop(ev::ALL);
    l.break_loop(ev::CANCEL);
    l.run(ev::NOWAIT);
  }

  unsigned int eb = ev::embeddable_backends() & ev::recommended_backends();
  if (eb) {
    ev::dynamic_loop outer;
    ev::dynamic_loop inner(eb);
    ev::embed e(outer);
    e.set<on_embed>();
    e.start(inner);
    expect(e.is_active() && e.loop == outer && e.other == (struct ev_loop *)inner,
           "embed::start (loop)");
    e.stop();
  }

  std::printf(failures ? "extras FAILED\n" : "extras ok\n");
  return failures != 0;
}
