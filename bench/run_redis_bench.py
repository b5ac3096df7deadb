#!/usr/bin/env python3
"""Compare upstream Dramatiq and dramatiq-cpp on RedisBroker.

Starts its own redis-server (/usr/bin/redis-server, a free loopback port, a
temp dir, ``--save "" --appendonly no``), then runs bench/redis_bench.py in a
fresh process per run, for both implementations, alternating which goes
first every round, with FLUSHALL before every run.  Prints medians, ratios
and min-max ranges per benchmark; stops redis-server by PID at the end.

Interpreters:

  * ours: by default ``pip install .`` of a clean copy of HEAD in
    bench/.venvs/ours (see ours_install.py; --ours-rev names another commit);
    explicitly instead --ours-python (an interpreter with ours installed)
    and/or --ours-pythonpath (a development tree, e.g. <checkout>/python
    with a built ``_engine``);
  * upstream: --upstream-python, else <repo>/.venv-upstream/bin/python
    (scripts/setup.sh creates it), else bench/.venv-upstream (created on
    first use with dramatiq==2.2.1 and redis from PyPI, as run_stub_bench.py
    does).  Upstream children run without PYTHONPATH.

Exit status: 0 success, 1 a run failed, 2 setup problem.
"""

import argparse
import csv
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SCRIPT = BENCH_DIR / "redis_bench.py"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO_ROOT / "tests" / "python"))

import ours_install  # noqa: E402
import run_stub_bench as stub  # noqa: E402  (probe, venv helper, child env)
from redis_resp import Resp  # noqa: E402
from redis_support import RedisServer  # noqa: E402

UPSTREAM, OURS = stub.UPSTREAM, stub.OURS
log = stub.log

BENCHES = ("throughput", "send", "group", "latency")

# bench -> [(key, label, better)]
METRICS = {
    "throughput": [
        ("throughput", "throughput (msg/s)", "higher"),
        ("drain_seconds", "drain time (s)", "lower"),
        ("worker_cpu_seconds", "worker CPU over drain (s)", "lower"),
        ("redis_cpu_seconds", "redis-server CPU over drain (s)", "lower"),
        ("worker_cpu_per_10k", "worker CPU per 10k msgs (s)", "lower"),
        ("redis_cpu_per_10k", "redis-server CPU per 10k msgs (s)", "lower"),
        ("worker_cpu_util", "worker CPU / wall (cores)", "-"),
        ("redis_cpu_util", "redis-server CPU / wall (cores)", "-"),
        ("peak_rss_mb", "worker peak RSS (MiB)", "lower"),
        ("prefill_rate", "prefill rate (msg/s, untimed)", "higher"),
        ("stop_seconds", "worker.stop() (s)", "lower"),
    ],
    "send": [
        ("send_us", "actor.send (us each)", "lower"),
        ("send_rate", "actor.send (sends/s)", "higher"),
        ("send_cpu_us", "producer CPU per send (us)", "lower"),
    ],
    "group": [
        ("group_ms", "group(1000).run() (ms)", "lower"),
        ("group_rate", "group enqueue rate (msg/s)", "higher"),
    ],
    "latency": [
        ("p50_ms", "send->start p50 (ms)", "lower"),
        ("p90_ms", "send->start p90 (ms)", "lower"),
        ("p99_ms", "send->start p99 (ms)", "lower"),
        ("max_ms", "send->start max (ms)", "lower"),
        ("first_ms", "first send after idle (ms)", "lower"),
        ("send_p50_ms", "send() call itself p50 (ms)", "lower"),
    ],
}


def env_for(kind, ours_pythonpath):
    return stub.child_env(kind, ours_pythonpath)  # PYTHONPATH only for ours, only if given


def probe_ours(python, pythonpath, attempts=3):
    """stub.probe under our PYTHONPATH; retried, since a development tree
    (--ours-pythonpath) may be mid-rebuild for a moment."""
    for attempt in range(attempts):
        env = env_for(OURS, pythonpath)
        try:
            proc = subprocess.run([str(python), "-c", stub.PROBE], cwd=str(BENCH_DIR), env=env,
                                  capture_output=True, text=True, timeout=120)
            info = json.loads(proc.stdout.strip().splitlines()[-1])
        except Exception as e:  # noqa: BLE001
            info = {"error": "%s: %s" % (type(e).__name__, e)}
        if "error" not in info:
            return info
        if attempt < attempts - 1:
            log("  `import dramatiq` failed for ours (%s); retrying in 5 s" % info["error"])
            time.sleep(5)
    return info


ENGINE_PROBE = r"""
import json, os, time
import dramatiq._engine as e
path = os.path.realpath(e.__file__)
print(json.dumps({"path": path,
                  "built": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))}))
"""


def engine_build(python, pythonpath):
    """Where our compiled engine lives and when it was built (a development
    tree is rebuilt now and then, so the commit alone does not say what ran)."""
    try:
        proc = subprocess.run([str(python), "-c", ENGINE_PROBE], cwd=str(BENCH_DIR),
                              env=env_for(OURS, pythonpath), capture_output=True, text=True, timeout=60)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        return None


def upstream_ok(python):
    info = stub.probe(python, UPSTREAM)
    if "error" in info:
        return None
    try:
        proc = subprocess.run([str(python), "-c", "import redis"], env=stub.child_env(UPSTREAM),
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or info.get("implementation") != UPSTREAM:
        return None
    return info


def resolve_upstream(args):
    """(python, info) for upstream Dramatiq with redis-py; SystemExit on failure."""
    if args.upstream_python:
        info = upstream_ok(args.upstream_python)
        if info is None:
            raise SystemExit("error: --upstream-python %s does not import upstream dramatiq and redis: %s"
                             % (args.upstream_python, stub.probe(args.upstream_python, UPSTREAM)))
        return args.upstream_python, info
    setup_venv = REPO_ROOT / ".venv-upstream" / "bin" / "python"
    if setup_venv.exists():
        info = upstream_ok(setup_venv)
        if info is not None and info.get("version") == stub.UPSTREAM_VERSION:
            return str(setup_venv), info
        log("note: %s is not usable for this benchmark; falling back to %s" % (setup_venv, args.venv))
    py = stub.ensure_upstream_venv(Path(args.venv), sys.executable)
    if upstream_ok(py) is None:
        r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "redis"])
        if r.returncode != 0:
            raise SystemExit("error: pip install redis into %s failed" % args.venv)
    info = upstream_ok(py)
    if info is None:
        raise SystemExit("error: %s cannot import dramatiq and redis" % py)
    return str(py), info


def redis_benchmark_ping(port):
    """Loopback round trip as redis-benchmark (C client, 1 connection) sees it."""
    exe = shutil.which("redis-benchmark")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), "-t", "ping", "-c", "1",
                              "-n", "50000", "--csv"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    rows = {r["test"]: r for r in csv.DictReader(io.StringIO(out))}
    r = rows.get("PING_MBULK") or rows.get("PING_INLINE")
    if not r:
        return None
    rps = float(r["rps"])
    return {"rps": rps, "us_per_ping": 1e6 / rps, "p50_ms": float(r["p50_latency_ms"]),
            "p99_ms": float(r["p99_latency_ms"])}


def python_ping(port, n=20000):
    """Loopback round trip from Python (this interpreter, raw socket)."""
    with Resp("127.0.0.1", port) as c:
        for _ in range(200):
            c.command("PING")
        t0 = time.perf_counter()
        for _ in range(n):
            c.command("PING")
        return (time.perf_counter() - t0) / n * 1e6


def run_once(python, kind, bench, args, server, n):
    cmd = [str(python), str(SCRIPT), "--mode", bench, "--url", server.url, "--redis-pid", str(server.pid),
           "--threads", str(args.threads), "--worker-timeout", str(args.worker_timeout)]
    if bench == "throughput":
        cmd += ["--messages", str(n), "--prefill", args.prefill, "--poll-ms", str(args.poll_ms)]
    elif bench == "send":
        cmd += ["--messages", str(n)]
    elif bench == "group":
        cmd += ["--group-size", str(args.group_size), "--reps", str(n)]
    elif bench == "latency":
        cmd += ["--messages", str(n), "--idle-seconds", str(args.idle_seconds)]
    for attempt in range(3):
        with Resp("127.0.0.1", server.port) as c:
            c.command("FLUSHALL")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=str(BENCH_DIR), env=env_for(kind, args.ours_pythonpath),
                                  capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired as e:
            tail = (e.stderr or b"")[-3000:]
            return None, "timed out after %ss; command: %s\nstderr tail: %s" % (args.timeout, " ".join(cmd), tail)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 and kind == OURS and "ImportError" in proc.stderr and attempt < 2:
            log("  import failed (build-dev being rebuilt?); retrying in 5 s")
            time.sleep(5)
            continue
        break
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            pass
    if proc.returncode != 0 or result is None:
        return result, "exit %d; command: %s\nstderr tail:\n%s" % (
            proc.returncode, " ".join(cmd), proc.stderr.strip()[-3000:])
    result["wall_seconds"] = wall
    if result.get("log_warnings"):
        log("  note: %d warning/error log record(s), first: %s" % (result["log_warnings"], result["log_first"]))
    return result, None


def fmt(v, key):
    if v is None:
        return "-"
    if key in ("throughput", "send_rate", "group_rate", "prefill_rate"):
        return "{:,.0f}".format(v)
    if key in ("send_us", "send_cpu_us", "peak_rss_mb"):
        return "{:.1f}".format(v)
    if key.endswith("_ms"):
        return "{:.3f}".format(v) if v < 10 else "{:.1f}".format(v)
    return "{:.3f}".format(v)


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def print_table(bench, runs, kinds, counts):
    print()
    desc = {
        "throughput": "no-op actor, 1 process x %d worker threads, messages pre-enqueued" % ARGS.threads,
        "send": "actor.send() loop, one thread",
        "group": "group of %d messages .run(), median of each run's reps" % ARGS.group_size,
        "latency": "idle worker, one message at a time, send -> actor start",
    }[bench]
    print("== %s: %s ==" % (bench, desc))
    print("   per run: " + ", ".join("%s %s=%d, runs=%d" % (k, {"group": "reps"}.get(bench, "N"), counts[k],
                                                            len(runs[k])) for k in kinds))
    header = ["metric", "better", "upstream med", "ours med", "ours/upst", "upstream min-max", "ours min-max"]
    rows = []
    for key, label, better in METRICS[bench]:
        um, ul, uh = summarize([r.get(key) for r in runs.get(UPSTREAM, [])])
        om, ol, oh = summarize([r.get(key) for r in runs.get(OURS, [])])
        ratio = "{:.2f}x".format(om / um) if um and om is not None else "-"
        rows.append([label, better, fmt(um, key), fmt(om, key), ratio,
                     "-" if ul is None else "%s-%s" % (fmt(ul, key), fmt(uh, key)),
                     "-" if ol is None else "%s-%s" % (fmt(ol, key), fmt(oh, key))])
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


ARGS = None


def main(argv=None):
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round, 10000/2000 messages, 1000 sends, 3 group reps, 200 latency sends")
    p.add_argument("--repeat", type=int, help="rounds (default 5; 1 with --quick)")
    p.add_argument("--bench", default=",".join(BENCHES), help="comma-separated subset of %s" % ",".join(BENCHES))
    p.add_argument("--messages", type=int, help="throughput: messages for ours (default 100000)")
    p.add_argument("--upstream-messages", type=int,
                   help="throughput: messages for upstream (default 20000: upstream drains ~2k msg/s)")
    p.add_argument("--sends", type=int, help="send: sends per run (default 10000)")
    p.add_argument("--group-size", type=int, default=1000, help="group: messages per group (default 1000)")
    p.add_argument("--group-reps", type=int, help="group: timed group runs per process (default 10)")
    p.add_argument("--latency-sends", type=int, help="latency: measured sends (default 1000)")
    p.add_argument("--idle-seconds", type=float, default=1.0, help="latency: idle time before sending (default 1)")
    p.add_argument("--threads", type=int, default=8, help="worker_threads (default 8)")
    p.add_argument("--worker-timeout", type=int, default=100,
                   help="worker_timeout in ms, both sides (default 100; upstream's own default is 1000)")
    p.add_argument("--prefill", choices=("group", "send"), default="group",
                   help="throughput: how each side pre-enqueues its messages (default group batches of 1000)")
    p.add_argument("--poll-ms", type=float, default=2.0, help="throughput: drain poll interval (default 2 ms)")
    p.add_argument("--upstream-python", help="interpreter with upstream dramatiq 2.2.1 and redis-py")
    p.add_argument("--venv", default=str(stub.DEFAULT_VENV), help="fallback upstream venv (bench/.venv-upstream)")
    ours_install.add_arguments(p)
    p.add_argument("--timeout", type=float, default=600, help="per-run time limit, s (default 600)")
    p.add_argument("--json", metavar="PATH", help="also write all raw results to PATH")
    p.add_argument("--same-core", action="store_true",
                   help="run redis-server, the benchmark processes and the ping measurement on CPU 0 "
                        "only (shows what a round trip costs without a cross-core wake-up)")
    args = ARGS = p.parse_args(argv)

    quick = args.quick
    repeat = args.repeat or (1 if quick else 5)
    counts = {
        "throughput": {OURS: args.messages or (10000 if quick else 100000),
                       UPSTREAM: args.upstream_messages or (2000 if quick else 20000)},
        "send": {OURS: args.sends or (1000 if quick else 10000)},
        "group": {OURS: args.group_reps or (3 if quick else 10)},
        "latency": {OURS: args.latency_sends or (200 if quick else 1000)},
    }
    for b in ("send", "group", "latency"):
        counts[b][UPSTREAM] = counts[b][OURS]
    benches = [b.strip() for b in args.bench.split(",") if b.strip()]
    for b in benches:
        if b not in BENCHES:
            p.error("unknown benchmark %r" % b)

    try:
        ours_install.choose_python(args)
    except SystemExit as e:
        log(str(e))
        return 2
    info = probe_ours(args.ours_python, args.ours_pythonpath)
    if "error" in info:
        log("error: `import dramatiq` fails for ours (%s, PYTHONPATH=%s): %s"
            % (args.ours_python, args.ours_pythonpath, info["error"]))
        return 2
    if info["implementation"] != OURS:
        log("error: ours imports upstream dramatiq from %s" % info.get("file"))
        return 2
    log("ours:     %s PYTHONPATH=%s -> %s (%s)" % (args.ours_python, args.ours_pythonpath or "-",
                                                   info["implementation"], info.get("file")))
    engine = engine_build(args.ours_python, args.ours_pythonpath)
    if engine:
        log("          engine %s, built %s" % (engine["path"], engine["built"]))
    try:
        up_py, up_info = resolve_upstream(args)
    except SystemExit as e:
        log(str(e))
        return 2
    log("upstream: %s -> %s %s (%s)" % (up_py, up_info["implementation"], up_info.get("version"),
                                        up_info.get("file")))
    pythons = {OURS: args.ours_python, UPSTREAM: up_py}
    machine = {}
    kinds = [UPSTREAM, OURS]

    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h %s"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    if args.same_core:
        # Inherited by redis-server, every benchmark process and redis-benchmark.
        os.sched_setaffinity(0, {0})
        log("--same-core: everything runs on CPU 0")
    server = RedisServer()
    server.start()
    all_results = []
    failures = 0
    per_bench = {}
    try:
        with Resp("127.0.0.1", server.port) as c:
            redis_version = c.info("server").get("redis_version")
        rtt = redis_benchmark_ping(server.port)
        py_rtt = python_ping(server.port)
        machine = {
            "host": platform.platform(), "nproc": os.cpu_count(), "python": platform.python_version(),
            "redis_version": redis_version, "commit": commit, "loadavg": os.getloadavg(),
            "redis_benchmark_ping": rtt, "python_ping_us": py_rtt, "engine": engine,
            "same_core": args.same_core,
        }
        log("host: %s, %d CPUs, load avg %.2f %.2f %.2f; CPython %s; redis-server %s (pid %d, port %d)"
            % (machine["host"], machine["nproc"], *machine["loadavg"], machine["python"], redis_version,
               server.pid, server.port))
        log("commit: %s" % commit)
        if rtt:
            log("loopback round trip: redis-benchmark -t ping -c 1: %.0f req/s = %.1f us/ping (p50 %.3f ms)"
                % (rtt["rps"], rtt["us_per_ping"], rtt["p50_ms"]))
        log("loopback round trip from Python (raw socket PING loop): %.1f us" % py_rtt)
        log("worker: worker_threads=%d worker_timeout=%d ms; rounds=%d; benches=%s"
            % (args.threads, args.worker_timeout, repeat, ",".join(benches)))

        for bench in benches:
            runs = {k: [] for k in kinds}
            for i in range(repeat):
                order = kinds if i % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    n = counts[bench][kind]
                    log("[%s %d/%d] %s (n=%d) ..." % (bench, i + 1, repeat, kind, n))
                    result, err = run_once(pythons[kind], kind, bench, args, server, n)
                    if err is None and result.get("implementation") != kind:
                        err = "expected %s, run reported %s" % (kind, result.get("implementation"))
                    if err is not None:
                        failures += 1
                        log("  FAILED: %s" % err)
                        if result and result.get("errors"):
                            log("  errors: %s" % result["errors"])
                        continue
                    key = METRICS[bench][0][0]
                    extra = ""
                    if bench == "throughput":
                        extra = ", worker CPU %.2f s, redis CPU %.2f s, peak RSS %.1f MiB" % (
                            result["worker_cpu_seconds"], result["redis_cpu_seconds"], result["peak_rss_mb"])
                    elif bench == "latency":
                        extra = ", p99 %s ms" % fmt(result["p99_ms"], "p99_ms")
                    log("  %s %s%s" % (key, fmt(result[key], key), extra))
                    result.update(kind=kind, round=i, bench=bench)
                    runs[kind].append(result)
                    all_results.append(result)
            per_bench[bench] = runs
            print_table(bench, runs, kinds, counts[bench])
        print()
        print("ratio = ours median / upstream median; rates >1x and times/CPU/RSS <1x mean ours is better.")
        if rtt:
            print("loopback round trip (redis-benchmark -t ping -c 1): %.1f us; from Python: %.1f us"
                  % (rtt["us_per_ping"], py_rtt))
        sys.stdout.flush()
    finally:
        server_log = server.log()
        server.close()
    # "#" marks redis-server's warning level; the overcommit notice is about
    # background saves, which this server never does.
    bad = [ln for ln in server_log.splitlines()
           if " # " in ln and "overcommit" not in ln and "WARNING" in ln.upper()]
    if bad:
        log("redis-server log warnings:\n  " + "\n  ".join(bad[:10]))

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "counts": counts, "repeat": repeat, "pythons": pythons,
                       "worker_threads": args.threads, "worker_timeout": args.worker_timeout,
                       "results": all_results}, f, indent=2)
        log("raw results written to %s" % args.json)
    if failures:
        log("error: %d run(s) failed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
