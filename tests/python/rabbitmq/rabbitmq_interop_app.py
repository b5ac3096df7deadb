"""A small Dramatiq application on RabbitMQ shared by the interop and
reliability tests. The same file runs in the test process (the dramatiq
under test), in child processes of the interpreter under test, and in
child processes of upstream Dramatiq 2.2.1 (pika), so every side declares
the same actors on the same queue (max_priority 10 everywhere, so the
queues' arguments agree).

Actors record what they do in a Redis server (the recorder), so every
process's work is visible to the test:

* ``results:<key>`` list of JSON ``{"i", "tag", "t"}`` (t = ms when it ran)
* ``attempts:<key>`` list of JSON ``{"i", "tag"}``, one per attempt
* ``started:<key>`` list of ``i`` (slow actor, before it sleeps)

Command line (``python rabbitmq_interop_app.py ...``):

* ``worker AMQP_URL REDIS_URL TAG [THREADS]``: run a Worker until
  SIGTERM/SIGINT, then stop it cleanly. Sets ``ready:<TAG>`` once started.
* ``send AMQP_URL REDIS_URL JSON``: send ``[[actor, key, i, delay_ms_or_null,
  broker_priority_or_null], ...]``, print the sent messages as a JSON list
  of ``{"message_id", "queue_name", "eta"}``.
"""

import json
import os
import signal
import sys
import threading
import time

import redis

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

QUEUE = "rmq-interop"
MAX_PRIORITY = 10
ACTOR_NAMES = {
    "record": "interop_record",
    "flaky": "interop_flaky",
    "doomed": "interop_doomed",
    "slow": "interop_slow",
}


def now_ms():
    return int(time.time() * 1000)


def declare(broker, redis_url, tag):
    """Declare the shared actors on ``broker``; returns {short name: actor}."""
    recorder = redis.Redis.from_url(redis_url)

    def record_result(key, i):
        recorder.rpush("results:" + key, json.dumps({"i": i, "tag": tag, "t": now_ms()}))

    def record_attempt(key, i):
        recorder.rpush("attempts:" + key, json.dumps({"i": i, "tag": tag}))

    def record(key, i):
        record_result(key, i)

    def flaky(key, i):
        record_attempt(key, i)
        # The first attempt fails, whichever process makes it.
        if recorder.incr("attempt-count:%s:%s" % (key, i)) == 1:
            raise RuntimeError("first attempt fails (expected by the test)")
        record_result(key, i)

    def doomed(key, i):
        record_attempt(key, i)
        raise RuntimeError("always fails (expected by the test)")

    def slow(key, i):
        recorder.rpush("started:" + key, i)
        time.sleep(0.3)
        record_result(key, i)

    options = {
        "record": {},
        "flaky": {"max_retries": 3, "min_backoff": 50, "max_backoff": 100},
        "doomed": {"max_retries": 0},
        "slow": {"max_retries": 0},
    }
    functions = {"record": record, "flaky": flaky, "doomed": doomed, "slow": slow}
    return {
        short: dramatiq.actor(
            functions[short], broker=broker, actor_name=ACTOR_NAMES[short], queue_name=QUEUE, **options[short]
        )
        for short in functions
    }


def send_all(actors, specs):
    """Send ``[(short actor name, key, i, delay or None[, priority]), ...]``."""
    sent = []
    for spec in specs:
        short, key, i, delay = spec[:4]
        options = {}
        if len(spec) > 4 and spec[4] is not None:
            options["broker_priority"] = spec[4]
        message = actors[short].send_with_options(args=(key, i), delay=delay, **options)
        sent.append(
            {"message_id": message.message_id, "queue_name": message.queue_name, "eta": message.options.get("eta")}
        )
    return sent


def make_broker(url):
    broker = RabbitmqBroker(url=url, max_priority=MAX_PRIORITY, confirm_delivery=True)
    dramatiq.set_broker(broker)
    return broker


def run_worker(url, redis_url, tag, threads):
    import logging

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("pika").setLevel(logging.WARNING)
    broker = make_broker(url)
    declare(broker, redis_url, tag)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=threads)
    worker.start()
    redis.Redis.from_url(redis_url).set("ready:" + tag, os.getpid())
    while not stop.wait(0.1):
        pass
    worker.stop()
    broker.close()


def main(argv):
    command, url, redis_url = argv[1], argv[2], argv[3]
    if command == "worker":
        run_worker(url, redis_url, argv[4], int(argv[5]) if len(argv) > 5 else 4)
    elif command == "send":
        broker = make_broker(url)
        actors = declare(broker, redis_url, "producer")
        print(json.dumps(send_all(actors, json.loads(argv[4]))))
        broker.close()
    else:
        raise SystemExit("unknown command %r" % command)


if __name__ == "__main__":
    main(sys.argv)
