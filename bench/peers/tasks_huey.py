"""Huey adapter: RedisHuey (blocking BRPOP reads, its default).  Worker:
``huey_consumer -k thread -w M``, one consumer per process wanted; other
settings at their defaults.  Huey has no batch enqueue."""

import os
import sys
from pathlib import Path

from huey import RedisHuey

import work

huey = RedisHuey("bench", url=os.environ["PEER_BENCH_REDIS_URL"])


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
    # -q: no per-task INFO log lines (as for every peer).
    return [[consumer, "tasks_huey.huey", "-k", "thread", "-w", str(threads), "-q"] for _ in range(processes)]


class Producer:
    batch_api = None

    def send_each(self, name, args):
        task = TASKS[name]
        for a in args:
            task(*a)

    def close(self):
        pass
