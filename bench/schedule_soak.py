"""A soak of periodic ticks (issue 18): for each broker, three scheduler
processes race over the same every-second schedule through N simulated
seconds (each runs Scheduler.run_due at every second as fast as it can,
so they overtake one another), while a chaos loop SIGKILLs one of them now
and then (in the middle of whatever it was doing: holding a RabbitMQ
schedule lock, between Redis's WATCH and EXEC, inside an SQLite
transaction) and starts it again (it resumes from the broker's record).

At the end a worker drains the queue and counts: every tick of the N must
be there exactly once (none lost, none duplicated).

  python3 bench/schedule_soak.py                      # 10k ticks per broker, a kill every 0.5 s or less
  python3 bench/schedule_soak.py --quick              # the CI variant: 1000 ticks, a kill every 0.1 s or less
  python3 bench/schedule_soak.py --brokers redis sqlite --ticks 2000

Exits 1 when a tick was lost or duplicated on any broker. Not a test: run
by hand (the figures in docs/periodic.md come from it); `--quick` runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

#: The first simulated second (a Thursday, 2026-12-03 00:00:00 UTC).
START = 1796256000

SCHEDULER = r'''
import os, sys
import dramatiq

kind, url, ticks = sys.argv[1], sys.argv[2], int(sys.argv[3])
START = int(os.environ["SOAK_START"])
if kind == "redis":
    from dramatiq.brokers.redis import RedisBroker
    broker = RedisBroker(url=url)
elif kind == "rabbitmq":
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
else:
    from dramatiq.brokers.sqlite import SQLiteBroker
    broker = SQLiteBroker(path=url)
dramatiq.set_broker(broker)

@dramatiq.actor(queue_name="soak-ticks", periodic="* * * * * *")
def beat():
    pass

from dramatiq.schedules import Scheduler
scheduler = Scheduler(broker)
enqueued = 0
for second in range(ticks):
    for outcome in scheduler.run_due(START + second):
        if outcome["error"]:
            print("error:", outcome["error"], file=sys.stderr, flush=True)
        enqueued += outcome["enqueued"]
print("enqueued", enqueued, flush=True)
broker.close()
'''


def open_broker(kind: str, url: str):
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker
        return RedisBroker(url=url)
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        return RabbitmqBroker(url=url)
    from dramatiq.brokers.sqlite import SQLiteBroker
    return SQLiteBroker(path=url)


def drain(kind: str, url: str, expected: int, timeout: float) -> list:
    """Every periodic_tick in the queue, as a worker runs them."""
    import dramatiq
    from dramatiq.middleware import CurrentMessage

    broker = open_broker(kind, url)
    broker.add_middleware(CurrentMessage())
    seen, lock, all_in = [], threading.Lock(), threading.Event()

    @dramatiq.actor(broker=broker, queue_name="soak-ticks", periodic="* * * * * *")
    def beat():
        with lock:
            seen.append(CurrentMessage.get_current_message().options["periodic_tick"])
            if len(seen) >= expected:
                all_in.set()

    worker = dramatiq.Worker(broker, worker_threads=4)
    worker.start()
    try:
        all_in.wait(timeout)
        broker.join("soak-ticks", timeout=int(timeout * 1000))  # and whatever came beyond
        worker.join()
    finally:
        worker.stop()
        broker.close()
    return list(seen)


def soak(kind: str, url: str, ticks: int, kill_every: float, workdir: Path) -> dict:
    script = workdir / "scheduler.py"
    script.write_text(SCHEDULER)
    env = dict(os.environ, SOAK_START=str(START))
    logs = []

    def start(index: int) -> subprocess.Popen:
        log = open(workdir / ("scheduler-%s-%d-%d.log" % (kind, index, len(logs))), "w+")
        logs.append(log)
        return subprocess.Popen([sys.executable, str(script), kind, url, str(ticks)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)

    began = time.monotonic()
    processes = [start(i) for i in range(3)]
    kills = 0
    rng = random.Random(18)
    while any(p.poll() is None for p in processes):
        time.sleep(rng.uniform(0.02, kill_every))
        alive = [i for i, p in enumerate(processes) if p.poll() is None]
        if len(alive) < 2:
            continue  # keep one running: a kill then a restart needs another to go on meanwhile
        victim = rng.choice(alive)
        processes[victim].kill()
        processes[victim].wait()
        kills += 1
        processes[victim] = start(victim)
    scheduling = time.monotonic() - began
    failed = [p.returncode for p in processes if p.returncode != 0]
    errors = 0
    for log in logs:
        log.seek(0)
        errors += sum(1 for line in log if line.startswith("error:"))
        log.close()

    seen = drain(kind, url, ticks, timeout=max(120.0, ticks / 50))
    expected = {(START + s) * 1000 for s in range(ticks)}
    counts = {}
    for tick in seen:
        counts[tick] = counts.get(tick, 0) + 1
    return {
        "broker": kind,
        "ticks": ticks,
        "schedulers": 3,
        "kills": kills,
        "scheduling_seconds": round(scheduling, 1),
        "enqueue_errors_retried": errors,
        "scheduler_exit_codes_other_than_0": failed,
        "messages": len(seen),
        "lost": len(expected - set(counts)),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "unexpected": len(set(counts) - expected),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", nargs="+", default=["redis", "rabbitmq", "sqlite"],
                        choices=["redis", "rabbitmq", "sqlite"])
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--kill-every", type=float, default=0.5, help="most seconds between two SIGKILLs")
    parser.add_argument("--quick", action="store_true", help="1000 ticks, a kill every 0.1 s or less")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    if args.quick:
        args.ticks, args.kill_every = 1000, 0.1

    results = []
    with tempfile.TemporaryDirectory(prefix="dramatiq-schedule-soak-") as tmp:
        workdir = Path(tmp)
        for kind in args.brokers:
            server = None
            if kind == "redis":
                server = redis_support.RedisServer()
                server.start()
                url = server.url
            elif kind == "rabbitmq":
                server = rabbitmq_support.RabbitmqServer()
                server.start()
                url = server.url
            else:
                url = str(workdir / "broker.sqlite3")
            try:
                result = soak(kind, url, args.ticks, args.kill_every, workdir)
            finally:
                if server is not None:
                    server.close()
            results.append(result)
            print(json.dumps(result), flush=True)

    bad = [r for r in results
           if r["lost"] or r["duplicated"] or r["unexpected"] or r["scheduler_exit_codes_other_than_0"]]
    print("%-9s %7s %5s %9s %6s %5s %10s %7s" % ("broker", "ticks", "kills", "messages", "lost",
                                                  "dups", "retried", "seconds"))
    for r in results:
        print("%-9s %7d %5d %9d %6d %5d %10d %7.1f" % (r["broker"], r["ticks"], r["kills"], r["messages"],
                                                       r["lost"], r["duplicated"], r["enqueue_errors_retried"],
                                                       r["scheduling_seconds"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
