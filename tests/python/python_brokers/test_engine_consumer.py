"""broker.consume() called from Python on the engine's brokers: an
upstream-shaped Consumer iterating MessageProxy objects, settled with ack
and nack (as upstream's tests and code that consumes a queue itself use
it)."""

import logging
import os
import sys

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.sqlite import SQLiteBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.errors import QueueNotFound

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis_support  # noqa: E402

WAIT_MS = 30000


@pytest.fixture
def redis_server():
    server = redis_support.RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["stub", "sqlite", "redis"])
def broker(request, tmp_path):
    if request.param == "stub":
        broker = StubBroker()
    elif request.param == "sqlite":
        broker = SQLiteBroker(path=str(tmp_path / "broker.db"))
    else:
        server = request.getfixturevalue("redis_server")
        broker = RedisBroker(url=server.url)
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


def test_consume_iterates_message_proxies_that_are_acked_and_nacked(broker):
    @dramatiq.actor
    def work(i):
        pass

    first, second = work.send(1), work.send(2)
    consumer = broker.consume(work.queue_name, prefetch=2, timeout=WAIT_MS)
    assert isinstance(consumer, Consumer)
    assert iter(consumer) is consumer

    got = [next(consumer), next(consumer)]
    assert all(isinstance(m, MessageProxy) for m in got)
    assert sorted(m.message_id for m in got) == sorted([first.message_id, second.message_id])
    # A proxy reads as its message (upstream's test_messageproxy_representation).
    by_id = {m.message_id: m for m in got}
    assert repr(first) in repr(by_id[first.message_id])
    assert str(by_id[first.message_id]) == str(first)

    consumer.ack(by_id[first.message_id])
    consumer.nack(by_id[second.message_id])
    # Nothing more: None once the timeout passed.
    consumer.timeout = 10
    assert next(consumer) is None
    consumer.close()

    if isinstance(broker, StubBroker):
        # The nacked message is a dead letter that failed with no exception:
        # a fail-fast join says so, as upstream's stub does.
        with pytest.raises(Exception, match="Message failed with unknown error"):
            broker.join(work.queue_name, timeout=WAIT_MS)
        broker.join(work.queue_name, timeout=WAIT_MS, fail_fast=False)
    else:
        broker.join(work.queue_name, timeout=WAIT_MS)


def test_settling_a_message_the_consumer_did_not_deliver_is_logged_and_ignored(broker, caplog):
    broker.declare_queue("default")
    consumer = broker.consume("default", timeout=10)
    stranger = MessageProxy(dramatiq.Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={}))
    with caplog.at_level(logging.WARNING):
        assert consumer.ack(stranger) is None
        assert consumer.nack(stranger) is None
    assert "Failed to ack message: not in known tags." in caplog.text
    assert "Failed to nack message: not in known tags." in caplog.text
    consumer.close()


def test_stub_consume_of_an_undeclared_queue_raises():
    broker = StubBroker()
    with pytest.raises(QueueNotFound):
        broker.consume("idontexist")


def test_an_undecodable_message_is_dead_lettered_by_the_consumer():
    broker = StubBroker()
    broker.declare_queue("default")
    broker.queues["default"].put(b"not json")
    consumer = broker.consume("default", timeout=WAIT_MS)
    assert next(consumer) is None
    assert broker.dead_letters == [b"not json"]
    consumer.close()
