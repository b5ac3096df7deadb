"""The limits on hostile input as a Python user meets them
(docs/reliability.md): integers of any size round-trip; a message over the
maximum size cannot be sent, and one that arrives anyway is dead-lettered
with its reason logged while the worker goes on."""

import logging

import pytest

import dramatiq
from dramatiq import JSONEncoder
from dramatiq.errors import DramatiqError

#: The maximum encoded message size (the engine's kMaxMessageBytes).
MAX_MESSAGE_BYTES = 128 << 20

HUGE_INTEGERS = [2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 100, -(10 ** 400), 2 ** 63 - 1, -(2 ** 63)]


@pytest.mark.parametrize("number", HUGE_INTEGERS)
def test_integers_of_any_size_round_trip_through_the_encoder(number):
    data = JSONEncoder().encode({"n": number, "l": [number]})
    assert data == b'{"n":%d,"l":[%d]}' % (number, number)
    decoded = JSONEncoder().decode(data)
    assert decoded == {"n": number, "l": [number]}
    assert type(decoded["n"]) is int


def test_integers_of_any_size_reach_the_actor_intact(stub_broker, stub_worker):
    received = []

    @dramatiq.actor
    def record(*numbers, **named):
        received.append((numbers, named))

    record.send(*HUGE_INTEGERS, big=10 ** 50)
    stub_broker.join(record.queue_name)
    stub_worker.join()
    assert received == [(tuple(HUGE_INTEGERS), {"big": 10 ** 50})]


def test_a_message_over_the_maximum_size_cannot_be_sent(stub_broker):
    @dramatiq.actor
    def swallow(data):
        pass

    with pytest.raises(DramatiqError, match=r"more than the maximum message size \(134217728 bytes\)"):
        swallow.send("x" * MAX_MESSAGE_BYTES)
    assert stub_broker.queues[swallow.queue_name].qsize() == 0
    swallow.send("x")  # the producer goes on
    assert stub_broker.queues[swallow.queue_name].qsize() == 1


def test_an_oversized_delivery_is_dead_lettered_with_its_reason(stub_broker, stub_worker, caplog):
    ran = []

    @dramatiq.actor
    def swallow(data):
        ran.append(len(data))

    caplog.set_level(logging.ERROR)
    prefix = b'{"queue_name":"default","actor_name":"swallow","args":["'
    suffix = b'"],"kwargs":{},"options":{},"message_id":"m","message_timestamp":1}'
    stub_broker.queues["default"].put(prefix + b"x" * MAX_MESSAGE_BYTES + suffix)
    swallow.send("small")
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert ran == [5]
    assert len(stub_broker.dead_letters) == 1
    reasons = [r.getMessage() for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(reasons) == 1 and "maximum message size" in reasons[0]
