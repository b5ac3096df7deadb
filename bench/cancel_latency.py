"""Cancel latency (issue 18): from the cancel request in one broker object
to the running actor's exception in a worker on another broker object of
the same server or file (as between two processes), per broker, N times
after a few runs not counted (they open the connections); prints
p50/p99/max in milliseconds.

Side by side, on Redis: upstream Dramatiq with the dramatiq-abort plugin
(``abort(message_id)``, the actor sees ``dramatiq_abort.Abort``), the only
way to cancel a running message upstream; ratio = ours / upstream.

  python3 bench/cancel_latency.py                       # Redis, RabbitMQ and SQLite, 300 cancels each
  python3 bench/cancel_latency.py --brokers redis --runs 1000 --json bench/results/cancel.json

Ours is ``pip install .`` of a clean copy of HEAD (bench/ours_install.py;
--ours-python / --ours-pythonpath to measure another), upstream the
interpreter of .venv-upstream (scripts/setup.sh installs dramatiq 2.2.1 and
dramatiq-abort there) or --upstream-python.

The actor runs Python code while it waits (a loop of short sleeps), as
actors do; one blocked in a single long C call sees the interruption when
that call returns, as with TimeLimit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "python"))
sys.path.insert(0, str(HERE))


def open_broker(kind: str, url: str):
    import dramatiq  # noqa: F401  (the interpreter's: ours or upstream)
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker
        return RedisBroker(url=url)
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        return RabbitmqBroker(url=url)
    from dramatiq.brokers.sqlite import SQLiteBroker
    return SQLiteBroker(path=url)


def measure(kind: str, url: str, runs: int, warmup: int = 10, impl: str = "ours") -> list:
    """Latencies in ms; impl "ours" (dramatiq.cancel) or "abort" (upstream
    with dramatiq-abort, Redis only)."""
    import dramatiq
    broker, canceller = open_broker(kind, url), open_broker(kind, url)
    if impl == "abort":
        import redis
        from dramatiq_abort import Abort, Abortable, abort, backends
        broker.add_middleware(Abortable(backend=backends.RedisBackend(client=redis.Redis.from_url(url))))
        requester = Abortable(backend=backends.RedisBackend(client=redis.Redis.from_url(url)))
        interruption = Abort

        def cancel(message_id):
            abort(message_id, middleware=requester)
    else:
        interruption = dramatiq.Cancelled

        def cancel(message_id):
            dramatiq.cancel(message_id, broker=canceller)
    started, interrupted = threading.Event(), threading.Event()
    seen = {}

    @dramatiq.actor(broker=broker, max_retries=0)
    def busy():
        started.set()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.0005)
        except interruption:
            seen["at"] = time.perf_counter()
            interrupted.set()
            raise

    # RabbitMQ's join checks 10 times, 100 ms apart, by default: the next
    # run may start once the message is settled (this worker's own count).
    quick_join = {"min_successes": 2, "idle_time": 5} if kind == "rabbitmq" else {}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    latencies = []
    try:
        for run in range(warmup + runs):
            started.clear()
            interrupted.clear()
            message = busy.send()
            if not started.wait(10):
                raise RuntimeError("the actor did not start (run %d)" % len(latencies))
            asked = time.perf_counter()
            cancel(message.message_id)
            if not interrupted.wait(10):
                raise RuntimeError("the running actor was not interrupted within 10 s")
            if run >= warmup:
                latencies.append((seen["at"] - asked) * 1000)
            broker.join(busy.queue_name, timeout=10_000, **quick_join)
    finally:
        worker.stop()
        for b in (broker, canceller):
            if hasattr(b, "close"):
                b.close()
    return latencies


def summary(latencies: list) -> dict:
    latencies = sorted(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"runs": len(latencies), "p50_ms": round(statistics.median(latencies), 3),
            "p99_ms": round(p99, 3), "max_ms": round(latencies[-1], 3)}


def child(python: str, extra_env: dict, impl: str, kind: str, url: str, runs: int, warmup: int) -> list:
    """Runs measure() in `python`; its latencies."""
    code = ("import sys, json; sys.path.insert(0, %r); import cancel_latency as c; "
            "print(json.dumps(c.measure(%r, %r, %d, %d, %r)))" % (str(HERE), kind, url, runs, warmup, impl))
    env = dict(os.environ, **extra_env)
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
                          timeout=1800)
    if proc.returncode != 0:
        raise SystemExit("error: the %s run on %s failed:\n%s" % (impl, kind, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def upstream_python(args):
    python = args.upstream_python or str(REPO_ROOT / ".venv-upstream" / "bin" / "python")
    probe = subprocess.run([python, "-c", "import dramatiq, dramatiq_abort, redis; print(dramatiq.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or "cpp" in probe.stdout:
        log("upstream with dramatiq-abort not found at %s (scripts/setup.sh installs it); measuring ours only"
            % python)
        return None
    return python


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    import ours_install
    import rabbitmq_support
    import redis_support

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", nargs="+", default=["redis", "rabbitmq", "sqlite"],
                        choices=["redis", "rabbitmq", "sqlite"])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10,
                        help="runs first, not counted: they open the connections (default 10)")
    parser.add_argument("--upstream-runs", type=int, default=50,
                        help="runs of upstream+abort (default 50: each takes about a second)")
    parser.add_argument("--upstream-python", help="interpreter with upstream dramatiq 2.2.1, redis and dramatiq-abort")
    parser.add_argument("--json")
    ours_install.add_arguments(parser)
    args = parser.parse_args()
    commit = ours_install.choose_python(args)
    ours_env = {"PYTHONPATH": args.ours_pythonpath} if args.ours_pythonpath else {}
    log("ours: %s%s" % (args.ours_python, " (pip install . of %s)" % commit[:10] if commit else ""))
    upstream = upstream_python(args) if "redis" in args.brokers else None
    results = []
    with tempfile.TemporaryDirectory(prefix="dramatiq-cancel-latency-") as tmp:
        for kind in args.brokers:
            server = None
            if kind in ("redis", "rabbitmq"):
                server = redis_support.RedisServer() if kind == "redis" else rabbitmq_support.RabbitmqServer()
                server.start()
                url = server.url
            else:
                url = str(Path(tmp) / "broker.sqlite3")
            try:
                row = {"broker": kind, "ours": summary(child(args.ours_python, ours_env, "ours", kind, url, args.runs,
                                                                 args.warmup))}
                if kind == "redis" and upstream:
                    row["upstream+abort"] = summary(child(upstream, {}, "abort", kind, url, args.upstream_runs,
                                                                     min(args.warmup, 3)))
            finally:
                if server is not None:
                    server.close()
            results.append(row)
            print(json.dumps(row), flush=True)
    print("%-8s %-15s %6s %9s %9s %9s" % ("broker", "", "runs", "p50 ms", "p99 ms", "max ms"))
    for row in results:
        for who in ("ours", "upstream+abort"):
            if who in row:
                r = row[who]
                print("%-8s %-15s %6d %9.3f %9.3f %9.3f" % (row["broker"], who, r["runs"], r["p50_ms"], r["p99_ms"],
                                                           r["max_ms"]))
        if "upstream+abort" in row:
            o, u = row["ours"], row["upstream+abort"]
            print("%-8s %-15s %6s %8.4fx %8.4fx %8.4fx" % (row["broker"], "ours/upstream", "", o["p50_ms"] / u["p50_ms"],
                                                          o["p99_ms"] / u["p99_ms"], o["max_ms"] / u["max_ms"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
