#!/usr/bin/env python3
"""One embedded-broker benchmark, run with whichever ``dramatiq`` this
interpreter imports; prints exactly one JSON object on stdout (logging goes
to stderr).  The driver is run_sqlite_bench.py.

The broker is dramatiq-cpp's ``SQLiteBroker(--path, durable=--durable)`` by
default.  With --broker-url ``amqp://...`` or ``redis://...`` the same
workloads run on upstream's RabbitmqBroker or RedisBroker (the driver uses
that for upstream on RabbitMQ, and for the cross-process latency of upstream
on Redis).

Modes (--mode):

  throughput  Enqueue --messages no-op messages (no worker yet; group batches
              of --prefill-batch), then start ``Worker(broker,
              worker_threads=8, worker_timeout=...)`` in this process and time
              until the queue holds no message, waiting or leased (SQLite: a
              separate read-only sqlite3 connection polled every --poll-ms;
              RabbitMQ: the queue's ready count, which cannot see the last
              unacked prefetch).  CPU seconds of this process (and of
              --server-pid, the broker's server) over the drain and peak RSS
              (ru_maxrss).
  send        ``actor.send()`` --messages times in a loop, one thread.
              (RabbitMQ: upstream publishes without confirms, so send and
              group time the client side; the count is checked after.)
  group       ``dramatiq.group([...]).run()`` of --group-size messages,
              --reps times (messages built before the clock starts; the
              broker is flushed between reps).
  latency     A worker in ANOTHER process (this script, --role worker, one
              process x --threads): one warm-up message, --idle-seconds
              idle, then --messages times: t0 = time.monotonic_ns() here,
              ``actor.send(i)``, wait until the worker's actor has written its
              own monotonic_ns() (its first statement) into a pipe.
              CLOCK_MONOTONIC is one clock for every process on Linux.  Also
              the worker process's CPU while idle and per message.
  recovery    Worker process A takes --messages messages (default: one per
              thread) whose actor blocks; once all have started in A, worker
              process B (already started and warmed up on another queue) is
              idle; after a random pause of up to --kill-jitter s (so that the
              kill falls anywhere within B's heartbeat period, not always at
              the same phase after B's start), A is SIGKILLed (and reaped) and
              the clock runs until every one of those messages has started
              again in B.
"""

import argparse
import gc
import json
import logging
import os
import platform
import random
import select
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

# The measuring helpers are the Redis benchmark's (same directory).
from redis_bench import (  # noqa: E402
    LogCounter,
    implementation,
    peak_rss_mb,
    percentile,
    proc_cpu_seconds,
    rss_mb_now,
)

STAMP = struct.Struct("<qqq")  # (message index, pid, monotonic ns): 24 bytes < PIPE_BUF, one atomic write
WARM_QUEUE = "bench-warm"
mono_ns = time.monotonic_ns  # CLOCK_MONOTONIC on Linux: comparable between processes


def broker_kind(args):
    if not args.broker_url:
        return "sqlite"
    scheme = args.broker_url.split(":", 1)[0]
    return {"amqp": "rabbitmq", "redis": "redis"}.get(scheme, scheme)


def make_broker(args):
    kind = broker_kind(args)
    if kind == "sqlite":
        from dramatiq.brokers.sqlite import SQLiteBroker
        return SQLiteBroker(args.path, durable=args.durable)
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        return RabbitmqBroker(url=args.broker_url)
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker
        return RedisBroker(url=args.broker_url)
    raise SystemExit("error: unsupported --broker-url %r" % args.broker_url)


class Actors:
    """The actors every process of one run declares, by the same names."""

    def __init__(self, dramatiq, queue_name, stamp_fd=None, hold=False):
        self.hold_forever = threading.Event()

        @dramatiq.actor(queue_name=queue_name, max_retries=0)
        def noop():
            pass

        @dramatiq.actor(queue_name=queue_name, max_retries=0)
        def stamp(i):
            t = mono_ns()
            os.write(stamp_fd, STAMP.pack(i, os.getpid(), t))
            if hold and i >= 0:
                self.hold_forever.wait()  # recovery: process A never finishes these

        @dramatiq.actor(queue_name=WARM_QUEUE, max_retries=0)
        def warm(i):
            os.write(stamp_fd, STAMP.pack(i, os.getpid(), mono_ns()))

        self.noop, self.stamp, self.warm = noop, stamp, warm


class Stamps:
    """The read end of the pipe worker processes write their stamps to."""

    def __init__(self):
        self.rfd, self.wfd = os.pipe()

    def get(self, timeout):
        r, _, _ = select.select([self.rfd], [], [], timeout)
        if not r:
            return None
        data = os.read(self.rfd, STAMP.size)
        if len(data) != STAMP.size:
            raise RuntimeError("short stamp read (%d bytes)" % len(data))
        return STAMP.unpack(data)


class WorkerProcess:
    """This script as a worker process (--role worker); it stops when its
    stdin closes."""

    def __init__(self, args, stamps, queues, hold=False):
        argv = [sys.executable, os.path.abspath(__file__), "--role", "worker", "--mode", args.mode,
                "--threads", str(args.threads), "--worker-timeout", str(args.worker_timeout),
                "--queue", args.queue, "--worker-queues", ",".join(queues), "--stamp-fd", str(stamps.wfd)]
        argv += broker_argv(args)
        if hold:
            argv.append("--hold")
        if args.no_process_boot:
            argv.append("--no-process-boot")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=(stamps.wfd,))
        self.pid = self.proc.pid

    def cpu(self):
        return proc_cpu_seconds(self.pid)

    def kill(self):
        """SIGKILL, then reap at once: a zombie's pid still looks alive."""
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def broker_argv(args):
    if args.broker_url:
        return ["--broker-url", args.broker_url]
    return ["--path", args.path] + (["--durable"] if args.durable else [])


def worker_main(args):
    """--role worker: start a Worker on --worker-queues, say so on the
    stamp pipe (index -2), run until stdin closes."""
    import dramatiq
    broker = make_broker(args)
    dramatiq.set_broker(broker)
    if not args.no_process_boot:
        broker.emit_after("process_boot")
    Actors(dramatiq, args.queue, stamp_fd=args.stamp_fd, hold=args.hold)
    queues = set(q for q in args.worker_queues.split(",") if q)
    worker = dramatiq.Worker(broker, queues=queues, worker_threads=args.threads,
                             worker_timeout=args.worker_timeout)
    worker.start()
    os.write(args.stamp_fd, STAMP.pack(-2, os.getpid(), mono_ns()))
    sys.stdin.read()  # until the benchmark closes our stdin
    worker.stop()
    broker.close()
    return 0


class QueueProbe:
    """Whether the benchmark queue still holds messages, asked without
    going through the broker under test's connections."""

    def __init__(self, args, broker):
        self.kind = broker_kind(args)
        self.broker = broker
        self.queue = args.queue
        if self.kind == "sqlite":
            # Its own connection, as another process's: the worker's
            # connections are not shared with the poll.  The table by name
            # for what it keeps, and a broker of its own for the counts: its
            # reads first move what producers spooled into the table (a
            # send is in its producer's spool file until a write moves it;
            # the prefill's count moves it before the timed drain starts).
            from dramatiq.brokers.sqlite import SQLiteBroker
            self.reader = SQLiteBroker(path=args.path, middleware=[])
            self.db = sqlite3.connect("file:%s?mode=ro" % args.path, uri=True, timeout=10,
                                      check_same_thread=False)

    def pending(self):
        # Polled while the worker drains: the table alone (cheap), since the
        # prefill's count() moved every spooled send into it.
        if self.kind == "sqlite":
            row = self.db.execute("SELECT EXISTS(SELECT 1 FROM dramatiq_messages WHERE queue = ?)",
                                  (self.queue,)).fetchone()
            return row[0]
        return self.broker.get_queue_message_counts(self.queue)[0]

    def count(self):
        if self.kind == "sqlite":
            return self.reader.get_queue_message_counts(self.queue)[0]
        return self.broker.get_queue_message_counts(self.queue)[0]

    def count_when(self, expected, timeout=10.0):
        """The queue's count, once it is `expected` or after `timeout` s.
        RabbitMQ counts a message once the server has routed it, which can
        be after basic_publish returned (upstream publishes without
        confirms), so the check waits a moment there; a SQLite commit is
        counted at once."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.count()
            if c == expected or self.kind == "sqlite" or time.monotonic() > deadline:
                return c
            time.sleep(0.01)

    def dead(self):
        if self.kind == "sqlite":
            return self.db.execute("SELECT count(*) FROM dramatiq_dead_letters WHERE queue = ?",
                                   (self.queue,)).fetchone()[0]
        return self.broker.get_queue_message_counts(self.queue)[2]

    def close(self):
        if self.kind == "sqlite":
            self.db.close()
            self.reader.close()


def flush(broker):
    broker.flush_all()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("throughput", "send", "group", "latency", "recovery"), required=True)
    p.add_argument("--path", help="the SQLite file (default: a new one in a temp dir, removed after the run)")
    p.add_argument("--durable", action="store_true", help="SQLiteBroker(durable=True): synchronous=FULL")
    p.add_argument("--broker-url", help="amqp://... or redis://...: upstream's RabbitmqBroker/RedisBroker instead")
    p.add_argument("--server-pid", type=int, help="throughput: also the CPU of this process (the broker's server)")
    p.add_argument("--queue", default="bench")
    p.add_argument("--messages", type=int, default=10000,
                   help="throughput: messages drained; send: sends; latency: measured sends; "
                        "recovery: held messages (default: --threads)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--worker-timeout", type=int, default=100, help="worker_timeout in ms")
    p.add_argument("--prefill-batch", type=int, default=1000)
    p.add_argument("--poll-ms", type=float, default=2.0)
    p.add_argument("--group-size", type=int, default=1000)
    p.add_argument("--reps", type=int, default=10, help="group: timed group runs")
    p.add_argument("--idle-seconds", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=600, help="give up on a drain/wait after this many s")
    p.add_argument("--recovery-timeout", type=float, default=30,
                   help="recovery: s to wait after the kill for the held messages to run again (default 30)")
    p.add_argument("--kill-jitter", type=float, default=1.0,
                   help="recovery: A is killed after a random pause of 0 to this many s (default 1)")
    p.add_argument("--no-process-boot", action="store_true")
    p.add_argument("--role", choices=("main", "worker"), default="main", help=argparse.SUPPRESS)
    p.add_argument("--worker-queues", default="", help=argparse.SUPPRESS)
    p.add_argument("--stamp-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[%(levelname)s] %(process)d %(name)s: %(message)s")
    logs = LogCounter()
    logging.getLogger().addHandler(logs)

    if args.role == "worker":
        return worker_main(args)

    tmpdir = None
    if broker_kind(args) == "sqlite" and not args.path:
        tmpdir = tempfile.mkdtemp(prefix="sqlite-bench-")
        args.path = os.path.join(tmpdir, "broker.sqlite3")
    try:
        return run(args, logs)
    finally:
        if tmpdir:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)


def run(args, logs):
    import dramatiq

    perf = time.perf_counter
    rss_start = rss_mb_now()
    broker = make_broker(args)
    dramatiq.set_broker(broker)
    if not args.no_process_boot:
        broker.emit_after("process_boot")
    stamps = Stamps() if args.mode in ("latency", "recovery") else None
    actors = Actors(dramatiq, args.queue, stamp_fd=stamps.wfd if stamps else None)
    broker.declare_queue(args.queue)
    if broker_kind(args) == "rabbitmq":
        # On the server now, so that the purge below finds them.
        for name in (args.queue, WARM_QUEUE):
            broker.declare_queue(name, ensure=True)
    if broker_kind(args) != "sqlite":
        flush(broker)  # a server outlives a run; the SQLite file is new for each
    probe = QueueProbe(args, broker)

    result = {
        "implementation": implementation(),
        "version": getattr(dramatiq, "__version__", None),
        "dramatiq_path": os.path.dirname(getattr(dramatiq, "__file__", "") or ""),
        "python": platform.python_version(),
        "broker": broker_kind(args),
        "durable": bool(args.durable) if broker_kind(args) == "sqlite" else None,
        "mode": args.mode,
        "worker_threads": args.threads,
        "worker_timeout_ms": args.worker_timeout,
    }
    errors = []
    n = args.messages

    if args.mode == "throughput":
        t0 = perf()
        done = 0
        while done < n:
            k = min(args.prefill_batch, n - done)
            dramatiq.group([actors.noop.message() for _ in range(k)]).run()
            done += k
        prefill_seconds = perf() - t0
        queued = probe.count_when(n)
        if queued != n:
            errors.append("after prefill %d messages queued, expected %d" % (queued, n))
        gc.collect()
        rss_before = rss_mb_now()
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=args.worker_timeout)
        poll = args.poll_ms / 1000.0
        deadline = time.monotonic() + args.timeout
        server0 = proc_cpu_seconds(args.server_pid) if args.server_pid else None
        cpu0 = time.process_time()
        t0 = perf()
        worker.start()
        polls = 0
        while True:
            left = probe.pending()
            polls += 1
            if not left:
                break
            if time.monotonic() > deadline:
                errors.append("not drained after %ss: %d left" % (args.timeout, probe.count()))
                break
            time.sleep(poll)
        drain = perf() - t0
        cpu = time.process_time() - cpu0
        server_cpu = proc_cpu_seconds(args.server_pid) - server0 if args.server_pid else None
        t0 = perf()
        worker.stop()
        stop_seconds = perf() - t0
        dead = probe.dead()
        if dead:
            errors.append("%d message(s) dead-lettered" % dead)
        result.update({
            "messages": n,
            "prefill_seconds": prefill_seconds,
            "prefill_rate": n / prefill_seconds,
            "drain_seconds": drain,
            "throughput": n / drain,
            "worker_cpu_seconds": cpu,
            "worker_cpu_per_10k": cpu / n * 10000,
            "worker_cpu_util": cpu / drain,
            "server_cpu_seconds": server_cpu,
            "server_cpu_per_10k": server_cpu / n * 10000 if server_cpu is not None else None,
            "polls": polls,
            "stop_seconds": stop_seconds,
            "rss_start_mb": rss_start,
            "rss_before_worker_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "dead_letters": dead,
        })

    elif args.mode == "send":
        for _ in range(100):  # warm-up: connection, statements
            actors.noop.send()
        gc.collect()
        send = actors.noop.send
        cpu0 = time.process_time()
        t0 = perf()
        for _ in range(n):
            send()
        elapsed = perf() - t0
        cpu = time.process_time() - cpu0
        queued = probe.count_when(n + 100)
        if queued != n + 100:
            errors.append("%d messages queued, expected %d" % (queued, n + 100))
        result.update({
            "messages": n,
            "send_seconds": elapsed,
            "send_us": elapsed / n * 1e6,
            "send_rate": n / elapsed,
            "send_cpu_us": cpu / n * 1e6,
        })

    elif args.mode == "group":
        actors.noop.send()  # warm-up
        times = []
        for _ in range(args.reps):
            flush(broker)
            g = dramatiq.group([actors.noop.message() for _ in range(args.group_size)])
            gc.collect()
            t0 = perf()
            g.run()
            times.append(perf() - t0)
            queued = probe.count_when(args.group_size)
            if queued != args.group_size:
                errors.append("%d messages queued after group.run(), expected %d" % (queued, args.group_size))
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
        result.update(latency(args, actors, stamps, errors))

    elif args.mode == "recovery":
        result.update(recovery(args, actors, stamps, errors))

    probe.close()
    broker.close()
    result["log_warnings"] = logs.count
    result["log_first"] = logs.first
    result["errors"] = errors
    print(json.dumps(result), flush=True)
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors else 0


def wait_ready(stamps, worker, timeout, errors, what):
    got = stamps.get(timeout)
    if got is None or got[0] != -2 or got[1] != worker.pid:
        errors.append("%s did not report ready within %ss (got %r)" % (what, timeout, got))
        return False
    return True


def latency(args, actors, stamps, errors):
    worker = WorkerProcess(args, stamps, [args.queue])
    lat, send_times = [], []
    out = {}
    try:
        if not wait_ready(stamps, worker, args.timeout, errors, "the worker process"):
            return {}
        actors.stamp.send(-1)  # warm-up: producer's connection, the worker's first fetch
        got = stamps.get(args.timeout)
        if got is None or got[0] != -1:
            errors.append("warm-up message did not start within %ss (got %r)" % (args.timeout, got))
            return {}
        idle_cpu0 = worker.cpu()
        time.sleep(args.idle_seconds)
        idle_cpu = worker.cpu() - idle_cpu0
        wcpu0, pcpu0 = worker.cpu(), time.process_time()
        for i in range(args.messages):
            t0 = mono_ns()
            actors.stamp.send(i)
            t1 = mono_ns()
            got = stamps.get(args.timeout)
            if got is None or got[0] != i:
                errors.append("message %d: expected its start stamp within %ss, got %r" % (i, args.timeout, got))
                break
            lat.append(got[2] - t0)
            send_times.append(t1 - t0)
        wcpu, pcpu = worker.cpu() - wcpu0, time.process_time() - pcpu0
        k = max(1, len(lat))
        out = {"idle_worker_cpu_util": idle_cpu / args.idle_seconds,
               "worker_cpu_per_msg_us": wcpu / k * 1e6, "producer_cpu_per_msg_us": pcpu / k * 1e6}
    finally:
        code = worker.stop()
        if code:
            errors.append("the worker process exited with %s" % code)
    lat_ms = sorted(x / 1e6 for x in lat)
    out.update({
        "messages": len(lat),
        "idle_seconds": args.idle_seconds,
        "first_ms": lat[0] / 1e6 if lat else None,
        "p50_ms": percentile(lat_ms, 50),
        "p90_ms": percentile(lat_ms, 90),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": lat_ms[-1] if lat_ms else None,
        "mean_ms": statistics.fmean(lat_ms) if lat_ms else None,
        "send_p50_ms": percentile(sorted(x / 1e6 for x in send_times), 50),
    })
    return out


def recovery(args, actors, stamps, errors):
    held = args.messages if args.messages and args.messages <= args.threads else args.threads
    a = WorkerProcess(args, stamps, [args.queue], hold=True)
    b = None
    try:
        if not wait_ready(stamps, a, args.timeout, errors, "worker process A"):
            return {}
        for i in range(held):
            actors.stamp.send(i)
        started_in_a = set()
        while len(started_in_a) < held:
            got = stamps.get(args.timeout)
            if got is None or got[1] != a.pid:
                errors.append("expected %d messages to start in A, %d did (then %r)" % (held, len(started_in_a), got))
                return {}
            started_in_a.add(got[0])
        # B consumes the benchmark queue too; warm it up on its own queue so
        # its start-up is not part of the figure.
        b = WorkerProcess(args, stamps, [args.queue, WARM_QUEUE])
        if not wait_ready(stamps, b, args.timeout, errors, "worker process B"):
            return {}
        actors.warm.send(-1)
        got = stamps.get(args.timeout)
        if got is None or got[:2] != (-1, b.pid):
            errors.append("B's warm-up message did not start within %ss (got %r)" % (args.timeout, got))
            return {}
        kill_delay = random.SystemRandom().uniform(0, args.kill_jitter)
        time.sleep(kill_delay)
        t_kill = mono_ns()
        a.kill()
        reaped = mono_ns()
        again = {}
        while len(again) < held:
            got = stamps.get(max(0.0, args.recovery_timeout - (mono_ns() - t_kill) / 1e9))
            if got is None:
                errors.append("%d of %d held messages ran again within %ss of the kill"
                              % (len(again), held, args.recovery_timeout))
                break
            if got[1] != b.pid or got[0] not in started_in_a:
                errors.append("unexpected start %r" % (got,))
                break
            again.setdefault(got[0], got[2])
        times = sorted((t - t_kill) / 1e9 for t in again.values())
        return {
            "held_messages": held,
            "ran_again": len(again),
            "recovery_first_s": times[0] if times else None,
            "recovery_s": times[-1] if len(times) == held else None,
            "kill_reap_ms": (reaped - t_kill) / 1e6,
            "kill_delay_s": kill_delay,
        }
    finally:
        if a.proc.poll() is None:
            a.kill()
        if b is not None:
            code = b.stop()
            if code:
                errors.append("worker process B exited with %s" % code)


if __name__ == "__main__":
    sys.exit(main())
