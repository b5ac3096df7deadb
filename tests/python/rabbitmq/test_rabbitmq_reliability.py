"""Reliability on RabbitMQ: a SIGKILLed worker's unacked messages come
back at once, and a server that stops and starts again makes producers
raise while it is down and workers reconnect, losing nothing."""

import json
import os
import signal

import pytest

import dramatiq
from dramatiq.errors import ConnectionClosed, ConnectionFailed

import rabbitmq_interop_app
from rabbitmq_support import close_broker
from redis_support import wait_until
from test_rabbitmq_interop import child_env, results, start_child_worker, wait_ready

QUEUE = rabbitmq_interop_app.QUEUE
LONG = 60.0


def test_sigkilled_worker_messages_are_redelivered(rabbitmq_server, recorder, tmp_path):
    redis_server, client = recorder
    broker = rabbitmq_interop_app.make_broker(rabbitmq_server.url)
    child = start_child_worker(os.sys.executable, rabbitmq_server.url, redis_server.url, "victim",
                               upstream=False, tmp_path=tmp_path, threads=2)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    try:
        wait_ready(client, "victim", child)
        actors = rabbitmq_interop_app.declare(broker, redis_server.url, "ours")
        count = 20
        rabbitmq_interop_app.send_all(actors, [["slow", "k", i, None] for i in range(count)])
        wait_until(lambda: client.llen("started:k") >= 1, timeout=LONG, message="the victim to start work")
        child.kill()  # SIGKILL: its deliveries were never acked
        worker.start()
        wait_until(lambda: len({r["i"] for r in results(client, "k")}) == count, timeout=LONG,
                   message="every message to be processed")
        broker.join(QUEUE, min_successes=3, idle_time=50, timeout=int(LONG * 1000))
    finally:
        worker.stop()
        child.kill()
        close_broker(broker, rabbitmq_server)
    assert sorted({r["i"] for r in results(client, "k")}) == list(range(count))
    # What the victim started and did not finish was run again here.
    victim_started = {int(i) for i in client.lrange("started:k", 0, -1)}
    assert victim_started


def test_server_restart_producers_raise_and_workers_reconnect(rabbitmq_server, recorder):
    redis_server, client = recorder
    broker = rabbitmq_interop_app.make_broker(rabbitmq_server.url)
    actors = rabbitmq_interop_app.declare(broker, redis_server.url, "ours")
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        rabbitmq_interop_app.send_all(actors, [["record", "r", i, None] for i in range(20)])
        wait_until(lambda: len(results(client, "r")) >= 20, timeout=LONG, message="the first half")
        rabbitmq_server.stop()
        with pytest.raises((ConnectionClosed, ConnectionFailed)):
            actors["record"].send("r", 999)
        rabbitmq_server.start()
        rabbitmq_interop_app.send_all(actors, [["record", "r", i, None] for i in range(20, 40)])
        wait_until(lambda: len(results(client, "r")) >= 40, timeout=LONG, message="the second half")
        broker.join(QUEUE, min_successes=3, idle_time=50, timeout=int(LONG * 1000))
    finally:
        worker.stop()
        if not rabbitmq_server.running:
            rabbitmq_server.start()
        close_broker(broker, rabbitmq_server)
    done = sorted(r["i"] for r in results(client, "r"))
    assert done == list(range(40)), "lost or ran twice: %r" % done
