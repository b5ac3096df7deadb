"""dramatiq-eager-broker (PyPI): a StubBroker subclass that runs each
message as it is sent, emitting the process_message, ack and nack hooks
from Python. Those hooks reach the engine's built-in middleware (Results,
Retries, CurrentMessage) as upstream's middleware get them."""

import pytest
from dramatiq_eager_broker import EagerBroker

import dramatiq
from dramatiq.middleware import CurrentMessage, default_middleware
from dramatiq.results import ResultFailure, Results
from dramatiq.results.backends import StubBackend


@pytest.fixture
def eager_broker():
    backend = StubBackend()
    broker = EagerBroker([m() for m in default_middleware] + [Results(backend=backend), CurrentMessage()],
                         fail_fast=False)
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


def test_results_of_eagerly_run_messages(eager_broker):
    @dramatiq.actor(store_results=True)
    def double(x):
        return x * 2

    message = double.send(21)
    assert message.get_result() == 42


def test_failures_are_stored_and_retried_eagerly(eager_broker):
    attempts = []

    @dramatiq.actor(store_results=True, max_retries=2, min_backoff=1, max_backoff=1)
    def fails():
        attempts.append(CurrentMessage.get_current_message().options.get("retries", 0))
        raise ValueError("nope")

    message = fails.send()
    # Retries re-enqueued it (run eagerly again) until it gave up; the last
    # failure was stored by Results when the message was nacked.
    assert attempts == [0, 1, 2]
    with pytest.raises(ResultFailure):
        message.get_result()
