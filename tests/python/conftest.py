"""Shared fixtures for the dramatiq-cpp Python test suite.

The suite is written against the public API of Dramatiq 2.2.1 and is
meant to pass both against upstream Dramatiq and against dramatiq-cpp.
Tests of features that only dramatiq-cpp has are marked ``superset``;
deselect them with ``-m "not superset"`` when running against upstream.
"""

import os
import tempfile
import threading

import pytest

# With no broker set, dramatiq.get_broker() opens the embedded broker under
# $XDG_DATA_HOME: keep this suite's (and its child processes') out of the
# user's own.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="dramatiq-tests-data-")

import dramatiq
from dramatiq.brokers.stub import StubBroker


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "superset: behaviour that dramatiq-cpp provides on top of upstream Dramatiq 2.2.1 "
        "(expected to fail against upstream)",
    )


@pytest.fixture(autouse=True)
def _reset_global_encoder():
    """Every test starts and ends with the default JSON encoder."""
    dramatiq.set_encoder(dramatiq.JSONEncoder())
    yield
    dramatiq.set_encoder(dramatiq.JSONEncoder())


@pytest.fixture
def stub_broker():
    broker = StubBroker()
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()
    dramatiq.set_encoder(dramatiq.JSONEncoder())


@pytest.fixture
def stub_worker(stub_broker):
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=8)
    worker.start()
    yield worker
    worker.stop()


class WorkerFactory:
    """Builds workers on demand (for tests that must control when the
    worker boots, how many threads it has, or that stop it themselves)."""

    def __init__(self, broker):
        self.broker = broker
        self._running = []

    def __call__(self, *, worker_threads=8, worker_timeout=100, start=True, **kwargs):
        worker = dramatiq.Worker(
            self.broker, worker_timeout=worker_timeout, worker_threads=worker_threads, **kwargs
        )
        if start:
            self.start(worker)
        return worker

    def start(self, worker):
        worker.start()
        self._running.append(worker)

    def stop(self, worker):
        self._running.remove(worker)
        worker.stop()

    def stop_all(self):
        while self._running:
            self.stop(self._running[-1])


@pytest.fixture
def make_worker(stub_broker):
    """``make_worker(worker_threads=1)`` returns a started worker; the
    test may stop it with ``make_worker.stop(worker)``, otherwise it is
    stopped at teardown."""
    factory = WorkerFactory(stub_broker)
    yield factory
    factory.stop_all()


class ResultRecorder(dramatiq.Middleware):
    """Records what every processed message returned or raised, keyed
    by message id, so tests can observe actor return values without the
    Results middleware."""

    def __init__(self):
        self.lock = threading.Lock()
        self.results = {}
        self.exceptions = {}
        self.order = []

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self.lock:
            self.order.append(message.message_id)
            if exception is None:
                self.results[message.message_id] = result
            else:
                self.exceptions[message.message_id] = exception


@pytest.fixture
def result_recorder(stub_broker):
    recorder = ResultRecorder()
    stub_broker.add_middleware(recorder)
    return recorder


def _peek_queue(broker, queue_name):
    """Decode the messages currently waiting on a StubBroker queue,
    leaving them in place."""
    import queue as _queue

    q = broker.queues[queue_name]
    raw = []
    while True:
        try:
            raw.append(q.get_nowait())
        except _queue.Empty:
            break
        q.task_done()
    for item in raw:
        q.put(item)
    return [dramatiq.Message.decode(item) for item in raw]


@pytest.fixture
def peek_queue(stub_broker):
    """``peek_queue("default")`` -> list of the Messages waiting there."""
    return lambda queue_name: _peek_queue(stub_broker, queue_name)
