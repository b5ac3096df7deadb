"""The RabbitmqBroker from Python code that reaches into it as upstream's
tests and users do: broker.consume() (an upstream-shaped Consumer on the
engine's AMQP consumer) and a replaced ``broker._declare_queue`` (called by
the engine where it creates a queue on the server)."""

import logging
from unittest.mock import patch

import pika.exceptions
import pytest

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import MAX_DECLARE_ATTEMPTS
from dramatiq.errors import ConnectionClosed

WAIT_MS = 30000


def test_consume_from_python_acks_and_nacks(rabbitmq_broker, caplog):
    @dramatiq.actor(queue_name="py_consume")
    def work(i):
        pass

    kept, rejected = work.send(1), work.send(2)
    consumer = rabbitmq_broker.consume("py_consume", prefetch=2, timeout=WAIT_MS)
    got = {m.message_id: m for m in (next(consumer), next(consumer))}
    assert set(got) == {kept.message_id, rejected.message_id}
    consumer.ack(got[kept.message_id])
    consumer.nack(got[rejected.message_id])
    with caplog.at_level(logging.WARNING):
        assert consumer.ack(got[kept.message_id]) is None  # settled already: ignored
    assert "not in known tags" in caplog.text
    consumer.close()
    rabbitmq_broker.join("py_consume", min_successes=2, idle_time=10, timeout=WAIT_MS)
    assert rabbitmq_broker.get_queue_message_counts("py_consume") == (0, 0, 1)


def test_a_replaced_declare_queue_that_keeps_failing_fails_the_send(rabbitmq_broker):
    with patch.object(rabbitmq_broker, "_declare_queue", side_effect=pika.exceptions.AMQPConnectionError) as declare:
        @dramatiq.actor(queue_name="py_declare_fails")
        def work():
            pass

        with pytest.raises(ConnectionClosed):
            work.send()
    assert declare.call_count == MAX_DECLARE_ATTEMPTS


def test_a_replaced_declare_queue_is_retried_and_then_used(rabbitmq_broker):
    calls = []
    original = rabbitmq_broker._declare_queue

    def flaky(queue_name):
        calls.append(queue_name)
        if len(calls) == 1:
            raise pika.exceptions.AMQPConnectionError
        return original(queue_name)

    done = []
    with patch.object(rabbitmq_broker, "_declare_queue", flaky):
        @dramatiq.actor(queue_name="py_declare_flaky")
        def work():
            done.append(1)

        work.send()
    # Unpatched again: the engine declares by itself.
    work.send()
    assert calls == ["py_declare_flaky", "py_declare_flaky"]

    worker = Worker(rabbitmq_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        rabbitmq_broker.join("py_declare_flaky", min_successes=2, idle_time=10, timeout=WAIT_MS)
        worker.join()
    finally:
        worker.stop()
    assert done == [1, 1]
