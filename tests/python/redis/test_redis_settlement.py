"""Settling Redis messages one at a time from Python: upstream's
``do_ack``/``do_nack``, a worker consumer's ``outstanding_message_count``,
``ack``/``nack`` on ``Worker.consumers[q].consumer``, and ``do_ack``/
``do_nack`` replaced on a broker (tests and instrumentation patch them):
the worker then settles each message through the replacement, retrying
it after a connection error as it retries its own settlements."""

import threading
from unittest import mock

import pytest

import dramatiq
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError

WAIT = 30  # seconds; every wait below ends on an event long before this


def acks_key(broker, queue_name):
    return "dramatiq:__acks__.%s.%s" % (broker.broker_id, queue_name)


def test_do_ack_and_do_nack_settle_a_fetched_message_by_its_redis_id(redis_broker, redis_client):
    redis_broker.declare_queue("by-id")
    redis_broker.do_enqueue("by-id", "first", b"first-data")
    redis_broker.do_enqueue("by-id", "second", b"second-data")
    assert redis_broker.do_fetch("by-id", 2) == [b"first-data", b"second-data"]
    assert redis_client.smembers(acks_key(redis_broker, "by-id")) == {b"first", b"second"}

    redis_broker.do_ack("by-id", "first")
    redis_broker.do_nack("by-id", b"second")

    assert not redis_client.exists(acks_key(redis_broker, "by-id"))
    assert redis_client.hkeys("dramatiq:by-id.msgs") == []
    assert redis_client.zrange("dramatiq:by-id.XQ", 0, -1) == [b"second"]
    assert redis_client.hget("dramatiq:by-id.XQ.msgs", "second") == b"second-data"


def test_settling_an_id_this_broker_does_not_hold_changes_nothing(redis_broker, redis_client):
    redis_broker.declare_queue("by-id")
    redis_broker.do_enqueue("by-id", "waiting", b"data")

    redis_broker.do_ack("by-id", "waiting")  # enqueued, never fetched
    redis_broker.do_nack("by-id", "XXXXXXXXX")

    assert redis_client.lrange("dramatiq:by-id", 0, -1) == [b"waiting"]
    assert redis_client.hget("dramatiq:by-id.msgs", "waiting") == b"data"
    assert not redis_client.exists("dramatiq:by-id.XQ")


def test_a_workers_consumer_counts_what_it_holds_and_nacks_by_id(redis_broker, redis_client):
    started, release = threading.Event(), threading.Event()

    @dramatiq.actor(queue_name="held", max_retries=0)
    def blocks():
        started.set()
        release.wait(WAIT)

    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        consumer = worker.consumers["held"].consumer
        assert consumer.broker is redis_broker and consumer.queue_name == "held"
        assert consumer.outstanding_message_count == 0
        sent = blocks.send()
        assert started.wait(WAIT)
        assert consumer.outstanding_message_count == 1

        # A message nobody holds: nothing happens, nothing is raised.
        bogus = Message(queue_name="held", actor_name="blocks", args=(), kwargs={},
                        options={"redis_message_id": "XXXXXXXXX"})
        consumer.nack(bogus)
        assert redis_client.smembers(acks_key(redis_broker, "held")) == {
            sent.options["redis_message_id"].encode()}

        # The running one, nacked by hand: dead-lettered at once.
        consumer.nack(sent)
        assert redis_client.zrange("dramatiq:held.XQ", 0, -1) == [sent.options["redis_message_id"].encode()]
        release.set()
        worker.join()
        assert consumer.outstanding_message_count == 0
    finally:
        release.set()
        worker.stop()


def test_a_consumer_of_a_broker_without_settlement_by_id_says_so(stub_broker):
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=1)
    stub_broker.declare_queue("default")
    worker.start()
    try:
        consumer = worker.consumers["default"].consumer
        message = Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={})
        with pytest.raises(NotImplementedError, match="StubBroker settles messages through its worker"):
            consumer.ack(message)
    finally:
        worker.stop()


@pytest.mark.parametrize("method", ["do_ack", "do_nack"])
def test_a_replaced_settlement_method_settles_each_message_and_is_retried(redis_broker, redis_client, method):
    @dramatiq.actor(queue_name="patched", max_retries=0)
    def work(fail):
        if fail:
            raise RuntimeError("failed for good")

    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        consumer = worker.consumers["patched"].consumer
        original = getattr(redis_broker, method)
        seen = []

        def fails_once(queue_name, message_id):
            # What the worker's consumer holds while each try runs: the
            # message, then (waiting for the retry) no longer.
            seen.append((queue_name, message_id, consumer.outstanding_message_count))
            original(queue_name, message_id)
            if len(seen) == 1:
                raise BrokerConnectionError("the connection went away")

        with mock.patch.object(redis_broker, method, side_effect=fails_once) as replaced:
            sent = work.send(method == "do_nack")
            redis_broker.join("patched", timeout=WAIT * 1000)
            worker.join()
            assert replaced.call_count == 2

        redis_id = sent.options["redis_message_id"]
        assert seen == [("patched", redis_id, 1), ("patched", redis_id, 0)]
        assert consumer.outstanding_message_count == 0
        assert redis_client.zcard("dramatiq:patched.XQ") == (1 if method == "do_nack" else 0)

        # Unpatched, the worker's own batched settlements are back.
        assert method not in vars(redis_broker)
        again = work.send(False)
        redis_broker.join("patched", timeout=WAIT * 1000)
        worker.join()
        assert not redis_client.sismember(acks_key(redis_broker, "patched"), again.options["redis_message_id"])
        assert len(seen) == 2
    finally:
        worker.stop()
