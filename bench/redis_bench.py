#!/usr/bin/env python3
"""One RedisBroker benchmark, run with whichever ``dramatiq`` this
interpreter imports (upstream Dramatiq or dramatiq-cpp).

It prints exactly one JSON object on stdout; logging goes to stderr.  The
driver (run_redis_bench.py) starts redis-server, flushes it before every run
and passes --url and --redis-pid.

Modes (--mode):

  throughput  Enqueue --messages no-op messages (no worker yet; --prefill
              says how), then start ``Worker(broker, worker_threads=8,
              worker_timeout=...)`` and time until LLEN <ns>:<q> +
              HLEN <ns>:<q>.msgs reaches 0, polled every --poll-ms over a
              raw connection.  CPU seconds of this process and of
              redis-server (/proc/<pid>/stat utime+stime) over the drain;
              peak RSS (ru_maxrss) of this process.
  send        ``actor.send()`` --messages times in a loop, one thread.
  group       ``dramatiq.group([...]).run()`` of --group-size messages,
              --reps times (messages built before the clock starts; the
              server is flushed between reps).
  latency     Start the worker, process one warm-up message, stay idle
              --idle-seconds, then --messages times: t0 = perf_counter(),
              ``actor.send(i)``, wait until the actor has put its own
              perf_counter() (its first statement) into a queue.Queue;
              latency = actor start - t0.
"""

import argparse
import gc
import json
import logging
import os
import platform
import queue
import resource
import statistics
import sys
import time

from redis_resp import Resp

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    """utime + stime of process `pid` (all its threads) from /proc, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def implementation():
    try:
        import dramatiq._engine  # noqa: F401
    except ImportError:
        return "upstream"
    return "dramatiq-cpp"


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class LogCounter(logging.Handler):
    """Counts WARNING+ records so the driver can flag noisy runs."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.first = []

    def emit(self, record):
        self.count += 1
        if len(self.first) < 5:
            self.first.append("%s %s: %s" % (record.levelname, record.name, record.getMessage()[:300]))


def prefill(dramatiq, actor, n, how, batch):
    """Enqueue n messages for `actor` with no worker running."""
    if how == "send":
        send = actor.send
        for _ in range(n):
            send()
    else:  # group batches
        done = 0
        while done < n:
            k = min(batch, n - done)
            dramatiq.group([actor.message() for _ in range(k)]).run()
            done += k


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("throughput", "send", "group", "latency"), required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--redis-pid", type=int, default=None)
    p.add_argument("--namespace", default="dramatiq")
    p.add_argument("--queue", default="bench")
    p.add_argument("--messages", type=int, default=10000,
                   help="throughput: messages drained; send: sends; latency: measured sends")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--worker-timeout", type=int, default=100, help="worker_timeout in ms")
    p.add_argument("--prefill", choices=("group", "send"), default="group",
                   help="throughput: enqueue with group batches or a send loop")
    p.add_argument("--prefill-batch", type=int, default=1000)
    p.add_argument("--poll-ms", type=float, default=2.0)
    p.add_argument("--group-size", type=int, default=1000)
    p.add_argument("--reps", type=int, default=10, help="group: timed group runs")
    p.add_argument("--idle-seconds", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=600, help="give up on a drain/wait after this many s")
    p.add_argument("--no-process-boot", action="store_true")
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[%(levelname)s] %(name)s: %(message)s")
    logs = LogCounter()
    logging.getLogger().addHandler(logs)

    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    host_port = args.url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    raw = Resp(host, int(port))
    qkey = "%s:%s" % (args.namespace, args.queue)
    mkey = qkey + ".msgs"
    xkey = "%s:%s.XQ" % (args.namespace, args.queue)

    rss_start = rss_mb_now()
    broker = RedisBroker(url=args.url, namespace=args.namespace)
    dramatiq.set_broker(broker)
    if not args.no_process_boot:
        broker.emit_after("process_boot")

    started = queue.Queue()
    perf = time.perf_counter

    @dramatiq.actor(queue_name=args.queue, max_retries=0)
    def noop():
        pass

    @dramatiq.actor(queue_name=args.queue, max_retries=0)
    def stamp(i):
        started.put((perf(), i))

    result = {
        "implementation": implementation(),
        "version": getattr(dramatiq, "__version__", None),
        "dramatiq_path": os.path.dirname(getattr(dramatiq, "__file__", "") or ""),
        "python": platform.python_version(),
        "mode": args.mode,
        "worker_threads": args.threads,
        "worker_timeout_ms": args.worker_timeout,
    }
    errors = []
    n = args.messages

    if args.mode == "throughput":
        t0 = perf()
        prefill(dramatiq, noop, n, args.prefill, args.prefill_batch)
        prefill_seconds = perf() - t0
        queued = raw.command("LLEN", qkey)
        if queued != n:
            errors.append("after prefill LLEN %s = %s, expected %d" % (qkey, queued, n))
        gc.collect()
        rss_before = rss_mb_now()
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=args.worker_timeout)
        poll = args.poll_ms / 1000.0
        deadline = time.monotonic() + args.timeout
        redis0 = proc_cpu_seconds(args.redis_pid) if args.redis_pid else None
        cpu0 = time.process_time()
        t0 = perf()
        worker.start()
        polls = 0
        while True:
            llen, hlen = raw.pipeline([("LLEN", qkey), ("HLEN", mkey)])
            polls += 1
            if llen == 0 and hlen == 0:
                break
            if time.monotonic() > deadline:
                errors.append("not drained after %ss: LLEN %d HLEN %d" % (args.timeout, llen, hlen))
                break
            time.sleep(poll)
        drain = perf() - t0
        cpu = time.process_time() - cpu0
        redis_cpu = proc_cpu_seconds(args.redis_pid) - redis0 if args.redis_pid else None
        t0 = perf()
        worker.stop()
        stop_seconds = perf() - t0
        dead = raw.command("ZCARD", xkey)
        if dead:
            errors.append("%d message(s) dead-lettered" % dead)
        result.update({
            "messages": n,
            "prefill": args.prefill,
            "prefill_seconds": prefill_seconds,
            "prefill_rate": n / prefill_seconds,
            "drain_seconds": drain,
            "throughput": n / drain,
            "worker_cpu_seconds": cpu,
            "worker_cpu_per_10k": cpu / n * 10000,
            "redis_cpu_seconds": redis_cpu,
            "redis_cpu_per_10k": redis_cpu / n * 10000 if redis_cpu is not None else None,
            "worker_cpu_util": cpu / drain,
            "redis_cpu_util": redis_cpu / drain if redis_cpu is not None else None,
            "polls": polls,
            "stop_seconds": stop_seconds,
            "rss_start_mb": rss_start,
            "rss_before_worker_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "dead_letters": dead,
        })

    elif args.mode == "send":
        for _ in range(100):  # warm-up: connection, scripts
            noop.send()
        gc.collect()
        send = noop.send
        cpu0 = time.process_time()
        t0 = perf()
        for _ in range(n):
            send()
        elapsed = perf() - t0
        cpu = time.process_time() - cpu0
        queued = raw.command("LLEN", qkey)
        if queued != n + 100:
            errors.append("LLEN %s = %s, expected %d" % (qkey, queued, n + 100))
        result.update({
            "messages": n,
            "send_seconds": elapsed,
            "send_us": elapsed / n * 1e6,
            "send_rate": n / elapsed,
            "send_cpu_us": cpu / n * 1e6,
        })

    elif args.mode == "group":
        noop.send()  # warm-up
        times = []
        for _ in range(args.reps):
            raw.command("FLUSHALL")
            g = dramatiq.group([noop.message() for _ in range(args.group_size)])
            gc.collect()
            t0 = perf()
            g.run()
            times.append(perf() - t0)
            queued = raw.command("LLEN", qkey)
            if queued != args.group_size:
                errors.append("LLEN %s = %s after group.run(), expected %d" % (qkey, queued, args.group_size))
                break
        med = statistics.median(times)
        result.update({
            "group_size": args.group_size,
            "reps": args.reps,
            "group_ms": med * 1000,
            "group_ms_min": min(times) * 1000,
            "group_ms_max": max(times) * 1000,
            "group_rate": args.group_size / med,
        })

    elif args.mode == "latency":
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=args.worker_timeout)
        worker.start()
        try:
            stamp.send(-1)  # warm-up: producer connection, worker's first fetch
            started.get(timeout=args.timeout)
            time.sleep(args.idle_seconds)
            lat = []
            send_times = []
            for i in range(n):
                t0 = perf()
                stamp.send(i)
                t1 = perf()
                try:
                    ts, j = started.get(timeout=args.timeout)
                except queue.Empty:
                    errors.append("message %d did not start within %ss" % (i, args.timeout))
                    break
                if j != i:
                    errors.append("expected message %d to start, got %d" % (i, j))
                    break
                lat.append(ts - t0)
                send_times.append(t1 - t0)
        finally:
            worker.stop()
        lat_ms = sorted(x * 1000 for x in lat)
        result.update({
            "messages": len(lat),
            "idle_seconds": args.idle_seconds,
            "first_ms": lat[0] * 1000 if lat else None,
            "p50_ms": percentile(lat_ms, 50),
            "p90_ms": percentile(lat_ms, 90),
            "p99_ms": percentile(lat_ms, 99),
            "max_ms": lat_ms[-1] if lat_ms else None,
            "mean_ms": statistics.fmean(lat_ms) if lat_ms else None,
            "send_p50_ms": percentile(sorted(x * 1000 for x in send_times), 50),
        })

    raw.close()
    result["log_warnings"] = logs.count
    result["log_first"] = logs.first
    result["errors"] = errors
    print(json.dumps(result), flush=True)
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
