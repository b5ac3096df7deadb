"""Cancel latency (issue 18): from ``dramatiq.cancel(id)`` in one broker
object to the running actor's ``except Cancelled`` in a worker on another
broker object of the same server or file (as between two processes), per
broker, N times; prints p50/p99/max in milliseconds.

  python3 bench/cancel_latency.py                       # Redis, RabbitMQ and SQLite, 300 cancels each
  python3 bench/cancel_latency.py --brokers redis --runs 1000 --json bench/results/cancel.json

The actor runs Python code while it waits (a loop of short sleeps), as
actors do; one blocked in a single long C call sees the interruption when
that call returns, as with TimeLimit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import rabbitmq_support  # noqa: E402
import redis_support  # noqa: E402

import dramatiq  # noqa: E402


def open_broker(kind: str, url: str):
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker
        return RedisBroker(url=url)
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        return RabbitmqBroker(url=url)
    from dramatiq.brokers.sqlite import SQLiteBroker
    return SQLiteBroker(path=url)


def measure(kind: str, url: str, runs: int) -> list:
    broker, canceller = open_broker(kind, url), open_broker(kind, url)
    started, interrupted = threading.Event(), threading.Event()
    seen = {}

    @dramatiq.actor(broker=broker, max_retries=0)
    def busy():
        started.set()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.0005)
        except dramatiq.Cancelled:
            seen["at"] = time.perf_counter()
            interrupted.set()
            raise

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    latencies = []
    try:
        for _ in range(runs):
            started.clear()
            interrupted.clear()
            message = busy.send()
            if not started.wait(10):
                raise RuntimeError("the actor did not start (run %d)" % len(latencies))
            asked = time.perf_counter()
            dramatiq.cancel(message.message_id, broker=canceller)
            if not interrupted.wait(10):
                raise RuntimeError("the running actor was not interrupted within 10 s")
            latencies.append((seen["at"] - asked) * 1000)
            broker.join(busy.queue_name, timeout=10_000)
    finally:
        worker.stop()
        broker.close()
        canceller.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", nargs="+", default=["redis", "rabbitmq", "sqlite"],
                        choices=["redis", "rabbitmq", "sqlite"])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json")
    args = parser.parse_args()
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
                latencies = sorted(measure(kind, url, args.runs))
            finally:
                if server is not None:
                    server.close()
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            results.append({"broker": kind, "runs": len(latencies), "p50_ms": round(statistics.median(latencies), 3),
                            "p99_ms": round(p99, 3), "max_ms": round(latencies[-1], 3)})
            print(json.dumps(results[-1]), flush=True)
    print("%-8s %6s %9s %9s %9s" % ("broker", "runs", "p50 ms", "p99 ms", "max ms"))
    for r in results:
        print("%-8s %6d %9.3f %9.3f %9.3f" % (r["broker"], r["runs"], r["p50_ms"], r["p99_ms"], r["max_ms"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
