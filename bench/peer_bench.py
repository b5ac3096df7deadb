#!/usr/bin/env python3
"""One workload on one task queue, run inside that system's venv.

The driver (run_peer_bench.py) starts redis-server, flushes it before every
run, and calls this with the adapter module (bench/peers/tasks_<system>.py)
to use.  It prints exactly one JSON object on stdout.  Adapters of systems
on an embedded SQLite file (``USES_REDIS = False``: dramatiq-cpp's
SQLiteBroker, SqliteHuey, taskito) use $PEER_BENCH_SQLITE_PATH, a new file
in this run's temp dir; --url and --redis-pid are then optional and no
server CPU is reported.  Adapters on RabbitMQ (tasks_*_rabbitmq.py) get
their rabbitmq-server's Erlang VM as --server-pid: its CPU is reported
as the server's.

Workers are started with each system's own command (adapter.worker_argvs),
each in its own session, with output to a log file; they are SIGKILLed
(their whole process group) when the measurement is over, since the server
is flushed before the next run anyway.

Modes:

  noop, fib, io  Pre-enqueue --messages messages (in batches of 1,000 where
                 the system has a batch API; enqueueing stops early after
                 --prefill-budget seconds), start the workers, then time from
                 the first completion to the last one (or to --max-drain
                 seconds).  Completions are counted through the file that
                 work.done() appends to.  Also: CPU s of all processes of
                 the worker command(s) and of redis-server (/proc stat) over
                 that window, and the sum of the workers' peak RSS (VmHWM).
  send           --sends calls of the system's single-message enqueue in a
                 loop, one thread (after 100 warm-up sends).
  batch          --reps times: build and enqueue --batch-size messages with
                 the system's batch API (median reported).
  latency        Start the workers, send one warm-up message, idle
                 --idle-seconds, then up to --latency-sends times (or until
                 --latency-budget s): t0 = perf_counter(), enqueue stamp(i),
                 wait for the actor's own perf_counter() from the FIFO.
"""

import argparse
import gc
import importlib
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
sys.path.insert(0, str(PEERS_DIR))
sys.path.insert(1, str(BENCH_DIR))

from redis_resp import Resp  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
perf = time.perf_counter


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()  # fields[0] is field 3 (state)


def proc_cpu(pid):
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK  # utime + stime


def group_pids(pgids):
    """Live processes whose process group is one of pgids (a worker command
    and everything it forked)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                f = _stat_fields(int(name))
            except (OSError, ValueError, IndexError):
                continue
            if int(f[2]) in pgids and f[0] != "Z":
                out.append(int(name))
    return out


def cpu_by_pid(pgids):
    out = {}
    for pid in group_pids(pgids):
        try:
            out[pid] = proc_cpu(pid)
        except OSError:
            pass
    return out


def peak_rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Workers:
    """The system's worker command(s), each in a new session."""

    def __init__(self, argvs, log_path):
        self.log = open(log_path, "ab")
        self.procs = [subprocess.Popen(argv, cwd=str(PEERS_DIR), stdin=subprocess.DEVNULL, stdout=self.log,
                                       stderr=subprocess.STDOUT, start_new_session=True) for argv in argvs]
        self.pgids = {p.pid for p in self.procs}

    def alive(self):
        return any(p.poll() is None for p in self.procs)

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait()
        # Grandchildren re-parented to init die with the group too; wait until
        # /proc no longer lists any of them.
        deadline = time.monotonic() + 10
        while group_pids(self.pgids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.log.close()


def count(path):
    return os.stat(path).st_size


def wait_for_idle_server(pid, budget=30.0, window=0.25, idle_cores=0.05):
    """Waits until the broker server is idle: rabbitmq-server writes a fast
    producer's persistent messages to disk for seconds after the publishes
    returned, and a drain started meanwhile would time that instead of the
    worker. Returns the seconds waited (0 without a server pid)."""
    if not pid:
        return 0.0
    t0 = perf()
    while perf() - t0 < budget:
        before = proc_cpu(pid)
        time.sleep(window)
        if (proc_cpu(pid) - before) / window < idle_cores:
            break
    return perf() - t0


def drain(adapter, producer, args, workdir, errors):
    rng = random.Random(args.seed)
    n = args.messages
    if args.mode == "noop":
        make = lambda: ()  # noqa: E731
    elif args.mode == "fib":
        make = lambda: (rng.randint(1, 200),)  # noqa: E731
    else:
        make = lambda: (round(rng.uniform(1, 10), 3),)  # noqa: E731
    queued = 0
    t0 = perf()
    while queued < n and perf() - t0 < args.prefill_budget:
        chunk = [make() for _ in range(min(1000, n - queued))]
        if producer.batch_api and not args.prefill_loop:
            producer.send_batch(args.mode, chunk)
        else:
            producer.send_each(args.mode, chunk)
        queued += len(chunk)
    prefill_seconds = perf() - t0
    settle_seconds = wait_for_idle_server(args.server_pid)
    counter = os.environ["PEER_BENCH_COUNT"]
    gc.collect()
    workers = Workers(adapter.worker_argvs(args.processes, args.threads), workdir / "worker.log")
    try:
        deadline = time.monotonic() + args.start_timeout
        while count(counter) == 0:
            if not workers.alive() or time.monotonic() > deadline:
                errors.append("no completion within %ss of starting the workers (alive: %s)"
                              % (args.start_timeout, workers.alive()))
                return {}
            time.sleep(0.001)
        # The clock starts at the first completion: worker start-up (imports,
        # connecting) is not part of the drain on any system.
        t_start, c_start = perf(), count(counter)
        cpu_start = cpu_by_pid(workers.pgids)
        server_pid = args.server_pid or args.redis_pid
        server_start = proc_cpu(server_pid) if server_pid else None
        poll = args.poll_ms / 1000.0
        timed_out = False
        while True:
            c = count(counter)
            if c >= queued:
                break
            if perf() - t_start > args.max_drain:
                timed_out = True
                break
            if not workers.alive():
                errors.append("workers exited after %d of %d completions" % (c, queued))
                break
            time.sleep(poll)
        t_end, c_end = perf(), count(counter)
        server_end = proc_cpu(server_pid) if server_pid else None
        pids = group_pids(workers.pgids)
        cpu_end = cpu_by_pid(workers.pgids)
        rss = peak_rss_mb(pids)
    finally:
        workers.stop()
    done = c_end - c_start
    wall = t_end - t_start
    worker_cpu = sum(v - cpu_start.get(pid, 0.0) for pid, v in cpu_end.items())
    server_cpu = server_end - server_start if server_start is not None else None
    if done <= 0:
        errors.append("nothing completed in the measured window")
        return {}
    if c_end > queued:
        errors.append("%d completions for %d messages" % (c_end, queued))
    return {
        "queued": queued, "prefill_seconds": prefill_seconds, "prefill_rate": queued / prefill_seconds,
        "server_settle_seconds": settle_seconds,
        "completed": c_end, "measured_messages": done, "drain_seconds": wall, "timed_out": timed_out,
        "throughput": done / wall,
        "worker_cpu_seconds": worker_cpu, "server_cpu_seconds": server_cpu,
        "worker_cpu_per_10k": worker_cpu / done * 10000,
        "server_cpu_per_10k": server_cpu / done * 10000 if server_cpu is not None else None,
        "worker_processes": len(pids), "peak_rss_mb": rss,
    }


def send_rate(producer, args):
    producer.send_each("noop", [()] * 100)  # warm-up: connections, scripts
    gc.collect()
    chunk = [()] * 500  # chunks only so that --send-budget can stop a slow system early
    sent = 0
    cpu0, t0 = time.process_time(), perf()
    while sent < args.sends and perf() - t0 < args.send_budget:
        producer.send_each("noop", chunk)
        sent += len(chunk)
    elapsed, cpu = perf() - t0, time.process_time() - cpu0
    return {"sends": sent, "send_us": elapsed / sent * 1e6, "send_rate": sent / elapsed,
            "send_cpu_us": cpu / sent * 1e6}


def batch_rate(producer, args, raw, errors):
    if not producer.batch_api:
        return {"unsupported": "no batch API"}
    producer.send_each("noop", [()] * 10)
    times = []
    t_begin = perf()
    for _ in range(args.reps):
        if len(times) >= 3 and perf() - t_begin > args.send_budget:
            break
        if raw is not None:
            raw.command("FLUSHALL")
        elif hasattr(producer, "flush"):
            producer.flush()
        gc.collect()
        t0 = perf()
        producer.send_batch("noop", [()] * args.batch_size)
        times.append(perf() - t0)
    med = statistics.median(times)
    return {"batch_api": producer.batch_api, "batch_size": args.batch_size, "reps": len(times),
            "batch_ms": med * 1000, "batch_rate": args.batch_size / med}


def latency(adapter, producer, args, workdir, errors):
    import work

    fifo = os.environ["PEER_BENCH_FIFO"]
    # O_RDWR: the FIFO always has a writer, so reads wait instead of hitting EOF.
    rfd = os.open(fifo, os.O_RDWR)
    size = work.STAMP.size

    def wait_stamp(timeout):
        r, _, _ = select.select([rfd], [], [], timeout)
        if not r:
            return None
        data = os.read(rfd, size)
        return work.STAMP.unpack(data) if len(data) == size else None

    workers = Workers(adapter.worker_argvs(args.processes, args.threads), workdir / "worker.log")
    lat, sends = [], []
    try:
        producer.send_each("stamp", [(-1,)])
        if wait_stamp(args.start_timeout) is None:
            errors.append("warm-up message did not start within %ss" % args.start_timeout)
            return {}
        time.sleep(args.idle_seconds)
        t_begin = perf()
        for i in range(args.latency_sends):
            if perf() - t_begin > args.latency_budget:
                break
            t0 = perf()
            producer.send_each("stamp", [(i,)])
            t1 = perf()
            got = wait_stamp(30)
            if got is None or got[0] != i:
                errors.append("message %d: got %r" % (i, got))
                break
            lat.append(got[1] - t0)
            sends.append(t1 - t0)
    finally:
        workers.stop()
        os.close(rfd)
    lat_ms = sorted(x * 1000 for x in lat)
    return {"latency_sends": len(lat), "p50_ms": percentile(lat_ms, 50), "p99_ms": percentile(lat_ms, 99),
            "max_ms": lat_ms[-1] if lat_ms else None,
            "send_p50_ms": percentile(sorted(x * 1000 for x in sends), 50)}


def versions():
    from importlib import metadata
    out = {}
    for dist in ("dramatiq", "celery", "kombu", "rq", "huey", "taskiq", "taskiq-redis", "redis", "taskito"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adapter", required=True, help="module in bench/peers, e.g. tasks_celery")
    p.add_argument("--mode", required=True, choices=("noop", "fib", "io", "send", "batch", "latency"))
    p.add_argument("--url", help="the redis-server (required unless the adapter has USES_REDIS = False)")
    p.add_argument("--redis-pid", type=int)
    p.add_argument("--server-pid", type=int,
                   help="the broker server whose CPU to report, when it is not the redis-server")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--prefill-budget", type=float, default=20.0)
    p.add_argument("--prefill-loop", action="store_true", help="pre-enqueue with single sends")
    p.add_argument("--max-drain", type=float, default=20.0)
    p.add_argument("--poll-ms", type=float, default=2.0)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--sends", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--send-budget", type=float, default=5.0,
                   help="send/batch: stop after this many seconds (batch: after at least 3 reps)")
    p.add_argument("--latency-sends", type=int, default=1000)
    p.add_argument("--latency-budget", type=float, default=20.0)
    p.add_argument("--idle-seconds", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    if args.url:
        os.environ["PEER_BENCH_REDIS_URL"] = args.url
    os.environ["PEER_BENCH_SQLITE_PATH"] = str(workdir / "broker.sqlite3")
    os.environ["PEER_BENCH_COUNT"] = str(workdir / "count")
    os.environ["PEER_BENCH_FIFO"] = str(workdir / "stamps")
    open(workdir / "count", "wb").close()
    os.mkfifo(workdir / "stamps")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(PEERS_DIR)] + [x for x in os.environ.get("PYTHONPATH", "").split(os.pathsep) if x])

    adapter = importlib.import_module(args.adapter)
    producer = adapter.Producer()
    uses_redis = getattr(adapter, "USES_REDIS", True)
    if uses_redis and not (args.url and args.redis_pid):
        p.error("--url and --redis-pid are required for %s" % args.adapter)
    raw = None
    if uses_redis:
        host, port = args.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        raw = Resp(host, int(port))
    else:
        args.redis_pid = None  # a redis-server this system does not use: its CPU is not reported
    try:
        import dramatiq._engine  # noqa: F401
        impl = "dramatiq-cpp"
    except ImportError:
        impl = None
    result = {"adapter": args.adapter, "mode": args.mode, "versions": versions(), "implementation": impl,
              "concurrency": adapter.concurrency(args.processes, args.threads),
              "python": "%d.%d.%d" % sys.version_info[:3]}
    errors = []
    try:
        if args.mode in ("noop", "fib", "io"):
            result.update(drain(adapter, producer, args, workdir, errors))
        elif args.mode == "send":
            result.update(send_rate(producer, args))
        elif args.mode == "batch":
            result.update(batch_rate(producer, args, raw, errors))
        else:
            result.update(latency(adapter, producer, args, workdir, errors))
    finally:
        producer.close()
        if raw is not None:
            raw.close()
    log = workdir / "worker.log"
    if log.exists():
        result["worker_log_tail"] = log.read_text(errors="replace")[-1500:]
    shutil.rmtree(workdir, ignore_errors=True)
    result["errors"] = errors
    print(json.dumps(result), flush=True)
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
