"""RQ adapter.  RQ runs one job at a time per worker process and has no
threads, so "N processes x M threads" becomes N*M ``rq worker`` processes
(SimpleWorker: runs the job in the worker process; RQ's default Worker
forks a child per job, which is far slower).  Other settings at their
defaults (results kept for 500 s)."""

import os
import sys
from pathlib import Path

from redis import Redis
from rq import Queue

import work

QUEUE = "bench"
URL = os.environ["PEER_BENCH_REDIS_URL"]


def noop():
    work.noop()


def fib(n):
    work.fib(n)


def io(ms):
    work.io_sleep(ms)


def stamp(i):
    work.stamp(i)


FUNCS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d SimpleWorker process%s (no threads in RQ)" % (processes * threads,
                                                             "es" if processes * threads > 1 else "")


def worker_argvs(processes, threads):
    rq = str(Path(sys.executable).parent / "rq")
    return [[rq, "worker", "--url", URL, "--worker-class", "rq.worker.SimpleWorker", "--quiet", QUEUE]
            for _ in range(processes * threads)]


class Producer:
    batch_api = "Queue.enqueue_many([...])"

    def __init__(self):
        self.queue = Queue(QUEUE, connection=Redis.from_url(URL))

    def send_each(self, name, args):
        enqueue, f = self.queue.enqueue, FUNCS[name]
        for a in args:
            enqueue(f, *a)

    def send_batch(self, name, args):
        f = FUNCS[name]
        self.queue.enqueue_many([Queue.prepare_data(f, args=a) for a in args])

    def close(self):
        self.queue.connection.close()
