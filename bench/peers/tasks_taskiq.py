"""taskiq adapter (the asyncio-native peer): taskiq with taskiq-redis's
RedisStreamBroker (a Redis stream with a consumer group and acks, the
broker taskiq-redis recommends).  Tasks are coroutines run on the worker's
event loop; the CPU-bound bodies run inline on it, the I/O one awaits
asyncio.sleep.  Worker: ``taskiq worker --workers N --max-async-tasks M``
(N processes under a supervisor, at most M tasks in flight each); other
settings at their defaults.  No batch API: a "batch" is 1,000 kiq()
coroutines under asyncio.gather on one event loop."""

import asyncio
import os
import sys
from pathlib import Path

from taskiq_redis import RedisStreamBroker

import work

broker = RedisStreamBroker(url=os.environ["PEER_BENCH_REDIS_URL"], queue_name="bench")


@broker.task
async def noop():
    work.noop()


@broker.task
async def fib(n):
    work.fib(n)


@broker.task
async def io(ms):
    await work.io_sleep_async(ms)


@broker.task
async def stamp(i):
    work.stamp(i)


TASKS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d process%s x event loop, --max-async-tasks %d" % (processes, "es" if processes > 1 else "", threads)


def worker_argvs(processes, threads):
    exe = str(Path(sys.executable).parent / "taskiq")
    return [[exe, "worker", "tasks_taskiq:broker", "--workers", str(processes), "--max-async-tasks",
             str(threads), "--log-level", "WARNING"]]


class Producer:
    batch_api = "asyncio.gather(1000 x kiq()) (no batch API)"

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(broker.startup())

    def send_each(self, name, args):
        task = TASKS[name]

        async def loop():
            for a in args:
                await task.kiq(*a)
        self.loop.run_until_complete(loop())

    def send_batch(self, name, args):
        task = TASKS[name]

        async def batch():
            await asyncio.gather(*(task.kiq(*a) for a in args))
        self.loop.run_until_complete(batch())

    def close(self):
        self.loop.run_until_complete(broker.shutdown())
        self.loop.close()
