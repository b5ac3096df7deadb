"""taskito adapter: ``taskito.Queue`` on SQLite (its default backend) on
the run's own file ($PEER_BENCH_SQLITE_PATH), ``workers`` = the threads
wanted ($PEER_BENCH_THREADS, set on the worker command line), every other
setting at its default (the scheduler polls every 50 ms) except its log
level (WARNING: no per-task INFO lines, as for every peer).  Worker:
``taskito worker --app tasks_taskito:queue`` (thread pool), one per
process wanted.  Batch enqueue: ``task.map([...])``, one transaction."""

import os
import sys
from pathlib import Path

from taskito import Queue

import work

USES_REDIS = False

queue = Queue(db_path=os.environ["PEER_BENCH_SQLITE_PATH"], workers=int(os.environ.get("PEER_BENCH_THREADS", "8")))


@queue.task()
def noop():
    work.noop()


@queue.task()
def fib(n):
    work.fib(n)


@queue.task()
def io(ms):
    work.io_sleep(ms)


@queue.task()
def stamp(i):
    work.stamp(i)


TASKS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d worker%s x %d threads (taskito worker, workers=%d)" % (
        processes, "s" if processes > 1 else "", threads, threads)


def worker_argvs(processes, threads):
    taskito = str(Path(sys.executable).parent / "taskito")
    # TASKITO_LOG_LEVEL=WARNING: no per-task INFO log lines (as for every peer).
    return [["/usr/bin/env", "PEER_BENCH_THREADS=%d" % threads, "TASKITO_LOG_LEVEL=WARNING", taskito, "worker",
             "--app", "tasks_taskito:queue"] for _ in range(processes)]


class Producer:
    batch_api = "task.map([...])"

    def send_each(self, name, args):
        task = TASKS[name]
        for a in args:
            task.delay(*a)

    def send_batch(self, name, args):
        TASKS[name].map(list(args))

    def close(self):
        pass
