"""A child process that uses a rate limiter, for the cross-process and
interop tests. The same file runs under the dramatiq being tested and
under upstream Dramatiq 2.2.1, so both sides use one public API.

``python limiter_app.py SPEC`` where SPEC is a JSON object:

* ``backend``: ``{"redis": URL}`` or ``{"memcached": [servers], "binary": bool}``
* ``mode``: ``hammer`` (concurrent limiter: hold slots, counting holders
  in Redis), ``count`` (bucket/window limiter: count admissions),
  ``barrier`` (wait on a barrier), ``take`` (acquire ``attempts`` times
  without releasing)
* ``limiter``: ``concurrent``, ``bucket`` or ``window``, with ``key``,
  ``options`` (keyword arguments), ``threads``, ``attempts`` (count, take),
  ``admissions`` (per thread, hammer), ``hold_ms``
* ``redis``: the URL of the Redis that holds the test's bookkeeping
  (holder count, start signal, readiness marks)
* ``tag``: this process's name in that bookkeeping

Prints one JSON object with what happened.
"""

import json
import sys
import threading
import time

import redis

from dramatiq.rate_limits import Barrier, BucketRateLimiter, ConcurrentRateLimiter, WindowRateLimiter

LIMITERS = {"concurrent": ConcurrentRateLimiter, "bucket": BucketRateLimiter, "window": WindowRateLimiter}


def make_backend(spec):
    if "redis" in spec:
        from dramatiq.rate_limits.backends import RedisBackend

        return RedisBackend(url=spec["redis"])
    from dramatiq.rate_limits.backends import MemcachedBackend

    return MemcachedBackend(servers=spec["memcached"], binary=spec.get("binary", False))


def wait_for_go(bookkeeping, spec):
    bookkeeping.rpush("ready:" + spec["key"], spec["tag"])
    deadline = time.monotonic() + 60
    while not bookkeeping.exists("go:" + spec["key"]):
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        time.sleep(0.005)


def hammer(limiter, bookkeeping, spec):
    holders_key = "holders:" + spec["key"]
    lock = threading.Lock()
    outcome = {"admitted": 0, "refused": 0, "max": 0}

    def run():
        # Each thread keeps trying until it was admitted `admissions` times
        # (bounded by a deadline), so no process finishes having only been
        # refused because the other one happened to hold the slots.
        admitted = 0
        deadline = time.monotonic() + 90
        while admitted < spec["admissions"] and time.monotonic() < deadline:
            with limiter.acquire(raise_on_failure=False) as acquired:
                if not acquired:
                    with lock:
                        outcome["refused"] += 1
                    continue
                admitted += 1
                holders = bookkeeping.incr(holders_key)
                with lock:
                    outcome["admitted"] += 1
                    outcome["max"] = max(outcome["max"], holders)
                time.sleep(spec.get("hold_ms", 2) / 1000)
                bookkeeping.decr(holders_key)
            time.sleep(0.0005)

    threads = [threading.Thread(target=run) for _ in range(spec["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def count(limiter, spec):
    admitted = 0
    for _ in range(spec["attempts"]):
        with limiter.acquire(raise_on_failure=False) as acquired:
            admitted += bool(acquired)
    return {"admitted": admitted}


def main():
    spec = json.loads(sys.argv[1])
    backend = make_backend(spec["backend"])
    bookkeeping = redis.Redis.from_url(spec["redis"])
    if spec["mode"] == "barrier":
        barrier = Barrier(backend, spec["key"], ttl=60000)
        bookkeeping.rpush("ready:" + spec["key"], spec["tag"])
        cleared = barrier.wait(block=spec.get("block", True), timeout=spec.get("timeout", 60000))
        print(json.dumps({"cleared": cleared}))
        return
    limiter = LIMITERS[spec["limiter"]](backend, spec["key"], **spec.get("options", {}))
    if spec.get("wait_for_go"):
        wait_for_go(bookkeeping, spec)
    if spec["mode"] == "hammer":
        outcome = hammer(limiter, bookkeeping, spec)
    elif spec["mode"] == "take":
        # Acquisitions that are never released (slots held as the process exits).
        outcome = {"taken": [bool(limiter._acquire()) for _ in range(spec["attempts"])]}
    else:
        outcome = count(limiter, spec)
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
