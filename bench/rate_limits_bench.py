#!/usr/bin/env python3
"""Rate limiter cost, upstream Dramatiq 2.2.1 vs dramatiq-cpp.

Starts a private redis-server and memcached, then runs the same loop under
both interpreters, alternating: one thread doing ``with limiter.acquire():``
(ConcurrentRateLimiter, limit 1000) or ``WindowRateLimiter(window=10)``
acquisitions, N times. Prints acquisitions per second (medians of the
rounds) and the ratio.

  python3 bench/rate_limits_bench.py [--upstream-python PATH] [--n 5000] [--rounds 3]

Run from the repository with PYTHONPATH pointing at our package (or with it
installed). Upstream's memcached backend needs pylibmc in its venv.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import memcached_support  # noqa: E402
import redis_support  # noqa: E402

CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
if spec["backend"] == "redis":
    from dramatiq.rate_limits.backends import RedisBackend
    backend = RedisBackend(url=spec["url"])
else:
    from dramatiq.rate_limits.backends import MemcachedBackend
    backend = MemcachedBackend(servers=[spec["address"]], binary=True)
if spec["limiter"] == "concurrent":
    limiter = ConcurrentRateLimiter(backend, spec["key"], limit=1000)
else:
    limiter = WindowRateLimiter(backend, spec["key"], limit=10**9, window=10)
for _ in range(100):
    with limiter.acquire():
        pass
start = time.perf_counter()
for _ in range(spec["n"]):
    with limiter.acquire():
        pass
print(json.dumps({"per_second": spec["n"] / (time.perf_counter() - start)}))
"""


def run(python, spec, upstream):
    env = redis_support.subprocess_env(upstream=upstream)
    out = subprocess.run([python, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, env=env,
                         timeout=600, cwd="/tmp")
    if out.returncode != 0:
        raise SystemExit("benchmark child failed:\n" + out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["per_second"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream-python", default=redis_support.upstream_python())
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.upstream_python:
        raise SystemExit("no upstream interpreter (--upstream-python)")
    with redis_support.RedisServer() as redis_server, memcached_support.MemcachedServer() as mc:
        cases = [("redis", "concurrent"), ("redis", "window"), ("memcached", "concurrent"), ("memcached", "window")]
        print("%-10s %-11s %14s %14s %7s" % ("backend", "limiter", "upstream/s", "ours/s", "ratio"))
        for backend, limiter in cases:
            results = {"upstream": [], "ours": []}
            for round_ in range(args.rounds):
                order = [("upstream", args.upstream_python), ("ours", sys.executable)]
                if round_ % 2:
                    order.reverse()
                for name, python in order:
                    spec = {"backend": backend, "limiter": limiter, "url": redis_server.url,
                            "address": mc.address, "n": args.n, "key": "bench-" + uuid.uuid4().hex}
                    results[name].append(run(python, spec, upstream=name == "upstream"))
            upstream = statistics.median(results["upstream"])
            ours = statistics.median(results["ours"])
            print("%-10s %-11s %14.0f %14.0f %6.1fx" % (backend, limiter, upstream, ours, ours / upstream))
            time.sleep(0.1)


if __name__ == "__main__":
    main()
