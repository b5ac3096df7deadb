"""Celery adapter: Celery 5 with the redis transport (kombu), no result
backend.  Worker: ``celery worker --pool threads -c M``, one instance per
process wanted (Celery has no "N processes x M threads" pool); every other
setting at its default (prefetch multiplier 4, ack before running)."""

import os
import sys

import celery
from celery import Celery

import work

QUEUE = "bench"
app = Celery("bench", broker=os.environ["PEER_BENCH_REDIS_URL"])
app.conf.task_default_queue = QUEUE


@app.task
def noop():
    work.noop()


@app.task
def fib(n):
    work.fib(n)


@app.task
def io(ms):
    work.io_sleep(ms)


@app.task
def stamp(i):
    work.stamp(i)


TASKS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d worker instance%s x threads pool -c %d" % (processes, "s" if processes > 1 else "", threads)


def worker_argvs(processes, threads):
    # --loglevel WARNING is the default; spelled out because every peer runs
    # without per-task INFO log lines.
    return [[sys.executable, "-m", "celery", "-A", "tasks_celery", "worker", "--pool", "threads",
             "-c", str(threads), "-Q", QUEUE, "-n", "w%d@%%h" % k, "--loglevel", "WARNING"]
            for k in range(processes)]


class Producer:
    batch_api = "group([...]).apply_async()"

    def send_each(self, name, args):
        delay = TASKS[name].delay
        for a in args:
            delay(*a)

    def send_batch(self, name, args):
        task = TASKS[name]
        celery.group([task.s(*a) for a in args]).apply_async()

    def close(self):
        pass
