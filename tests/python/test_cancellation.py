"""Cancellation on the StubBroker (the layers above brokers; each broker's
own record is tested against its server: tests/python/redis, sqlite)."""

import pytest

import dramatiq
from cancellation_scenarios import running_and_pending_are_cancelled
from engineless_broker import EnginelessBroker


def test_running_and_pending_messages_are_cancelled(stub_broker):
    running_and_pending_are_cancelled(stub_broker, stub_broker)


def test_a_cancelled_id_sent_later_is_skipped(stub_broker, stub_worker):
    ran = []

    @dramatiq.actor
    def work(n):
        ran.append(n)

    message = work.message(1)
    dramatiq.cancel(message)  # before it was even sent
    stub_broker.enqueue(message)
    work.send(2)
    stub_broker.join(work.queue_name)
    stub_worker.join()
    assert ran == [2]


def test_bad_arguments_are_clear_errors(stub_broker):
    with pytest.raises(ValueError, match="must not be empty"):
        dramatiq.cancel("")
    with pytest.raises(ValueError, match="ttl must be positive"):
        dramatiq.cancel("some-id", ttl=0)


def test_a_broker_that_cannot_cancel_says_so():
    with pytest.raises(NotImplementedError, match="EnginelessBroker cannot cancel messages yet"):
        dramatiq.cancel("some-id", broker=EnginelessBroker())

def test_cancelling_a_pipelines_message_stops_the_pipeline_there(stub_broker, stub_worker):
    ran = []

    @dramatiq.actor
    def step(name):
        ran.append(name)

    first, second = step.message("first"), step.message_with_options(args=("second",), pipe_ignore=True)
    third = step.message_with_options(args=("third",), pipe_ignore=True)
    pipe = dramatiq.pipeline([first, second, third])
    dramatiq.cancel(pipe.messages[1])  # the second's id, before it was sent
    pipe.run()
    stub_broker.join(step.queue_name)
    stub_worker.join()
    assert ran == ["first"]  # the second was skipped, so the third was never sent
