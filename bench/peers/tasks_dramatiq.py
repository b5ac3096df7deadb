"""Dramatiq adapter: upstream Dramatiq 2.2.1 and dramatiq-cpp alike (both
import as ``dramatiq``; which one runs depends on the interpreter and
PYTHONPATH).  Worker: the ``dramatiq`` command, N processes x M threads,
every other setting at its default (upstream's worker_timeout is 1 s).
The broker is Redis, or dramatiq-cpp's embedded SQLiteBroker on the run's
own file ($PEER_BENCH_SQLITE_PATH) when tasks_dramatiq_sqlite.py sets
$PEER_BENCH_DRAMATIQ_SQLITE before importing this module, or RabbitMQ when
tasks_dramatiq_rabbitmq.py sets $PEER_BENCH_DRAMATIQ_RABBITMQ."""

import os
import sys

import dramatiq

import work

if os.environ.get("PEER_BENCH_DRAMATIQ_SQLITE") == "1":
    from dramatiq.brokers.sqlite import SQLiteBroker

    broker = SQLiteBroker(os.environ["PEER_BENCH_SQLITE_PATH"],
                          durable=os.environ.get("PEER_BENCH_SQLITE_DURABLE") == "1")
elif os.environ.get("PEER_BENCH_DRAMATIQ_RABBITMQ") == "1":
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=os.environ["PEER_BENCH_AMQP_URL"])
else:
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=os.environ["PEER_BENCH_REDIS_URL"])
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


def worker_argvs(processes, threads, module="tasks_dramatiq"):
    return [[sys.executable, "-m", "dramatiq", module, "--processes", str(processes),
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

    def close(self):
        broker.close()
