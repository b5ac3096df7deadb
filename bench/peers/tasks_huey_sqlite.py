"""Huey adapter on SQLite: ``SqliteHuey`` on the run's own file
($PEER_BENCH_SQLITE_PATH; WAL, Huey's defaults otherwise).  Worker:
``huey_consumer -k thread -w M``, one consumer per process wanted; idle
consumers poll the table (Huey's default delay 0.1 s, backing off up to
10 s).  Huey has no batch enqueue."""

import os
import sys
from pathlib import Path

from huey import SqliteHuey

import work

USES_REDIS = False

huey = SqliteHuey("bench", filename=os.environ["PEER_BENCH_SQLITE_PATH"])


@huey.task()
def noop():
    work.noop()


@huey.task()
def fib(n):
    work.fib(n)


@huey.task()
def io(ms):
    work.io_sleep(ms)


@huey.task()
def stamp(i):
    work.stamp(i)


TASKS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d consumer%s x %d threads (huey_consumer -k thread -w %d)" % (
        processes, "s" if processes > 1 else "", threads, threads)


def worker_argvs(processes, threads):
    consumer = str(Path(sys.executable).parent / "huey_consumer")
    return [[consumer, "tasks_huey_sqlite.huey", "-k", "thread", "-w", str(threads), "-q"]
            for _ in range(processes)]


class Producer:
    batch_api = None

    def send_each(self, name, args):
        task = TASKS[name]
        for a in args:
            task(*a)

    def flush(self):
        huey.flush()

    def close(self):
        pass
