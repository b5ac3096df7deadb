#!/usr/bin/env python3
"""One RabbitmqBroker benchmark, run with whichever ``dramatiq`` this
interpreter imports (upstream Dramatiq on pika, or dramatiq-cpp).

Prints exactly one JSON object on stdout; logging goes to stderr. The
driver (run_rabbitmq_bench.py) starts rabbitmq-server, deletes the bench
queues before every run and passes --url and --server-pid.

Modes (--mode):

  throughput  Enqueue --messages no-op messages with group batches (no
              worker yet), then start ``Worker(broker, worker_threads=8)``
              and time until the actor ran --messages times and the queue
              reports no ready message. CPU seconds of this process and of
              rabbitmq-server (beam.smp, /proc/<pid>/stat) over the drain.
  send        ``actor.send()`` --messages times in a loop, one thread
              (--confirm: with confirm_delivery=True).
  group       ``dramatiq.group([...]).run()`` of --group-size messages,
              --reps times (--confirm as above).
  latency     Start the worker, process one warm-up message, stay idle
              --idle-seconds, then --messages times: t0, ``actor.send(i)``,
              wait until the actor put its own perf_counter() (its first
              statement) into a queue.Queue; latency = start - t0.
"""

import argparse
import gc
import itertools
import json
import logging
import os
import queue
import statistics
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    """utime + stime of process `pid` (all its threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def implementation():
    try:
        import dramatiq._engine  # noqa: F401

        return "dramatiq-cpp"
    except ImportError:
        return "upstream"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("throughput", "send", "group", "latency"), required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--server-pid", type=int, default=None)
    p.add_argument("--queue", default="bench")
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--confirm", action="store_true")
    p.add_argument("--group-size", type=int, default=1000)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--idle-seconds", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.ERROR)

    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=args.url, confirm_delivery=args.confirm)
    dramatiq.set_broker(broker)
    broker.emit_after("process_boot")
    perf = time.perf_counter
    started = queue.Queue()
    calls = itertools.count(1)
    all_done = threading.Event()
    target = [args.messages]

    @dramatiq.actor(queue_name=args.queue, max_retries=0)
    def noop():
        if next(calls) >= target[0]:
            all_done.set()

    @dramatiq.actor(queue_name=args.queue, max_retries=0)
    def stamp(i):
        started.put((perf(), i))

    result = {"implementation": implementation(), "version": getattr(dramatiq, "__version__", None),
              "mode": args.mode, "confirm": args.confirm}
    errors = []
    n = args.messages

    if args.mode == "throughput":
        for start in range(0, n, 1000):
            dramatiq.group([noop.message() for _ in range(min(1000, n - start))]).run()
        deadline = time.monotonic() + args.timeout
        while broker.get_queue_message_counts(args.queue)[0] < n and time.monotonic() < deadline:
            time.sleep(0.05)  # unconfirmed publishes still being routed (untimed)
        gc.collect()
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=100)
        server0 = proc_cpu_seconds(args.server_pid) if args.server_pid else None
        cpu0 = time.process_time()
        t0 = perf()
        worker.start()
        if not all_done.wait(args.timeout):
            errors.append("not drained after %ss" % args.timeout)
        drain = perf() - t0
        cpu = time.process_time() - cpu0
        server_cpu = proc_cpu_seconds(args.server_pid) - server0 if args.server_pid else None
        worker.stop()
        result.update({
            "messages": n, "drain_seconds": drain, "throughput": n / drain,
            "worker_cpu_seconds": cpu, "server_cpu_seconds": server_cpu,
            "worker_cpu_util": cpu / drain,
            "server_cpu_util": server_cpu / drain if server_cpu is not None else None,
        })
    elif args.mode == "send":
        for _ in range(100):
            noop.send()
        gc.collect()
        send = noop.send
        cpu0 = time.process_time()
        t0 = perf()
        for _ in range(n):
            send()
        elapsed = perf() - t0
        cpu = time.process_time() - cpu0
        result.update({"messages": n, "send_us": elapsed / n * 1e6, "send_rate": n / elapsed,
                       "send_cpu_us": cpu / n * 1e6})
    elif args.mode == "group":
        noop.send()
        times = []
        for _ in range(args.reps):
            g = dramatiq.group([noop.message() for _ in range(args.group_size)])
            gc.collect()
            t0 = perf()
            g.run()
            times.append(perf() - t0)
        med = statistics.median(times)
        result.update({"group_size": args.group_size, "reps": args.reps, "group_ms": med * 1000,
                       "group_rate": args.group_size / med})
    elif args.mode == "latency":
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=100)
        worker.start()
        try:
            stamp.send(-1)
            started.get(timeout=args.timeout)
            time.sleep(args.idle_seconds)
            lat = []
            for i in range(n):
                t0 = perf()
                stamp.send(i)
                try:
                    ts, j = started.get(timeout=args.timeout)
                except queue.Empty:
                    errors.append("message %d did not start within %ss" % (i, args.timeout))
                    break
                if j != i:
                    errors.append("expected message %d to start, got %d" % (i, j))
                    break
                lat.append(ts - t0)
        finally:
            worker.stop()
        lat_ms = sorted(x * 1000 for x in lat)
        result.update({"messages": len(lat), "p50_ms": percentile(lat_ms, 50), "p90_ms": percentile(lat_ms, 90),
                       "p99_ms": percentile(lat_ms, 99), "max_ms": lat_ms[-1] if lat_ms else None})
    broker.close()
    result["errors"] = errors
    print(json.dumps(result), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
