"""Fixtures for the RedisBroker tests.

Every test gets its own redis-server (see ``redis_support.RedisServer``):
a fresh process on a free loopback port in a temp dir, stopped by PID at
teardown.  Tests that need upstream Dramatiq in a subprocess use the
``upstream_python`` fixture; it skips (with the reason) when no upstream
interpreter is available -- run scripts/setup.sh to create
``.venv-upstream``, or point ``$DRAMATIQ_UPSTREAM_PYTHON`` at one.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis_support  # noqa: E402

import dramatiq  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402


@pytest.fixture
def redis_server():
    """A fresh redis-server for this test only."""
    server = redis_support.RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_client(redis_server):
    """A redis-py client on the test's server, db 0 (for looking at keys)."""
    client = redis_server.client()
    yield client
    client.close()


def close_broker(broker, server):
    """Teardown shared by the broker fixtures: flush what the test
    declared (only while the server is up), then close."""
    try:
        if server.running:
            broker.flush_all()
    finally:
        broker.close()


@pytest.fixture
def redis_broker(redis_server):
    """``RedisBroker(url=redis_server.url)``, installed as the global broker."""
    broker = RedisBroker(url=redis_server.url)
    dramatiq.set_broker(broker)
    yield broker
    close_broker(broker, redis_server)


@pytest.fixture
def another_redis_broker(redis_server):
    """A second broker object on the test's server, not the global one (as
    another process would have: one that cancels, counts or keeps dead letters)."""
    broker = RedisBroker(url=redis_server.url)
    yield broker
    broker.close()


@pytest.fixture
def redis_worker(redis_broker):
    """A started worker (8 threads, 100 ms worker_timeout) on ``redis_broker``."""
    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=8)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def upstream_python():
    """Path to an interpreter running upstream Dramatiq 2.2.1 + redis-py."""
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
