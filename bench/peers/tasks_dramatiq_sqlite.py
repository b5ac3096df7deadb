"""dramatiq-cpp's embedded broker adapter: ``SQLiteBroker`` on the run's
own file ($PEER_BENCH_SQLITE_PATH; ``durable=True`` when
$PEER_BENCH_SQLITE_DURABLE is 1).  No server.  Worker: the ``dramatiq``
command, N processes x M threads, every other setting at its default."""

import os
import sys

import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker

import work

USES_REDIS = False

broker = SQLiteBroker(os.environ["PEER_BENCH_SQLITE_PATH"],
                      durable=os.environ.get("PEER_BENCH_SQLITE_DURABLE") == "1")
dramatiq.set_broker(broker)

QUEUE = "bench"


@dramatiq.actor(queue_name=QUEUE)
def noop():
    work.noop()


@dramatiq.actor(queue_name=QUEUE)
def fib(n):
    work.fib(n)


@dramatiq.actor(queue_name=QUEUE)
def io(ms):
    work.io_sleep(ms)


@dramatiq.actor(queue_name=QUEUE)
def stamp(i):
    work.stamp(i)


ACTORS = {"noop": noop, "fib": fib, "io": io, "stamp": stamp}


def concurrency(processes, threads):
    return "%d process%s x %d threads (dramatiq -p %d -t %d)" % (
        processes, "es" if processes > 1 else "", threads, processes, threads)


def worker_argvs(processes, threads):
    return [[sys.executable, "-m", "dramatiq", "tasks_dramatiq_sqlite", "--processes", str(processes),
             "--threads", str(threads)]]


class Producer:
    batch_api = "group([...]).run()"

    def send_each(self, name, args):
        send = ACTORS[name].send
        for a in args:
            send(*a)

    def send_batch(self, name, args):
        actor = ACTORS[name]
        dramatiq.group([actor.message(*a) for a in args]).run()

    def flush(self):
        broker.flush_all()

    def close(self):
        broker.close()
