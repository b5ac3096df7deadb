#!/usr/bin/env python3
"""StubBroker enqueue/processing throughput benchmark.

Run this script with the interpreter whose ``dramatiq`` you want to measure
(upstream Dramatiq or dramatiq-cpp).  It prints exactly one JSON object on
stdout; everything else (logging, warnings) goes to stderr.

Phases:
  1. enqueue: ``actor.send(...)`` N times into a StubBroker with default
     middleware, no worker running (timed -> enqueue_seconds / enqueue_rate);
  2. process: start a Worker (8 threads, worker_timeout=100 ms) and wait with
     ``broker.join(queue)`` + ``worker.join()`` (timed -> process_seconds /
     throughput; CPU time of the whole process during this phase ->
     cpu_seconds);
  3. ``worker.stop()`` (timed separately -> stop_seconds).
"""

import argparse
import gc
import itertools
import json
import logging
import os
import platform
import random
import resource
import sys
import time


def _cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _context_switches():
    # (voluntary, involuntary) for the whole process so far.
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw, ru.ru_nivcsw


def _rss_mb_now():
    # Current RSS from /proc (Linux); None elsewhere.
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    if sys.platform == "darwin":
        return peak / (1024 * 1024)
    return peak / 1024


def _implementation(dramatiq_module):
    try:
        import dramatiq._engine  # noqa: F401
    except ImportError:
        return "upstream"
    return "dramatiq-cpp"


def _fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100000, help="number of messages (default: 100000)")
    parser.add_argument("--actor", choices=("noop", "fib"), default="noop", help="actor body (default: noop)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (default: 8)")
    parser.add_argument("--worker-timeout", type=int, default=100, help="worker_timeout in ms (default: 100)")
    parser.add_argument("--seed", type=int, default=12345, help="RNG seed for fib arguments (default: 12345)")
    parser.add_argument("--timeout", type=float, default=0,
                        help="give up waiting for the queue after this many seconds (0 = wait forever)")
    parser.add_argument("--verify", action="store_true",
                        help="count actor invocations (adds one counter increment per message) "
                             "and fail unless every message ran exactly once")
    parser.add_argument("--no-process-boot", action="store_true",
                        help="do not emit the process_boot event (emitted by default, as the dramatiq CLI does)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[%(levelname)s] %(name)s: %(message)s")

    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    rss_start = _rss_mb_now()

    broker = StubBroker()
    dramatiq.set_broker(broker)
    if not args.no_process_boot:
        broker.emit_after("process_boot")

    counter = itertools.count() if args.verify else None

    if args.actor == "noop":
        if args.verify:
            @dramatiq.actor(max_retries=0)
            def noop():
                next(counter)
        else:
            @dramatiq.actor(max_retries=0)
            def noop():
                pass
        actor = noop
        rng = None
    else:
        # The fib actor computes and discards its result: returning a value
        # without the Results middleware makes upstream log a warning per
        # message, which would dominate the measurement.
        if args.verify:
            @dramatiq.actor(max_retries=0)
            def fib(n):
                next(counter)
                _fib(n)
        else:
            @dramatiq.actor(max_retries=0)
            def fib(n):
                _fib(n)
        actor = fib
        rng = random.Random(args.seed)

    n = args.messages
    # Pre-generate arguments so RNG cost is not part of the enqueue timing and
    # both implementations get exactly the same workload.
    fib_args = [rng.randint(1, 200) for _ in range(n)] if rng is not None else None

    gc.collect()

    # ---- enqueue phase -------------------------------------------------------
    send = actor.send
    t0 = time.perf_counter()
    if fib_args is None:
        for _ in range(n):
            send()
    else:
        for a in fib_args:
            send(a)
    enqueue_seconds = time.perf_counter() - t0
    rss_after_enqueue = _rss_mb_now()

    # ---- process phase -------------------------------------------------------
    worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=args.worker_timeout)
    cpu0 = _cpu_seconds()
    cs0 = _context_switches()
    t0 = time.perf_counter()
    worker.start()
    join_timeout_ms = int(args.timeout * 1000) if args.timeout > 0 else None
    broker.join(actor.queue_name, timeout=join_timeout_ms)
    worker.join()
    process_seconds = time.perf_counter() - t0
    cpu_seconds = _cpu_seconds() - cpu0
    cs1 = _context_switches()

    t0 = time.perf_counter()
    worker.stop()
    stop_seconds = time.perf_counter() - t0

    dead = len(broker.dead_letters)
    processed = next(counter) if counter is not None else None

    result = {
        "implementation": _implementation(dramatiq),
        "version": getattr(dramatiq, "__version__", None),
        "dramatiq_path": os.path.dirname(getattr(dramatiq, "__file__", "") or ""),
        "python": platform.python_version(),
        "actor": args.actor,
        "messages": n,
        "worker_threads": args.threads,
        "worker_timeout_ms": args.worker_timeout,
        "process_boot": not args.no_process_boot,
        "enqueue_seconds": enqueue_seconds,
        "enqueue_rate": n / enqueue_seconds if enqueue_seconds > 0 else None,
        "process_seconds": process_seconds,
        "throughput": n / process_seconds if process_seconds > 0 else None,
        "cpu_seconds": cpu_seconds,
        "cpu_per_msg_us": cpu_seconds / n * 1e6 if n else None,
        "voluntary_cs_per_msg": (cs1[0] - cs0[0]) / n if n else None,
        "involuntary_cs_per_msg": (cs1[1] - cs0[1]) / n if n else None,
        "stop_seconds": stop_seconds,
        "rss_start_mb": rss_start,
        "rss_after_enqueue_mb": rss_after_enqueue,
        "peak_rss_mb": _peak_rss_mb(),
        "dead_letters": dead,
        "processed": processed,
    }
    print(json.dumps(result), flush=True)

    if dead:
        print(f"error: {dead} message(s) were dead-lettered", file=sys.stderr)
        return 1
    if processed is not None and processed != n:
        print(f"error: actor ran {processed} times, expected {n}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
