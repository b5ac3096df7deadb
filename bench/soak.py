"""A soak that counts every message (issue 17 item 4): for each broker,
producer processes send N messages whose actor records its id durably
(an O_APPEND line per run, in the page cache: a SIGKILLed worker's writes
survive it), while the `dramatiq` command runs several worker processes and
a chaos loop SIGKILLs worker processes, restarts the broker's server
(Redis with its append-only file, RabbitMQ with durable queues and publisher
confirms) and fills the embedded broker's disk once (a small tmpfs).

At the end it counts: distinct ids processed (must be N: 0 lost),
duplicates (at-least-once: reported, not an error), every producer failure
(each an exception the producer saw and retried: none silent), and the
memory and open files of the long-lived processes (the producers and the
broker's server) between the first tenth of the run and its end.

  python3 bench/soak.py                          # 100k messages, 20 kills, 2 server restarts
  python3 bench/soak.py --quick                  # the CI variant: a few thousand, a few kills
  python3 bench/soak.py --brokers redis --json bench/results/soak.json

Exits 1 when any id was lost or a process of the run failed to start.
Not a test: run by hand (the figures in docs/reliability.md come from it);
`--quick` runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import rabbitmq_support  # noqa: E402
import redis_support  # noqa: E402

APP = r'''
import os
import time

import dramatiq

KIND = os.environ["SOAK_BROKER"]
URL = os.environ["SOAK_URL"]
if KIND == "redis":
    from dramatiq.brokers.redis import RedisBroker
    # A killed worker's messages come back once its heartbeat is this old;
    # maintenance (which requeues them) runs on one fetch in ten.
    broker = RedisBroker(url=URL, heartbeat_timeout=5000, maintenance_chance=100000)
elif KIND == "rabbitmq":
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    broker = RabbitmqBroker(url=URL, confirm_delivery=True)
else:
    from dramatiq.brokers.sqlite import SQLiteBroker
    broker = SQLiteBroker(URL)
dramatiq.set_broker(broker)

_files = {}


def _record_file():
    pid = os.getpid()
    fd = _files.get(pid)
    if fd is None:
        path = os.path.join(os.environ["SOAK_RECORDS"], "%d-%d.ids" % (pid, time.time_ns()))
        fd = _files[pid] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    return fd


@dramatiq.actor(queue_name="soak", max_retries=1000, min_backoff=50, max_backoff=1000)
def record(i):
    # One write of one short line: appended whole, kept by the kernel when
    # this process is killed right after.
    os.write(_record_file(), b"%d\n" % i)
'''

PRODUCER = r'''
import json, os, sys, time
sys.path.insert(0, os.environ["SOAK_APP_DIR"])
import soak_app

start, end, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

def usage():
    rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"rss_mb": round(rss / 1e6, 1), "fds": len(os.listdir("/proc/self/fd"))}

failures = {}
began = time.monotonic()
early = None
count = end - start
for n, i in enumerate(range(start, end)):
    # Paced over the run, so the chaos hits a flow of sends.
    wait = began + duration * n / count - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    while True:
        try:
            soak_app.record.send(i)
            break
        except Exception as error:  # each one seen, counted and retried
            name = type(error).__name__
            failures[name] = failures.get(name, 0) + 1
            time.sleep(0.1)
    if early is None and n >= count // 10:
        early = usage()
print(json.dumps({"failures": failures, "early": early, "end": usage()}), flush=True)
'''


def now():
    return time.monotonic()


def process_usage(pid):
    try:
        rss = int(Path("/proc/%d/statm" % pid).read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return {"rss_mb": round(rss / 1e6, 1), "fds": len(os.listdir("/proc/%d/fd" % pid))}
    except OSError:
        return None


def server_usage(pid):
    """The usage of the biggest process under `pid` (rabbitmq-server's
    script execs a shell that runs the Erlang VM as its child)."""
    best, stack = None, [pid]
    while stack:
        p = stack.pop()
        stack.extend(children_of(p))
        usage = process_usage(p)
        if usage and (best is None or usage["rss_mb"] > best["rss_mb"]):
            best = usage
    return best


def children_of(pid):
    try:
        return [int(p) for p in Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]
    except OSError:
        return []


class WorkerCommand:
    """One `dramatiq soak_app` command, started again whenever it exits (a
    killed worker process makes the command stop its others and exit, as
    upstream's does)."""

    def __init__(self, name, python, env, cwd, processes, threads, log_dir):
        self.name, self.python, self.env, self.cwd = name, python, env, cwd
        self.processes, self.threads = processes, threads
        self.log = open(os.path.join(log_dir, name + ".log"), "ab")
        self.proc = None
        self.starts = 0

    def ensure_running(self):
        if self.proc is not None and self.proc.poll() is None:
            return
        self.starts += 1
        self.proc = subprocess.Popen(
            [self.python, "-m", "dramatiq", "soak_app", "--processes", str(self.processes),
             "--threads", str(self.threads)],
            cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)

    def kill_one_worker(self):
        """SIGKILLs one of its worker processes; False if it has none now."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        workers = children_of(self.proc.pid)
        if not workers:
            return False
        try:
            os.kill(random.choice(workers), signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def read_records(records_dir):
    seen, total = set(), 0
    for path in Path(records_dir).glob("*.ids"):
        for line in path.read_bytes().split(b"\n"):
            if line:
                seen.add(int(line))
                total += 1
    return seen, total


class TmpfsDisk:
    """The embedded broker's directory on a tmpfs of `size_mb`, so that
    filling it is a real ENOSPC without touching the machine's disk."""

    def __init__(self, path, size_mb):
        self.path = path
        self.mounted = False
        os.makedirs(path, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", path],
                              capture_output=True, text=True)
        self.why_not = None if done.returncode == 0 else (done.stderr.strip() or "mount failed")
        self.mounted = done.returncode == 0

    def fill(self, hold_seconds):
        filler = os.path.join(self.path, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        time.sleep(hold_seconds)  # the outage itself: how long the disk stays full
        os.unlink(filler)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], capture_output=True)


def soak(kind, args, work_dir):
    random.seed(args.seed)
    records = os.path.join(work_dir, "records")
    logs = os.path.join(work_dir, "logs")
    app_dir = os.path.join(work_dir, "app")
    for d in (records, logs, app_dir):
        os.makedirs(d, exist_ok=True)
    Path(app_dir, "soak_app.py").write_text(APP)

    server = disk = None
    events = []
    if kind == "redis":
        # Restarts are clean stops (SIGTERM writes the log out): everysec
        # keeps every acknowledged write across them; "always" would make
        # the server's fsyncs the whole run's limit.
        server = redis_support.RedisServer(appendonly=True, appendfsync="everysec")
        server.start()
        url = server.url
    elif kind == "rabbitmq":
        server = rabbitmq_support.RabbitmqServer()
        server.start()
        url = server.url
    else:
        disk = TmpfsDisk(os.path.join(work_dir, "disk"), args.disk_mb)
        if not disk.mounted:
            events.append("disk-full phase skipped: cannot mount a tmpfs (%s)" % disk.why_not)
        url = os.path.join(disk.path, "broker.sqlite3")

    env = redis_support.subprocess_env(upstream=False, extra_path=[app_dir], SOAK_BROKER=kind, SOAK_URL=url,
                                       SOAK_RECORDS=records, SOAK_APP_DIR=app_dir)
    commands = [WorkerCommand("ours", sys.executable, env, app_dir, args.processes, args.threads, logs)]
    upstream = redis_support.upstream_python() if kind == "redis" and not args.no_upstream else None
    if upstream:
        up_env = redis_support.subprocess_env(upstream=True, extra_path=[app_dir], SOAK_BROKER=kind, SOAK_URL=url,
                                              SOAK_RECORDS=records, SOAK_APP_DIR=app_dir)
        commands.append(WorkerCommand("upstream", upstream, up_env, app_dir, 1, args.threads, logs))
    elif kind == "redis":
        events.append("no upstream workers in the mix (no upstream interpreter)")
    server_early = None

    try:
        # Declares the queue before anyone sends (the command's first boot).
        for command in commands:
            command.ensure_running()
        producers = []
        per = args.messages // args.producers
        for p in range(args.producers):
            start = p * per
            end = args.messages if p == args.producers - 1 else start + per
            producers.append(subprocess.Popen(
                [sys.executable, "-c", PRODUCER, str(start), str(end), str(args.duration)],
                env=env, cwd=app_dir, stdout=subprocess.PIPE, stderr=open(os.path.join(logs, "producer%d.log" % p), "wb")))

        began = now()
        kill_times = [began + args.duration * (k + 0.5) / args.kills for k in range(args.kills)]
        restart_times = [began + args.duration * (r + 1) / (args.restarts + 1) for r in range(args.restarts)] \
            if server is not None else []
        # Early, while the log and the file still grow: later their pages
        # are reused and a full disk may go unnoticed.
        fill_time = began + min(2.0, args.duration / 10) if disk is not None and disk.mounted else None
        kills = 0
        filler = None
        while any(p.poll() is None for p in producers):
            t = now()
            if server_early is None and server is not None and t > began + args.duration / 10:
                server_early = server_usage(server.pid)
            for command in commands:
                command.ensure_running()
            if kill_times and t >= kill_times[0]:
                command = commands[kills % len(commands)]
                if command.kill_one_worker():
                    kills += 1
                    kill_times.pop(0)
            if restart_times and t >= restart_times[0]:
                restart_times.pop(0)
                stopped = now()
                server.stop()
                server.start()  # same port, same data
                events.append("%s restarted at %.0f s (down %.1f s)" % (server.name, stopped - began, now() - stopped))
            if fill_time is not None and t >= fill_time:
                fill_time = None
                filler = threading.Thread(target=disk.fill, args=(args.disk_full_seconds,))
                filler.start()
                events.append("disk filled at %.0f s for %.0f s" % (t - began, args.disk_full_seconds))
            time.sleep(0.05)
        if filler is not None:
            filler.join()
        produced = [json.loads(p.stdout.read() or b"{}") for p in producers]
        bad = [i for i, p in enumerate(producers) if p.returncode != 0]
        if bad:
            raise RuntimeError("producer(s) %s failed; see %s" % (bad, logs))
        server_end = server_usage(server.pid) if server is not None else None

        # Drain: everything sent must be processed by the (restarted) workers.
        drain_deadline = now() + args.drain_timeout
        while True:
            for command in commands:
                command.ensure_running()
            seen, total = read_records(records)
            if len(seen) >= args.messages or now() > drain_deadline:
                break
            time.sleep(0.5)
        elapsed = now() - began
    finally:
        for command in locals().get("commands", []):
            command.stop()
        if server is not None:
            server.close()
        if disk is not None:
            disk.close()

    seen, total = read_records(records)
    failures = {}
    for p in produced:
        for name, n in p.get("failures", {}).items():
            failures[name] = failures.get(name, 0) + n
    return {
        "broker": kind,
        "messages": args.messages,
        "distinct_processed": len(seen & set(range(args.messages))),
        "lost": args.messages - len(seen & set(range(args.messages))),
        "duplicates": total - len(seen),
        "producer_failures": failures,
        "worker_kills": kills,
        "command_starts": {c.name: c.starts for c in commands},
        "events": events,
        "producers_memory": [{"early": p.get("early"), "end": p.get("end")} for p in produced],
        "server_memory": {"early": server_early, "end": server_end} if server is not None else None,
        "seconds": round(elapsed, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="sqlite,redis,rabbitmq")
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--kills", type=int, default=20, help="worker processes SIGKILLed per broker")
    parser.add_argument("--restarts", type=int, default=2, help="broker server restarts (Redis, RabbitMQ)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds the sends are spread over")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=3, help="worker processes of our command")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--disk-mb", type=int, default=64)
    parser.add_argument("--disk-full-seconds", type=float, default=3.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--no-upstream", action="store_true", help="no upstream workers in the Redis run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="CI variant: 3,000 messages over 20 s, 4 kills, 1 restart")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.kills, args.restarts, args.duration = 3000, 4, 1, 20.0
        args.processes, args.drain_timeout = 2, 120.0

    results = []
    for kind in args.brokers.split(","):
        work_dir = tempfile.mkdtemp(prefix="soak-%s-" % kind)
        try:
            result = soak(kind, args, work_dir)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        results.append(result)
        print(json.dumps(result), flush=True)

    print()
    print("| broker | messages | lost | duplicates | producer exceptions (retried) | worker kills | "
          "server restarts / disk full | producer RSS MB, fds (10% -> end) | server RSS MB, fds | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        mem = "; ".join("%s/%s -> %s/%s" % (p["early"]["rss_mb"], p["early"]["fds"], p["end"]["rss_mb"], p["end"]["fds"])
                        for p in r["producers_memory"] if p["early"] and p["end"])
        srv = r["server_memory"]
        srv_text = "%s/%s -> %s/%s" % (srv["early"]["rss_mb"], srv["early"]["fds"], srv["end"]["rss_mb"],
                                       srv["end"]["fds"]) if srv and srv["early"] and srv["end"] else "-"
        print("| %s | %d | %d | %d | %s | %d | %s | %s | %s | %s |" % (
            r["broker"], r["messages"], r["lost"], r["duplicates"],
            ", ".join("%s %d" % kv for kv in sorted(r["producer_failures"].items())) or "0",
            r["worker_kills"], "; ".join(r["events"]) or "-", mem, srv_text, r["seconds"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(1 if any(r["lost"] for r in results) else 0)


if __name__ == "__main__":
    main()
