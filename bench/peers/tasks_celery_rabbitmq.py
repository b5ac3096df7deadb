"""Celery on RabbitMQ (py-amqp, Celery's own AMQP transport) at
$PEER_BENCH_AMQP_URL: tasks_celery.py's tasks, producer and worker with the
broker URL switched before the app is built, and its own queue
(Dramatiq's runs declare ``bench`` with other arguments on the same
server).  The queue is purged when a run starts: RabbitMQ's durable queues
outlive the previous run."""

import os

# tasks_celery builds its app from this variable at import.
os.environ["PEER_BENCH_REDIS_URL"] = os.environ["PEER_BENCH_AMQP_URL"].replace("amqp://", "pyamqp://", 1)

import tasks_celery  # noqa: E402
from tasks_celery import TASKS, app, concurrency  # noqa: E402,F401

USES_REDIS = False
QUEUE = "celery-bench"
app.conf.task_default_queue = QUEUE


def worker_argvs(processes, threads):
    argvs = []
    for argv in tasks_celery.worker_argvs(processes, threads):
        argv = argv[:4] + ["tasks_celery_rabbitmq"] + argv[5:]
        argv[argv.index("-Q") + 1] = QUEUE
        argvs.append(argv)
    return argvs


class Producer(tasks_celery.Producer):
    def __init__(self):
        self.flush()

    def flush(self):
        from amqp.exceptions import NotFound

        with app.connection_for_write() as connection:
            try:
                connection.default_channel.queue_purge(QUEUE)
            except NotFound:
                pass  # not declared yet: the first run
