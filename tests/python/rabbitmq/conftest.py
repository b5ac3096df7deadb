"""Fixtures for the RabbitmqBroker tests.

One rabbitmq-server serves the whole session (``rabbitmq_support.
RabbitmqServer``: its own process, epmd and temp dir, stopped by PID at
the end); it takes seconds to boot. Each test's broker deletes the queues
it declared at teardown, so tests do not see each other's messages or
queue arguments. Tests that record what workers did across processes use
a fresh redis-server (``recorder``).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rabbitmq_support  # noqa: E402
from rabbitmq_support import close_broker  # noqa: E402
import redis_support  # noqa: E402

import dramatiq  # noqa: E402
from dramatiq.brokers.rabbitmq import RabbitmqBroker  # noqa: E402


@pytest.fixture(scope="session")
def rabbitmq_server():
    """The session's rabbitmq-server."""
    server = rabbitmq_support.started_or_failed(rabbitmq_support.RabbitmqServer(tls=True))
    yield server
    server.close()


@pytest.fixture
def rabbitmq_broker(rabbitmq_server):
    """``RabbitmqBroker(url=..., max_priority=10)`` (upstream's test
    fixture's settings), installed as the global broker."""
    broker = RabbitmqBroker(url=rabbitmq_server.url, max_priority=10)
    dramatiq.set_broker(broker)
    yield broker
    close_broker(broker, rabbitmq_server)


@pytest.fixture
def another_rabbitmq_broker(rabbitmq_server):
    """A second broker object on the server, not the global one (as another
    process would have: one that cancels, counts or keeps dead letters)."""
    broker = RabbitmqBroker(url=rabbitmq_server.url, max_priority=10)
    yield broker
    broker.close()


@pytest.fixture
def rabbitmq_worker(rabbitmq_broker):
    """A started worker (8 threads, 100 ms worker_timeout) on ``rabbitmq_broker``."""
    worker = dramatiq.Worker(rabbitmq_broker, worker_timeout=100, worker_threads=8)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def recorder():
    """A fresh redis-server where actors of every process record their work."""
    server = redis_support.RedisServer()
    server.start()
    client = server.client()
    yield server, client
    client.close()
    server.close()


@pytest.fixture(scope="session")
def upstream_python():
    """Path to an interpreter running upstream Dramatiq 2.2.1 with pika."""
    python = redis_support.upstream_python()
    if python is None:
        pytest.skip(
            "no upstream Dramatiq interpreter: run scripts/setup.sh (creates .venv-upstream) "
            "or set DRAMATIQ_UPSTREAM_PYTHON"
        )
    problem = redis_support.check_upstream_python(python)
    if problem is not None:
        pytest.fail("DRAMATIQ_UPSTREAM_PYTHON / .venv-upstream is not usable: " + problem)
    return python
