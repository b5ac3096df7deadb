"""Reliability of RedisBroker workers and producers (DESIGN.md section 7).

1. A worker process SIGKILLed in the middle of a run loses nothing: once
   its heartbeat is older than the heartbeat timeout, another worker's
   maintenance puts the messages it held back on the queue.
2. redis-server stopped in the middle of a run and started again (append
   only file on): sends fail loudly while it is down, the worker logs,
   reconnects and finishes everything that was sent; work acked before
   the outage is not done again.
"""

import json
import logging
import os
import threading
import time

import pytest
import redis

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import interop_app
from redis_support import ChildProcess, RedisServer, our_python, subprocess_env, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = 60.0
QUEUE = interop_app.QUEUE


def results(client, key):
    return [json.loads(x) for x in client.lrange("results:" + key, 0, -1)]


def test_a_killed_worker_loses_no_messages(redis_server, redis_client, redis_broker, tmp_path):
    total = 20
    actors = interop_app.declare(redis_broker, redis_server.url, "producer")
    interop_app.send_all(actors, [["slow", "rel", i, None] for i in range(total)])

    victim = ChildProcess(
        [our_python(), os.path.join(HERE, "interop_app.py"), "worker", redis_server.url, "victim", "2"],
        env=subprocess_env(upstream=False, extra_path=[HERE]),
        cwd=tmp_path,
        log_dir=tmp_path,
        name="victim",
    )
    try:

        def mid_run():
            assert victim.alive(), victim.describe()
            return redis_client.llen("started:rel") >= 3

        wait_until(mid_run, timeout=LONG, message="the victim to be busy")
    finally:
        victim.kill()  # SIGKILL: no shutdown, no requeue

    finished = {r["i"] for r in results(redis_client, "rel")}
    assert len(finished) < total, "the victim finished everything before it was killed"
    held = [k for k in redis_client.keys("dramatiq:__acks__.*") if redis_client.scard(k) > 0]
    assert held, "the killed worker held no messages; the test proves nothing"

    survivor_broker = RedisBroker(url=redis_server.url, heartbeat_timeout=1000, maintenance_chance=1_000_000)
    interop_app.declare(survivor_broker, redis_server.url, "survivor")
    survivor = dramatiq.Worker(survivor_broker, worker_timeout=100, worker_threads=4)
    survivor.start()
    try:
        wait_until(
            lambda: {r["i"] for r in results(redis_client, "rel")} == set(range(total)),
            timeout=LONG,
            message="every message to be processed",
        )
        survivor_broker.join(QUEUE, timeout=int(LONG * 1000))
    finally:
        survivor.stop()
        survivor_broker.close()

    # The dead worker's ack sets are gone and nothing is left stored.
    for key in held:
        assert redis_client.scard(key) == 0, key
    assert redis_client.hlen("dramatiq:%s.msgs" % QUEUE) == 0
    tags = {r["tag"] for r in results(redis_client, "rel")}
    assert "survivor" in tags


def send_errors():
    """What a producer may raise when Redis is unreachable: dramatiq's
    connection errors (dramatiq-cpp), or redis-py's (upstream 2.2.1)."""
    return (dramatiq.errors.BrokerConnectionError, redis.exceptions.ConnectionError)


@pytest.fixture
def aof_server():
    with RedisServer(appendonly=True) as server:
        yield server


class OutageRun:
    """Runs a worker through a redis-server restart: 60 messages sent, the
    server stopped once five are done (the rest wait for the outage), 5
    sends tried while it is down,
    the server started again (same port, append-only file), 20 more
    sent.  Then waits until the 20 sent after the restart are processed
    (``wait_for_all=True``: until everything sent is processed)."""

    def __init__(self, server, caplog, *, wait_for_all):
        caplog.set_level(logging.INFO)
        self.lock = threading.Lock()
        self.runs = {}
        # The first 60 messages past the fifth wait until the server is
        # down, so the run cannot finish before the outage however fast.
        outage = threading.Event()
        broker = RedisBroker(url=server.url)
        dramatiq.set_broker(broker)

        @dramatiq.actor(queue_name="outage", max_retries=0)
        def work(i):
            if 5 <= i < 60:
                outage.wait(LONG)
            time.sleep(0.02)
            with self.lock:
                self.runs[i] = self.runs.get(i, 0) + 1

        client = server.client()
        worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
        worker.start()
        try:
            self.sent = sent = {}  # i -> redis message id
            for i in range(60):
                sent[i] = work.send(i).options["redis_message_id"]
            wait_until(lambda: len(self.processed()) >= 5, timeout=LONG, message="the run to start")

            # Messages acked before the outage: no longer in the .msgs hash.
            unacked = {x.decode() for x in client.hkeys("dramatiq:outage.msgs")}
            self.acked_before = {i for i, rid in sent.items() if rid not in unacked}
            assert len(self.processed()) < len(sent), "the run finished before the outage"

            log_mark = len(caplog.records)
            server.stop()
            outage.set()
            self.send_failures = []
            for i in range(60, 65):
                try:
                    work.send(i)
                except send_errors() as e:
                    self.send_failures.append(e)
                else:
                    pytest.fail("send succeeded while redis-server was down")

            def worker_noticed():
                return [
                    r
                    for r in caplog.records[log_mark:]
                    if r.name.startswith("dramatiq") and r.levelno >= logging.WARNING
                ]

            self.outage_logs = wait_until(worker_noticed, timeout=LONG, message="the worker to log the outage")

            server.start()
            self.after_restart = set(range(100, 120))
            for i in sorted(self.after_restart):
                sent[i] = work.send(i).options["redis_message_id"]

            if wait_for_all:
                wait_until(lambda: self.processed() >= set(sent), timeout=LONG, message="every sent message")
                broker.join("outage", timeout=int(LONG * 1000))
            else:
                wait_until(
                    lambda: self.processed() >= self.after_restart,
                    timeout=LONG,
                    message="the messages sent after the restart",
                )
            self.still_stored = {x.decode() for x in client.hkeys("dramatiq:outage.msgs")}
        finally:
            worker.stop()
            broker.close()
            client.close()

    def processed(self):
        with self.lock:
            return set(self.runs)

    def redone(self):
        """Work acked before the outage that ran more than once."""
        with self.lock:
            return {i: self.runs[i] for i in self.acked_before if self.runs[i] != 1}


def test_redis_restart_mid_run(aof_server, caplog):
    """What upstream 2.2.1 does too: sends fail loudly while the server is
    down, the worker logs and carries on after the restart, acked work is
    not redone, and no message is dropped from Redis (upstream may strand
    a message it was fetching as the server went down in its own ack
    set, still stored, until the worker is restarted)."""
    run = OutageRun(aof_server, caplog, wait_for_all=False)
    assert len(run.send_failures) == 5
    assert run.processed() >= run.after_restart
    assert not run.redone(), "work acked before the outage was done again"
    for i, redis_id in run.sent.items():
        assert i in run.processed() or redis_id in run.still_stored, "message %d was dropped" % i


@pytest.mark.superset
def test_redis_restart_mid_run_loses_nothing(aof_server, caplog):
    """Beyond upstream: every message sent successfully is processed,
    including any the worker was fetching when the server went down."""
    run = OutageRun(aof_server, caplog, wait_for_all=True)
    assert len(run.send_failures) == 5
    assert run.processed() == set(run.sent)
    assert not run.redone(), "work acked before the outage was done again"


@pytest.mark.superset
def test_send_while_redis_is_down_raises_a_dramatiq_connection_error(aof_server):
    broker = RedisBroker(url=aof_server.url)
    try:

        @dramatiq.actor(queue_name="outage", broker=broker)
        def work():
            pass

        work.send()
        aof_server.stop()
        with pytest.raises((dramatiq.errors.ConnectionClosed, dramatiq.errors.ConnectionFailed)):
            work.send()
        aof_server.start()
        work.send()
        with aof_server.client() as client:
            assert client.llen("dramatiq:outage") == 2
    finally:
        broker.close()
