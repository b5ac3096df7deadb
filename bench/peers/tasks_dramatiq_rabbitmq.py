"""Dramatiq on RabbitMQ, upstream 2.2.1 and dramatiq-cpp alike:
tasks_dramatiq.py's actors, producer and worker on ``RabbitmqBroker``
($PEER_BENCH_AMQP_URL) with its defaults (no publisher confirms, as
upstream's default).  The queues are purged when a run starts: RabbitMQ's
durable queues outlive the previous run."""

import os

# Before the import: tasks_dramatiq builds its broker from it (the worker
# command imports this module, so its processes choose the same).
os.environ["PEER_BENCH_DRAMATIQ_RABBITMQ"] = "1"

import tasks_dramatiq  # noqa: E402
from tasks_dramatiq import ACTORS, QUEUE, broker, concurrency  # noqa: E402,F401

USES_REDIS = False


def worker_argvs(processes, threads):
    return tasks_dramatiq.worker_argvs(processes, threads, module="tasks_dramatiq_rabbitmq")


class Producer(tasks_dramatiq.Producer):
    def __init__(self):
        self.flush()

    def flush(self):
        broker.declare_queue(QUEUE)
        broker.flush_all()
