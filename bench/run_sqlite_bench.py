#!/usr/bin/env python3
"""dramatiq-cpp's embedded SQLite broker against upstream Dramatiq 2.2.1 on
Redis and on RabbitMQ, and against the embedded-SQLite peers Huey
(SqliteHuey) and taskito, in one run on one machine.

Systems, and the harness each one runs (a fresh process per run):

  * ours, ours-durable: bench/sqlite_bench.py, ``SQLiteBroker`` on a new
    file per run (default durability / ``durable=True``), in bench/.venvs/ours
    (``pip install .`` of a clean copy of --ours-rev, see ours_install.py) or
    --ours-python / --ours-pythonpath.
  * upstream-redis: a private redis-server (as run_redis_bench.py);
    throughput, send and group with bench/redis_bench.py, latency with
    bench/sqlite_bench.py --broker-url (the worker in another process, as for
    ours).  Recovery only with --redis-recovery: upstream returns a dead
    worker's messages after its 60 s heartbeat timeout, at a maintenance pass.
  * upstream-rabbitmq: a private rabbitmq-server (bench/rabbitmq_server.py)
    and bench/sqlite_bench.py --broker-url amqp://..., upstream with pika
    (bench/.venvs/dramatiq-rabbitmq).  Runs when dramatiq-cpp's RabbitMQ
    broker is on main (python/dramatiq/brokers/rabbitmq.py) or with
    --rabbitmq; skipped with a note otherwise or when the Debian package is
    missing.
  * ours-peer, huey-sqlite, taskito: bench/peer_bench.py (the peer
    benchmark's harness: each system's own worker command, completions
    counted by the actors, time-boxed) with adapters on an SQLite file:
    peers/tasks_dramatiq_sqlite.py, tasks_huey_sqlite.py, tasks_taskito.py;
    venvs from pinned PyPI packages (peer_systems.SQLITE_PEERS).

Ratios are ours / the other system: ours (default durability) for the
sqlite_bench/redis_bench rows, ours-peer for the peer-harness rows.  Goals
(issue 14) are checked against ours at the end.

    python3 bench/run_sqlite_bench.py            # full: 3 rounds
    python3 bench/run_sqlite_bench.py --quick    # smoke test, < 3 min

Exit status: 0 success, 1 a run failed, 2 setup problem.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SCRIPT = BENCH_DIR / "sqlite_bench.py"
PEER_HARNESS = BENCH_DIR / "peer_bench.py"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO_ROOT / "tests" / "python"))

import ours_install  # noqa: E402
import peer_systems as ps  # noqa: E402
import rabbitmq_server  # noqa: E402
import run_redis_bench as rrb  # noqa: E402
import run_stub_bench as stub  # noqa: E402
from redis_resp import Resp  # noqa: E402
from redis_support import RedisServer  # noqa: E402

log = stub.log
BENCHES = ("throughput", "send", "group", "latency", "recovery")
RABBITMQ_REQUIREMENTS = ["dramatiq==2.2.1", "pika==1.4.4"]

# key, label, harness.  "sqlite": sqlite_bench.py; "redis": redis_bench.py
# (+ sqlite_bench.py --broker-url for latency); "peer": peer_bench.py.
SYSTEMS = [
    ("ours", "dramatiq-cpp SQLite (default)", "sqlite"),
    ("ours-durable", "dramatiq-cpp SQLite (durable=True)", "sqlite"),
    ("upstream-redis", "Dramatiq 2.2.1 on Redis", "redis"),
    ("upstream-rabbitmq", "Dramatiq 2.2.1 on RabbitMQ", "sqlite"),
    ("ours-peer", "dramatiq-cpp SQLite (default), peer harness", "peer"),
    ("huey-sqlite", "Huey 3.5.4 SqliteHuey, peer harness", "peer"),
    ("taskito", "taskito 0.22.0 (SQLite), peer harness", "peer"),
]
LABELS = {k: label for k, label, _ in SYSTEMS}
HARNESS = {k: h for k, _, h in SYSTEMS}
PEER_ADAPTERS = {"ours-peer": "tasks_dramatiq_sqlite", "huey-sqlite": "tasks_huey_sqlite",
                 "taskito": "tasks_taskito"}
PEER_MODE = {"throughput": "noop", "send": "send", "group": "batch", "latency": "latency"}

# bench -> [(result key, label, better)]; the first is the headline.
METRICS = {
    "throughput": [
        ("throughput", "msg/s", "higher"),
        ("worker_cpu_per_10k", "worker CPU s/10k", "lower"),
        ("server_cpu_per_10k", "server CPU s/10k", "lower"),
        ("peak_rss_mb", "peak RSS MiB", "lower"),
    ],
    "send": [
        ("send_us", "us/send", "lower"),
        ("send_cpu_us", "CPU us/send", "lower"),
    ],
    "group": [
        ("group_ms", "ms per group of 1,000", "lower"),
    ],
    "latency": [
        ("p50_ms", "p50 ms", "lower"),
        ("p99_ms", "p99 ms", "lower"),
        ("producer_cpu_per_msg_us", "producer CPU us/msg", "lower"),
        ("worker_cpu_per_msg_us", "worker CPU us/msg", "lower"),
        ("idle_worker_cpu_util", "idle worker CPU (cores)", "lower"),
    ],
    "recovery": [
        ("recovery_s", "s until all ran again", "lower"),
        ("recovery_first_s", "s until the first", "lower"),
    ],
}

# (full, quick)
PARAMS = {
    "rounds": (3, 1),
    "messages": (100000, 10000),          # throughput, ours
    "upstream_messages": (20000, 2000),   # throughput, upstream (Redis ~2k msg/s on 2 cores)
    "sends": (10000, 1000),
    "durable_sends": (2000, 300),         # one fsync each
    "group_reps": (10, 3),
    "latency_sends": (1000, 200),
    "idle_seconds": (1.0, 0.5),
    "recovery_runs": (3, 1),              # per round: each kill falls at a random phase of the heartbeat
    "peer_messages": (100000, 20000),
    "peer_prefill_budget": (4.0, 1.5),
    "peer_max_drain": (4.0, 2.0),
    "peer_send_budget": (2.5, 1.0),
    "peer_latency_budget": (5.0, 2.0),
}

GOALS = [
    # (label, bench, key, system, test, threshold, how)
    ("no-op throughput, 1 process x 8 threads", "throughput", "throughput", "ours", ">=", 50000, "msg/s"),
    ("throughput vs upstream on Redis", "throughput", "throughput", ("ours", "upstream-redis"), ">=", 20, "x"),
    ("send loop, one thread (default durability)", "send", "send_us", "ours", "<=", 20, "us"),
    ("group of 1,000 .run()", "group", "group_ms", "ours", None, None, "ms"),
    ("idle latency send -> start, other process, p99", "latency", "p99_ms", "ours", "<=", 1.0, "ms"),
    ("killed worker's messages run again", "recovery", "recovery_s", "ours", "<=", 2.0, "s"),
]


def fmt(v, key=""):
    if v is None:
        return "-"
    if key in ("throughput",) or abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "{:.0f}".format(v)
    if abs(v) >= 10:
        return "{:.1f}".format(v)
    return "{:.3f}".format(v) if abs(v) < 1 else "{:.2f}".format(v)


def filesystem_type(path):
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def rabbitmq_wanted(args):
    """(run it?, why not)."""
    if args.rabbitmq is False:
        return False, "--no-rabbitmq"
    if args.rabbitmq is None:
        on_main = any(subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e",
                                      "%s:python/dramatiq/brokers/rabbitmq.py" % rev],
                                     capture_output=True).returncode == 0 for rev in ("main",))
        if not on_main:
            return False, ("dramatiq-cpp's RabbitMQ broker is not on main yet (python/dramatiq/brokers/"
                           "rabbitmq.py); pass --rabbitmq to measure upstream on RabbitMQ anyway")
    why = rabbitmq_server.available()
    if why:
        return False, why
    return True, None


def parse_result(proc):
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def run_child(cmd, env, timeout):
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=str(BENCH_DIR), env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, "timed out after %ss: %s\nstderr tail: %s" % (timeout, " ".join(cmd), (e.stderr or b"")[-2000:])
    result = parse_result(proc)
    if proc.returncode != 0 or result is None:
        err = "exit %d: %s\nstderr tail:\n%s" % (proc.returncode, " ".join(cmd), proc.stderr.strip()[-2500:])
        if result and result.get("worker_log_tail"):
            err += "\nworker log tail:\n" + result["worker_log_tail"][-1000:]
        return result, err
    result["wall_seconds"] = time.perf_counter() - t0
    result.pop("worker_log_tail", None)
    return result, None


class Runner:
    def __init__(self, args, p, pythons, redis, rabbit):
        self.args, self.p, self.pythons, self.redis, self.rabbit = args, p, pythons, redis, rabbit

    def sqlite_bench_cmd(self, python, bench, n, broker_argv):
        a, p = self.args, self.p
        cmd = [str(python), str(SCRIPT), "--mode", bench, "--threads", str(a.threads),
               "--worker-timeout", str(a.worker_timeout), "--timeout", str(a.run_timeout)] + broker_argv
        if bench == "throughput":
            cmd += ["--messages", str(n), "--poll-ms", str(a.poll_ms)]
        elif bench in ("send", "latency"):
            cmd += ["--messages", str(n)]
        elif bench == "group":
            cmd += ["--reps", str(n), "--group-size", "1000"]
        if bench == "latency":
            cmd += ["--idle-seconds", str(p["idle_seconds"])]
        if bench == "recovery":
            cmd += ["--recovery-timeout", str(a.recovery_timeout)]
        return cmd

    def count(self, system, bench):
        p = self.p
        if bench == "throughput":
            return p["upstream_messages"] if system.startswith("upstream") else p["messages"]
        if bench == "send":
            return p["durable_sends"] if system == "ours-durable" else p["sends"]
        return {"group": p["group_reps"], "latency": p["latency_sends"], "recovery": 1}[bench]

    def run(self, system, bench):
        """(result, error); result None and error None: not measured."""
        a = self.args
        n = self.count(system, bench)
        if bench == "recovery":
            a = argparse.Namespace(**dict(vars(a), timeout=max(a.timeout, a.recovery_timeout + 120)))
        harness = HARNESS[system]
        if harness == "peer":
            return self.run_peer(system, bench)
        if system in ("ours", "ours-durable"):
            env = stub.child_env(stub.OURS, a.ours_pythonpath)
            with tempfile.TemporaryDirectory(prefix="sqlite-bench-", dir=a.data_dir) as d:
                argv = ["--path", os.path.join(d, "broker.sqlite3")]
                if system == "ours-durable":
                    argv.append("--durable")
                return run_child(self.sqlite_bench_cmd(self.pythons["ours"], bench, n, argv), env, a.timeout)
        env = stub.child_env(stub.UPSTREAM)
        if system == "upstream-rabbitmq":
            argv = ["--broker-url", self.rabbit.url, "--server-pid", str(self.rabbit.pid)]
            return run_child(self.sqlite_bench_cmd(self.pythons[system], bench, n, argv), env, a.timeout)
        # upstream-redis
        with Resp("127.0.0.1", self.redis.port) as c:
            c.command("FLUSHALL")
        if bench in ("throughput", "send", "group"):
            result, err = rrb.run_once(self.pythons[system], stub.UPSTREAM, bench, self.redis_args(), self.redis, n)
            if result is not None:
                result["server_cpu_per_10k"] = result.get("server_cpu_per_10k")
            return result, err
        if bench == "recovery" and not a.redis_recovery:
            return None, None
        argv = ["--broker-url", self.redis.url]
        return run_child(self.sqlite_bench_cmd(self.pythons[system], bench, n, argv), env, a.timeout)

    def redis_args(self):
        a = self.args
        return argparse.Namespace(threads=a.threads, worker_timeout=a.worker_timeout, prefill="group",
                                  poll_ms=a.poll_ms, group_size=1000, idle_seconds=self.p["idle_seconds"],
                                  timeout=a.timeout, ours_pythonpath=None)

    def run_peer(self, system, bench):
        if bench not in PEER_MODE:
            return None, None
        a, p = self.args, self.p
        python, env = self.pythons[system]
        mode = PEER_MODE[bench]
        argv = [str(python), str(PEER_HARNESS), "--adapter", PEER_ADAPTERS[system], "--mode", mode]
        if mode in ps.SIZING:
            argv += ["--processes", "1", "--threads", str(a.threads)]
        if mode == "noop":
            argv += ["--messages", str(p["peer_messages"]), "--prefill-budget", str(p["peer_prefill_budget"]),
                     "--max-drain", str(p["peer_max_drain"])]
        elif mode == "send":
            argv += ["--sends", str(p["sends"]), "--send-budget", str(p["peer_send_budget"])]
        elif mode == "batch":
            argv += ["--reps", str(p["group_reps"]), "--send-budget", str(p["peer_send_budget"])]
        elif mode == "latency":
            argv += ["--latency-sends", str(p["latency_sends"]), "--latency-budget", str(p["peer_latency_budget"]),
                     "--idle-seconds", str(p["idle_seconds"])]
        with tempfile.TemporaryDirectory(prefix="sqlite-peer-", dir=a.data_dir) as d:
            env = dict(env, TMPDIR=d)  # peer_bench puts the run's SQLite file in a temp dir
            result, err = run_child(argv, env, a.timeout)
        if result is not None:
            if "unsupported" in result:
                return None, None
            if mode == "batch":
                result["group_ms"] = result.get("batch_ms")
            if mode == "noop":
                result["server_cpu_per_10k"] = None
        return result, err


def check_identity(system, result):
    impl = result.get("implementation")
    if system.startswith("ours"):
        return None if impl == "dramatiq-cpp" else "ours did not import dramatiq-cpp (%s)" % impl
    if system.startswith("upstream"):
        if impl == "upstream" and result.get("version") == stub.UPSTREAM_VERSION:
            return None
        return "not upstream %s: %s %s" % (stub.UPSTREAM_VERSION, impl, result.get("version"))
    return None


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def baseline(system):
    return "ours-peer" if HARNESS[system] == "peer" else "ours"


def print_table(bench, runs, systems, notes):
    print()
    print("== %s ==" % {
        "throughput": "throughput: no-op actor, 1 process x %d threads, messages pre-enqueued, drained" % ARGS.threads,
        "send": "send: actor.send() loop, one thread (peer harness: each system's single enqueue)",
        "group": "group: dramatiq.group of 1,000 .run() (peer harness: each system's batch API)",
        "latency": "latency: idle worker in another process, one message at a time, send -> actor start",
        "recovery": "recovery: a worker process holding leased messages is SIGKILLed; until they start again "
                    "in another worker process",
    }[bench])
    metrics = METRICS[bench]
    header = ["system", "runs"]
    for key, label, better in metrics:
        header += [label + (" (%s)" % better if better != "-" else ""), "ours/this"]
    header.append("min-max (%s)" % metrics[0][1])
    rows = []
    for system in systems:
        rs = runs.get(system, [])
        if not rs:
            if (system, bench) in notes:
                rows.append([LABELS[system], "-", notes[(system, bench)]])
            continue
        row = [LABELS[system], str(len(rs))]
        base = runs.get(baseline(system), [])
        for key, _label, _better in metrics:
            med, _, _ = summarize([r.get(key) for r in rs])
            bmed, _, _ = summarize([r.get(key) for r in base])
            ratio = "-" if not med or bmed is None or system == baseline(system) else "{:.2f}x".format(bmed / med)
            row += [fmt(med, key), ratio]
        _, lo, hi = summarize([r.get(metrics[0][0]) for r in rs])
        row.append("-" if lo is None else "%s-%s" % (fmt(lo, metrics[0][0]), fmt(hi, metrics[0][0])))
        rows.append(row)
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(str(r[i])) for r in full + [header]) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r) if len(r) == len(header) else "%s  %s" % (str(r[0]).ljust(widths[0]), r[2]))


def print_goals(per_bench, quick):
    print()
    print("== goals (issue 14), ours = dramatiq-cpp SQLite; durable figures beside them ==")
    if quick:
        print("   (--quick on a shared machine: a smoke test, not a measurement)")
    for label, bench, key, who, test, threshold, unit in GOALS:
        runs = per_bench.get(bench, {})
        if isinstance(who, tuple):
            a, _, _ = summarize([r.get(key) for r in runs.get(who[0], [])])
            b, _, _ = summarize([r.get(key) for r in runs.get(who[1], [])])
            value = a / b if a and b else None
            durable = None
            d, _, _ = summarize([r.get(key) for r in runs.get("ours-durable", [])])
            durable = d / b if d and b else None
        else:
            value, _, _ = summarize([r.get(key) for r in runs.get(who, [])])
            durable, _, _ = summarize([r.get(key) for r in runs.get("ours-durable", [])])
        if value is None:
            verdict = "not measured"
        elif test is None:
            verdict = "measured"
        else:
            ok = value >= threshold if test == ">=" else value <= threshold
            verdict = "MET" if ok else "NOT MET"
        goal = "(%s %s %s)" % (test, fmt(threshold), unit) if test else ""
        print("  %-48s %12s %-3s %-16s %-12s durable: %s %s" % (
            label, fmt(value, key), unit, goal, verdict, fmt(durable, key), unit))


def run_and_record(runner, system, bench, rnd, p, per_bench, all_results):
    """One run; returns 1 if it failed."""
    log("[round %d/%d] %-10s %-18s ..." % (rnd + 1, p["rounds"], bench, system))
    result, err = runner.run(system, bench)
    if result is None and err is None:
        return 0
    if err is None:
        err = check_identity(system, result)
    if err is not None:
        log("  FAILED: %s" % err)
        if result and result.get("errors"):
            log("  errors: %s" % result["errors"])
        all_results.append({"system": system, "bench": bench, "round": rnd, "error": err})
        return 1
    if result.get("log_warnings"):
        log("  note: %d warning(s), first: %s" % (result["log_warnings"], result["log_first"]))
    shown = ", ".join("%s %s" % (label, fmt(result.get(key), key))
                      for key, label, _ in METRICS[bench] if result.get(key) is not None)
    log("  " + shown)
    result.update(system=system, bench=bench, round=rnd)
    per_bench[bench][system].append(result)
    all_results.append(result)
    return 0


ARGS = None


def main(argv=None):
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, small counts (< 3 min)")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    ap.add_argument("--bench", default=",".join(BENCHES), help="comma-separated subset of %s" % ",".join(BENCHES))
    ap.add_argument("--systems", default=",".join(k for k, _, _ in SYSTEMS),
                    help="comma-separated subset of %s" % ",".join(k for k, _, _ in SYSTEMS))
    ap.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    ap.add_argument("--worker-timeout", type=int, default=100,
                    help="worker_timeout ms for the Dramatiq rows (default 100; upstream's own default is 1000)")
    ap.add_argument("--poll-ms", type=float, default=2.0, help="throughput: drain poll interval (default 2 ms)")
    rmq = ap.add_mutually_exclusive_group()
    rmq.add_argument("--rabbitmq", dest="rabbitmq", action="store_true", default=None,
                     help="measure upstream on RabbitMQ even if our RabbitMQ broker is not on main")
    rmq.add_argument("--no-rabbitmq", dest="rabbitmq", action="store_false")
    ap.add_argument("--redis-recovery", action="store_true",
                    help="also measure recovery for upstream on Redis (minutes: 60 s heartbeat timeout, "
                         "maintenance at random)")
    ap.add_argument("--recovery-timeout", type=float, default=30,
                    help="s to wait for a killed worker's messages (default 30; 600 with --redis-recovery)")
    ap.add_argument("--data-dir", help="where the SQLite files go (default: the temp dir); it must be a real "
                    "disk for durable figures to mean anything (not tmpfs)")
    ap.add_argument("--upstream-python", help="interpreter with upstream dramatiq 2.2.1 and redis-py")
    ap.add_argument("--venv", default=str(stub.DEFAULT_VENV), help="fallback upstream venv (bench/.venv-upstream)")
    ours_install.add_arguments(ap)
    ap.add_argument("--timeout", type=float, default=600, help="time limit per run, s (default 600)")
    ap.add_argument("--json", metavar="PATH", help="also write all raw results to PATH")
    args = ARGS = ap.parse_args(argv)
    if args.redis_recovery and args.recovery_timeout == 30:
        args.recovery_timeout = 600
    args.run_timeout = args.timeout

    k = 1 if args.quick else 0
    p = {name: v[k] for name, v in PARAMS.items()}
    if args.rounds:
        p["rounds"] = args.rounds
    benches = [b.strip() for b in args.bench.split(",") if b.strip()]
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(b not in BENCHES for b in benches) or any(s not in LABELS for s in wanted):
        ap.error("unknown benchmark or system")
    systems = [key for key, _, _ in SYSTEMS if key in wanted]
    notes = {}

    if "upstream-rabbitmq" in systems:
        ok, why = rabbitmq_wanted(args)
        if not ok:
            log("note: upstream on RabbitMQ skipped: %s" % why)
            systems.remove("upstream-rabbitmq")
    if "upstream-redis" in systems and "recovery" in benches and not args.redis_recovery:
        notes[("upstream-redis", "recovery")] = ("not measured (upstream returns a dead worker's messages after "
                                                 "its 60 s heartbeat timeout; --redis-recovery)")
    for s in ("ours-peer", "huey-sqlite", "taskito"):
        notes[(s, "recovery")] = "not measured (peer harness)"
    notes[("huey-sqlite", "group")] = "n/a: no batch API"

    pythons = {}
    try:
        installed = ours_install.choose_python(args)
    except SystemExit as e:
        log(str(e))
        return 2
    info = rrb.probe_ours(args.ours_python, args.ours_pythonpath)
    if "error" in info or info.get("implementation") != stub.OURS:
        log("error: ours (%s, PYTHONPATH=%s) does not import dramatiq-cpp: %s"
            % (args.ours_python, args.ours_pythonpath, info))
        return 2
    pythons["ours"] = pythons["ours-durable"] = args.ours_python
    engine = rrb.engine_build(args.ours_python, args.ours_pythonpath)
    log("ours: %s PYTHONPATH=%s (%s)%s" % (args.ours_python, args.ours_pythonpath or "-", info.get("file"),
                                           "; engine built %s" % engine["built"] if engine else ""))
    try:
        if "upstream-redis" in systems:
            pythons["upstream-redis"], up_info = rrb.resolve_upstream(args)
            log("upstream on Redis: %s (%s)" % (pythons["upstream-redis"], up_info.get("file")))
        if "upstream-rabbitmq" in systems:
            py = args.upstream_python
            if not py or subprocess.run([py, "-c", "import dramatiq, pika"], capture_output=True).returncode != 0:
                py = str(ps.ensure_venv("dramatiq-rabbitmq", RABBITMQ_REQUIREMENTS))
            pythons["upstream-rabbitmq"] = py
            log("upstream on RabbitMQ: %s" % py)
        if "ours-peer" in systems:
            pythons["ours-peer"] = ps.interpreter(ps.OURS_EMBEDDED, None, args.ours_python, args.ours_pythonpath)
        for key, _label, reqs, _adapter in ps.SQLITE_PEERS:
            if key in systems:
                pythons[key] = ps.interpreter(key, reqs, None, None)
    except (SystemExit, subprocess.CalledProcessError) as e:
        log(str(e))
        return 2

    data_dir = args.data_dir or tempfile.gettempdir()
    fs = filesystem_type(data_dir)
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h %s"],
                            capture_output=True, text=True).stdout.strip()
    machine = {"host": platform.platform(), "nproc": os.cpu_count(), "python": platform.python_version(),
               "commit": commit, "ours_installed_commit": installed, "loadavg_start": os.getloadavg(),
               "data_dir": data_dir, "data_fs": fs, "engine": engine, "params": p}
    log("host: %s, %d CPUs, load avg %.2f %.2f %.2f; CPython %s; commit %s"
        % (machine["host"], machine["nproc"], *machine["loadavg_start"], machine["python"], commit))
    log("SQLite files in %s (%s)%s" % (data_dir, fs, "; WARNING: tmpfs makes fsync free, the durable figures "
                                       "mean nothing" if fs == "tmpfs" else ""))
    log("rounds %d; benches %s; systems %s" % (p["rounds"], ",".join(benches), ",".join(systems)))

    redis = rabbit = None
    failures = 0
    all_results = []
    per_bench = {b: {s: [] for s in systems} for b in benches}
    t_suite = time.monotonic()
    try:
        if "upstream-redis" in systems:
            redis = RedisServer()
            redis.start()
            log("redis-server pid %d port %d" % (redis.pid, redis.port))
        if "upstream-rabbitmq" in systems:
            t0 = time.monotonic()
            rabbit = rabbitmq_server.RabbitmqServer().start()
            log("rabbitmq-server pid %d port %d (ready in %.1f s)" % (rabbit.pid, rabbit.port, time.monotonic() - t0))
        runner = Runner(args, p, pythons, redis, rabbit)
        for rnd in range(p["rounds"]):
            for bench in benches:
                order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
                for system in order:
                    if (system, bench) in notes:
                        continue
                    for _ in range(p["recovery_runs"] if bench == "recovery" else 1):
                        failures += run_and_record(runner, system, bench, rnd, p, per_bench, all_results)

        for bench in benches:
            print_table(bench, per_bench[bench], [s for s in systems], notes)
        print()
        print("ours/this = ours median / this system's median (ours-peer's for the peer-harness rows): "
              "for msg/s >1x means ours is better; for times, CPU and RSS <1x means ours is better.")
        print_goals(per_bench, args.quick)
        sys.stdout.flush()
    finally:
        if rabbit is not None:
            rabbit.close()
        if redis is not None:
            redis.close()
    machine["loadavg_end"] = os.getloadavg()
    machine["suite_seconds"] = time.monotonic() - t_suite
    log("suite took %.0f s; load avg at the end %.2f" % (machine["suite_seconds"], machine["loadavg_end"][0]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "results": all_results}, indent=1))
        log("raw results written to %s" % args.json)
    if failures:
        log("error: %d run(s) failed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
