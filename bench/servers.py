"""bench/servers.py - the server rows of `make bench` (issue 10), run by bench/run.

Rows: HTTP/1.1 keep-alive "hello" under wrk (1 thread) at 1, 50 and 500 connections; echo under
bench/loadgen (closed loop: one message in flight per connection) at 1, 50 and 500 connections
x 64 B and 4 KiB messages. Row ids: http-c1 ... echo-4k-c500; `--only servers` selects them all.

Variants (alternating within every round, like the micro rows):
  evring.h io_uring   examples/{echo,http}-evring on evring, LIBEV_FLAGS=128 (ring mode)
  evring.h epoll      the same binary, LIBEV_FLAGS=4 (the readiness fallback)
  ev_io libev epoll   examples/{echo,http}-evio built against /usr/include/ev.h and -lev, on
                      Debian's libev.so.4, LIBEV_FLAGS=4: the baseline of every ratio
  ev_io evring uring  the same ev_io binary on evring's io_uring backend: what an unmodified
                      libev program gets
  liburing            bench/uring-{echo,http}.c, liburing alone: the ceiling

The server runs on one CPU and the client on another (taskset), a fresh server per run; the
server's mapped library and kernel object (io_uring or epoll fd) are checked in /proc. Per run:
requests (messages) per second, latency percentiles from the client, and the server's CPU time
(utime + stime of /proc/PID/stat, all its threads, over the client's whole run including warm-up
and connection set-up) divided by the requests of that whole run.
"""
import os
import re
import statistics
import subprocess
import tempfile
import time

VARIANTS = [  # id, title, program kind, library, LIBEV_FLAGS
    ("evring-ring", "evring.h io_uring", "evring", "evring", 128),
    ("evring-readiness", "evring.h epoll", "evring", "evring", 4),
    ("evio-libev", "ev_io libev epoll", "evio", "system", 4),
    ("evio-evring-uring", "ev_io evring io_uring", "evio", "evring", 128),
    ("liburing", "liburing", "uring", None, None),
]
BASE = "evio-libev"
TITLE = {v[0]: v[1] for v in VARIANTS}


def rows_for(only, smoke):
    rows = []
    for c in (1, 50, 500):
        rows.append(dict(id=f"http-c{c}", proto="http", conns=c, size=None,
                         title=f"HTTP hello, wrk -c{c}"))
    for size, name, text in ((64, "64", "64 B"), (4096, "4k", "4 KiB")):
        for c in (1, 50, 500):
            rows.append(dict(id=f"echo-{name}-c{c}", proto="echo", conns=c, size=size,
                             title=f"echo {text}, {c} conn{'s' if c > 1 else ''}"))
    if smoke:
        rows = [r for r in rows if r["id"] in ("http-c50", "echo-64-c50")]
    if only is not None:
        want = set(only.split(","))
        rows = [r for r in rows if "servers" in want or r["id"] in want]
    return rows


def ids():
    return [(r["id"], r["title"]) for r in rows_for(None, False)]


# ---- one run ------------------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of the whole process (every thread, live or ended), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinning():
    """(server cpu, client cpu) as taskset arguments, or None when fewer than 2 CPUs are ours."""
    cpus = sorted(os.sched_getaffinity(0))
    return (str(cpus[0]), str(cpus[1])) if len(cpus) >= 2 else None


def server_cmd(ctx, row, variant):
    kind, b = variant[2], ctx.build
    return {"evring": f"{b}/examples/{row['proto']}-evring", "evio": f"{b}/bench/{row['proto']}-evio",
            "uring": f"{b}/bench/uring-{row['proto']}"}[kind]


def server_env(ctx, h, variant):
    lib, flags = variant[3], variant[4]
    env = h.variant_env(ctx, lib or "system")
    if flags:
        env["LIBEV_FLAGS"] = str(flags)
    return env


def expected(ctx, variant):
    """(library path that must be mapped or None, kernel object the process must hold)."""
    kind, lib, flags = variant[2:]
    want_lib = None if kind == "uring" else ctx.evring_lib if lib == "evring" else ctx.system_lib
    obj = "anon_inode:[io_uring]" if (flags == 128 or kind == "uring") else "anon_inode:[eventpoll]"
    return want_lib, obj


def check_server(pid, want_lib, obj):
    problems = []
    try:
        if want_lib:
            with open(f"/proc/{pid}/maps") as f:
                libs = {l.split()[-1] for l in f if "libev.so" in l}
            if not any(os.path.realpath(x) == want_lib for x in libs):
                problems.append("libev mapped: " + (",".join(sorted(libs)) or "none"))
        kinds = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                kinds.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        if obj not in kinds:
            problems.append("no " + obj)
    except OSError as e:
        problems.append(str(e))
    return problems


def wrk_seconds(ctx):
    return max(1, int(round(ctx.srv_seconds)))  # wrk takes whole seconds


def client_cmd(ctx, row, port):
    if row["proto"] == "http":
        return ["wrk", "-t1", "-c", str(row["conns"]), "-d", f"{wrk_seconds(ctx)}s", "--latency",
                f"http://127.0.0.1:{port}/"]
    return [os.path.join(ctx.build, "bench", "loadgen"), "-c", str(row["conns"]), "-s", str(row["size"]),
            "-w", f"{ctx.srv_warmup:g}", "-d", f"{ctx.srv_seconds:g}", str(port)]


def wrk_time(v, unit):
    return float(v) * {"us": 1.0, "ms": 1e3, "s": 1e6}[unit]


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not m or not n:
        return None, "no Requests/sec in wrk's output"
    res = {"rate": float(m.group(1)), "total": int(n.group(1))}
    for q in ("50", "99"):
        p = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if p:
            res[f"p{q}_us"] = wrk_time(p.group(1), p.group(2))
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if e and sum(int(x) for x in e.groups()[:3]) > 0:
        return None, "wrk: " + e.group(0)
    if e and int(e.group(4)) > 0:
        res["timeouts"] = int(e.group(4))
    if re.search(r"Non-2xx or 3xx responses", out):
        return None, "wrk: non-2xx responses"
    return res, None


def parse_loadgen(h, out):
    d = h.parse_result(out)
    if not d or "msg_s" not in d:
        return None, "no result line from loadgen"
    return {"rate": float(d["msg_s"]), "total": int(d["total_msgs"]), "p50_us": float(d["p50_us"]),
            "p99_us": float(d["p99_us"])}, None


def tail(f):
    f.seek(0)
    return f.read().decode(errors="replace").strip()[-300:]


def run_once(ctx, h, row, variant):
    pin = pinning()
    want_lib, obj = expected(ctx, variant)
    env = server_env(ctx, h, variant)
    srv = None
    for _ in range(5):
        port = h.free_port()
        cmd = ([ "taskset", "-c", pin[0]] if pin else []) + [server_cmd(ctx, row, variant), str(port)]
        errf = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on it
        srv = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errf,
                               preexec_fn=h.child_setup)
        h.servers.add(srv)
        t0 = time.time()
        while time.time() - t0 < 5 and srv.poll() is None and not h.listening(port):
            time.sleep(0.02)
        if srv.poll() is None and h.listening(port):
            break
        rc = h.stop_server(srv)
        if rc is not None and rc != 0:
            return dict(status=h.classify(rc), where="server start", stderr=tail(errf))
        srv = None
    if srv is None:
        return dict(status="error", where="server did not listen")
    try:
        problems = check_server(srv.pid, want_lib, obj)
        if problems:
            return dict(status="error", where="server check: " + "; ".join(problems))
        ccmd = (["taskset", "-c", pin[1]] if pin else []) + client_cmd(ctx, row, port)
        cpu0 = cpu_seconds(srv.pid)
        rc, out, err, to = h.run_capture(ccmd, h.variant_env(ctx, "system"),
                                         ctx.srv_seconds + ctx.srv_warmup + 30)
        cpu1 = cpu_seconds(srv.pid)
        if srv.poll() is not None:
            return dict(status=h.classify(srv.returncode), where="server died",
                        stderr=tail(errf))
        if to or rc != 0:
            return dict(status=h.classify(rc, to) if to or rc != 1 else "fail", where="client",
                        stderr=(err or out).strip()[-300:])
        res, why = parse_wrk(out) if row["proto"] == "http" else parse_loadgen(h, out)
        if res is None:
            return dict(status="fail", where=why, stderr=(err or out).strip()[-300:])
        res["cpu_us_req"] = (cpu1 - cpu0) * 1e6 / res["total"] if res["total"] else None
        # SIGTERM ends every server's loop and it exits 0; anything else is a failure.
        srv.terminate()
        try:
            src = srv.wait(5)
        except subprocess.TimeoutExpired:
            return dict(status="timeout", where="server did not exit on SIGTERM")
        if src != 0:
            return dict(status=h.classify(src), where=f"server exit status {src}",
                        stderr=tail(errf))
        return dict(status="ok", values=res)
    finally:
        h.stop_server(srv)


# ---- the matrix ---------------------------------------------------------------------------

def run_rows(ctx, h, rows):
    """-> {row id: {variant id: [run dicts]}}; logs one line per round."""
    have_wrk = h.which("wrk") is not None
    results = {}
    for row in rows:
        res = results[row["id"]] = {v[0]: [] for v in VARIANTS}
        if row["proto"] == "http" and not have_wrk:
            h.log(f"[{row['id']}] wrk not installed (apt-get install wrk): n/a")
        for rnd in range(ctx.srv_rounds):
            parts = []
            for v in VARIANTS:
                if (v[4] == 128 and not ctx.evring_uring) or (row["proto"] == "http" and not have_wrk):
                    r = dict(status="n/a")
                else:
                    r = run_once(ctx, h, row, v)
                res[v[0]].append(r)
                if r["status"] == "ok":
                    parts.append(f"{v[0]} {fmt_rate(r['values']['rate'])} "
                                 f"{r['values']['cpu_us_req']:.1f}us/req")
                else:
                    parts.append(f"{v[0]} {r['status']}")
                    if r["status"] != "n/a":
                        h.log(f"    {v[0]}: {r.get('where', '')} {(r.get('stderr') or '').splitlines()[-1:]}")
            h.log(f"[{row['id']} round {rnd + 1}/{ctx.srv_rounds}] " + " | ".join(parts))
    return results


def median(runs, key):
    vals = [r["values"][key] for r in runs if r["status"] == "ok" and r["values"].get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt_rate(v):
    if v is None:
        return "-"
    return f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"


def cell(runs, key, base, fmt):
    """Text of one table cell: median, ratio to the baseline, failures."""
    fails = [r["status"] for r in runs if r["status"] != "ok"]
    med = median(runs, key)
    if med is None:
        return (max(set(fails), key=fails.count) if fails else "-"), None
    ratio = med / base if base else None
    text = fmt(med) + (f" ({ratio:.2f})" if ratio is not None else "")
    if fails:
        text += f" *{len(fails)}x{max(set(fails), key=fails.count)}"
    return text, ratio


def build_tables(rows, results):
    """-> dict of three tables (rate, CPU per request, p99 latency): (header, body), and ratios."""
    hdr = ["workload"] + [v[1] for v in VARIANTS]
    tables = {"rate": [], "cpu": [], "p99": []}
    ratios = {}
    for row in rows:
        runs = results[row["id"]]
        unit = "req/s" if row["proto"] == "http" else "msg/s"
        for name, key, fmt in (("rate", "rate", fmt_rate), ("cpu", "cpu_us_req", lambda x: f"{x:.2f}"),
                               ("p99", "p99_us", lambda x: f"{x:.0f}")):
            base = median(runs[BASE], key)
            line = [row["title"] + (f" ({unit})" if name == "rate" else "")]
            for v in VARIANTS:
                text, ratio = cell(runs[v[0]], key, base if v[0] != BASE else None, fmt)
                line.append(text)
                if name == "rate":
                    ratios.setdefault(row["id"], {})[v[0]] = ratio
            tables[name].append(line)
    return hdr, tables, ratios


def goals(rows, results, ratios):
    """Issue 10's goals, each -> (text, met or None when not measured)."""
    out = []

    def rate(rid, vid):
        return median(results[rid][vid], "rate")

    c500 = [r["id"] for r in rows if r["conns"] == 500]
    c1 = [r["id"] for r in rows if r["conns"] == 1]
    for rid in c500:
        r = ratios[rid].get("evring-ring")
        out.append((f"{rid}: evring.h io_uring >= 1.5x baseline", None if r is None else r >= 1.5,
                    "-" if r is None else f"{r:.2f}x"))
    for rid in c500:
        a, b = rate(rid, "evring-ring"), rate(rid, "liburing")
        r = a / b if a and b else None
        out.append((f"{rid}: evring.h io_uring within 5 % of liburing", None if r is None else r >= 0.95,
                    "-" if r is None else f"{r:.2f}"))
    for rid in c1:
        r = ratios[rid].get("evring-ring")
        out.append((f"{rid}: evring.h io_uring not slower than baseline", None if r is None else r >= 1.0,
                    "-" if r is None else f"{r:.2f}x"))
    for row in rows:
        r = ratios[row["id"]].get("evring-readiness")
        out.append((f"{row['id']}: evring.h epoll not slower than baseline", None if r is None else r >= 1.0,
                    "-" if r is None else f"{r:.2f}x"))
    return out


def render(h, rows, results):
    hdr, tables, ratios = build_tables(rows, results)
    lines = []
    for name, what in (("rate", "requests (messages) per second, higher is better"),
                       ("cpu", "server CPU µs per request (utime+stime / requests), lower is better"),
                       ("p99", "p99 latency µs (client side), lower is better")):
        lines.append(f"\nservers: {what}; (ratio to {TITLE[BASE]})")
        lines.append(h.render_grid(hdr, tables[name]))
    g = goals(rows, results, ratios)
    met = sum(1 for _, ok, _ in g if ok)
    lines.append(f"\nissue 10 goals: {met}/{len(g)} met")
    for text, ok, val in g:
        lines.append(f"  {'met   ' if ok else 'MISSED' if ok is not None else 'n/a   '} {val:>6}  {text}")
    return "\n".join(lines), (hdr, tables, g)


def markdown(ctx, h, rows, results, started, elapsed):
    hdr, tables, ratios = build_tables(rows, results)
    g = goals(rows, results, ratios)
    m = ctx.machine
    pin = pinning()
    L = ["# Server benchmarks: evring.h and ev_io servers, evring vs Debian's libev 4.33", "",
         "Generated by `make bench-servers` or `make bench` (`bench/run`, `bench/servers.py`); "
         "do not edit by hand, re-run instead.", "",
         f"- date: {started.strftime('%Y-%m-%d %H:%M:%S %Z').strip()} (server rows took {elapsed / 60:.1f} min)",
         f"- machine: Linux {m['kernel']}, CPU {m['cpu']}, nproc {m['nproc']}, load average at start {m['load']}",
         f"- evring: git {m['git']}",
         f"- settings: {ctx.srv_rounds} rounds, variants alternating per round; each run "
         f"{ctx.srv_seconds:g} s (echo: + {ctx.srv_warmup:g} s warm-up, not measured); "
         + (f"server on CPU {pin[0]}, client on CPU {pin[1]} (taskset)" if pin else "no pinning (one CPU)"),
         "", "**A shared virtual machine: compare ratios within one run, not across runs. The "
         "clients (wrk, loadgen) are single-threaded epoll programs on one CPU: where the server "
         "needs less CPU per request than the client, the client sets the rate, and the CPU per "
         "request shows the server's cost.**", ""]
    for name, what in (("rate", "Requests (messages) per second, medians; (ratio to ev_io on Debian's libev epoll)"),
                       ("cpu", "Server CPU per request, µs (utime + stime of all its threads over the whole client run / requests of that run)"),
                       ("p99", "p99 latency, µs, as the client measured it")):
        L += [f"## {what}", "", h.md_table(hdr, tables[name]), ""]
    L += ["## Issue 10's goals", "", h.md_table(["goal", "measured", "met"],
                                                 [[t, v, "yes" if ok else "no" if ok is not None else "n/a"]
                                                  for t, ok, v in g]), ""]
    L += ["## Variants", ""]
    L += ["- **evring.h io_uring**: `examples/echo-evring.c` / `examples/http-evring.c` on evring with "
          "`LIBEV_FLAGS=128`: multishot accept, multishot recv into evring's buffer ring, send, through the ring.",
          "- **evring.h epoll**: the same binaries with `LIBEV_FLAGS=4`: evring.h's readiness fallback "
          "(epoll plus non-blocking recv/send/accept4).",
          "- **ev_io libev epoll** (baseline): `examples/echo-evio.c` / `examples/http-evio.c` (plain `ev_io`, "
          "read/write), compiled against `/usr/include/ev.h`, on Debian's libev.so.4 with `LIBEV_FLAGS=4`.",
          "- **ev_io evring io_uring**: the same ev_io binaries on evring's io_uring backend (readiness "
          "through the ring): what an unmodified libev program gets.",
          "- **liburing**: `bench/uring-echo.c` / `bench/uring-http.c`, liburing alone in the style of its "
          "examples (multishot accept, multishot recv with a provided-buffer ring, send): the ceiling.", ""]
    L += ["## Workloads", "",
          f"- **HTTP hello**: `wrk -t1 -cN -d{wrk_seconds(ctx)}s --latency`, HTTP/1.1 keep-alive GET, "
          "a 70-byte response.",
          "- **echo**: `bench/loadgen -c N -s SIZE`: N connections, each with one message in flight "
          "(sends SIZE bytes, waits for the whole echo and checks it, sends the next); rate of the "
          "measured phase, latency from the first byte sent to the last byte received.", "",
          "Running it: `make bench-servers` (these rows only, writes this file; about "
          f"{len(rows_for(None, False)) * len(VARIANTS) * 3 * 2.7 / 60:.0f} min with 3 rounds of 2 s runs) or "
          "`make bench` (everything). `make bench BENCH_ARGS='--only http-c500,echo-64-c500 --no-docs'` "
          "runs some rows. Needs wrk (Debian package wrk).", ""]
    with open(os.path.join(ctx.root, "docs", "benchmarks-servers.md"), "w") as f:
        f.write("\n".join(L))
