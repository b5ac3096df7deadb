#!/usr/bin/env python3
"""Cost of the SQLite results and rate-limit backends (ours only: upstream
has no SQLite backend), with ours on a private redis-server as a reference.

For each backend, in this process, one thread:

* limiter: ``with limiter.acquire():`` N times (ConcurrentRateLimiter,
  limit 1000; WindowRateLimiter, window 10 s), acquisitions per second;
* results: ``store_result`` then ``get_result`` N times, pairs per second;

and, across processes, the time from ``store_result`` in this process to
the return of a ``get_result(block=True)`` already blocked in another one
(``time.monotonic_ns`` on both sides: one clock on the host), p50/p99.

  python3 bench/sqlite_backends_bench.py [--n 3000] [--wakes 200]

Run with our package importable (installed, or PYTHONPATH)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import redis_support  # noqa: E402

import dramatiq  # noqa: E402
from dramatiq.brokers.stub import StubBroker  # noqa: E402
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter  # noqa: E402
from dramatiq.rate_limits.backends import RedisBackend as RedisLimits  # noqa: E402
from dramatiq.rate_limits.backends import SQLiteBackend as SQLiteLimits  # noqa: E402
from dramatiq.results.backends import RedisBackend as RedisResults  # noqa: E402
from dramatiq.results.backends import SQLiteBackend as SQLiteResults  # noqa: E402

WAITER = r"""
import json, sys, time
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results.backends import RedisBackend, SQLiteBackend
dramatiq.set_broker(StubBroker())
spec = json.loads(sys.argv[1])
backend = SQLiteBackend(**spec["sqlite"]) if "sqlite" in spec else RedisBackend(url=spec["redis"])
for line in sys.stdin:
    fields = json.loads(line)
    message = dramatiq.Message(args=(), kwargs={}, options={}, message_timestamp=0, **fields)
    print("WAITING", flush=True)
    backend.get_result(message, block=True, timeout=30000)
    print(time.monotonic_ns(), flush=True)
"""


def per_second(n, body):
    for _ in range(min(100, n)):
        body()
    start = time.perf_counter()
    for _ in range(n):
        body()
    return n / (time.perf_counter() - start)


def limiter_rate(backend, kind, n):
    key = "bench-" + uuid.uuid4().hex
    if kind == "concurrent":
        limiter = ConcurrentRateLimiter(backend, key, limit=1000)
    else:
        limiter = WindowRateLimiter(backend, key, limit=10**9, window=10)

    def acquire():
        with limiter.acquire():
            pass

    return per_second(n, acquire)


def results_rate(backend, n):
    @dramatiq.actor(actor_name="bench_" + uuid.uuid4().hex)
    def value():
        pass

    def round_trip():
        message = value.message()
        backend.store_result(message, 1, 60000)
        backend.get_result(message)

    return per_second(n, round_trip)


def blocked_in_kernel(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read().strip()
    except OSError:
        return False
    return state == "S" and wchan not in ("", "0")


def wake_latencies(backend, spec, wakes):
    @dramatiq.actor(actor_name="bench_wake_" + uuid.uuid4().hex)
    def value():
        pass

    child = subprocess.Popen([sys.executable, "-c", WAITER, json.dumps(spec)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=redis_support.subprocess_env(upstream=False))
    latencies = []
    try:
        for _ in range(wakes):
            message = value.message()
            child.stdin.write(json.dumps({"queue_name": message.queue_name, "actor_name": message.actor_name,
                                          "message_id": message.message_id}) + "\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "WAITING"
            deadline = time.monotonic() + 10
            while not blocked_in_kernel(child.pid):
                if time.monotonic() > deadline:
                    raise SystemExit("the waiter never blocked")
                time.sleep(0.0005)
            start = time.monotonic_ns()
            backend.store_result(message, 1, 60000)
            latencies.append((int(child.stdout.readline()) - start) / 1e3)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--wakes", type=int, default=200)
    args = parser.parse_args()
    dramatiq.set_broker(StubBroker())
    directory = tempfile.mkdtemp(prefix="dramatiq-bench-")
    with redis_support.RedisServer() as redis_server:
        setups = [
            ("sqlite", {"path": os.path.join(directory, "default.db")}),
            ("sqlite durable", {"path": os.path.join(directory, "durable.db"), "durable": True}),
            ("redis (ours)", None),
        ]
        print("%-15s %14s %14s %14s %12s %12s" % ("backend", "concurrent/s", "window/s", "results/s",
                                                  "wake p50 us", "wake p99 us"))
        for name, sqlite in setups:
            if sqlite is None:
                limits, results, spec = RedisLimits(url=redis_server.url), RedisResults(url=redis_server.url), {
                    "redis": redis_server.url}
            else:
                limits, results, spec = SQLiteLimits(**sqlite), SQLiteResults(**sqlite), {"sqlite": sqlite}
            concurrent = limiter_rate(limits, "concurrent", args.n)
            window = limiter_rate(limits, "window", args.n)
            stored = results_rate(results, args.n)
            p50, p99 = wake_latencies(results, spec, args.wakes)
            print("%-15s %14.0f %14.0f %14.0f %12.0f %12.0f" % (name, concurrent, window, stored, p50, p99))


if __name__ == "__main__":
    main()
