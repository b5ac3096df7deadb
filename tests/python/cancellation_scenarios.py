"""What cancelling a message does, from Python, on any broker that can
(``dramatiq.cancel``, ``Message.cancel``): run by tests/python/
test_cancellation.py (StubBroker) and by the Redis and SQLite suites
against their real server or file. Every wait is an event with a bound."""

import threading
import time

import pytest

import dramatiq
from dramatiq.middleware import Middleware
from dramatiq.results import Results, ResultFailure
from dramatiq.results.backends import StubBackend

WAIT = 10  # seconds; every wait ends on an event long before this


class SkipRecorder(Middleware):
    def __init__(self):
        self.skipped = []

    def after_skip_message(self, broker, message):
        self.skipped.append(message.message_id)


def running_and_pending_are_cancelled(broker, canceller):
    """A one-thread worker runs a message whose actor waits to be
    interrupted, with another behind it; ``canceller`` (the same broker, or
    another process's) cancels both: the running one sees ``Cancelled`` and
    cleans up, the waiting one never runs, both results are the failure,
    neither is retried."""
    broker.add_middleware(Results(backend=StubBackend()))
    recorder = SkipRecorder()
    broker.add_middleware(recorder)
    started, cleaned_up, runs = threading.Event(), threading.Event(), []

    @dramatiq.actor(broker=broker, store_results=True, max_retries=3)
    def waits_to_be_interrupted(n):
        runs.append(n)
        started.set()
        try:
            # Python code between short waits, where the interruption lands
            # (as with TimeLimit, one long C call would see it only at its end).
            for _ in range(WAIT * 100):
                time.sleep(0.01)
        except dramatiq.Cancelled:
            cleaned_up.set()
            raise
        return "not cancelled"

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        running = waits_to_be_interrupted.send(1)
        pending = waits_to_be_interrupted.send(2)
        assert started.wait(WAIT)
        dramatiq.cancel(pending.message_id, broker=canceller)
        running.cancel(broker=canceller)
        assert cleaned_up.wait(WAIT)
        with pytest.raises(ResultFailure) as failure:
            running.get_result(backend=broker.get_results_backend(), block=True, timeout=WAIT * 1000)
        assert failure.value.orig_exc_type == "Cancelled"
        with pytest.raises(ResultFailure, match="cancelled before it ran"):
            pending.get_result(backend=broker.get_results_backend(), block=True, timeout=WAIT * 1000)
        broker.join(waits_to_be_interrupted.queue_name, timeout=WAIT * 1000)
        worker.join()
    finally:
        worker.stop()
    assert runs == [1]  # the pending one never ran; the running one was not retried
    assert recorder.skipped == [pending.message_id]
