"""Fixtures for the embedded broker's tests: a database file in the test's
tmp_path, and helpers to run producers and the ``dramatiq`` command as
real processes on it."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dramatiq  # noqa: E402
from dramatiq.brokers.sqlite import SQLiteBroker  # noqa: E402


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "broker.sqlite3")


@pytest.fixture
def sqlite_broker(db_path):
    broker = SQLiteBroker(db_path)
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


@pytest.fixture
def another_sqlite_broker(db_path):
    """A second broker object on the test's file, not the global one (as
    another process would have: one that cancels, counts or keeps dead letters)."""
    broker = SQLiteBroker(db_path)
    yield broker
    broker.close()


@pytest.fixture
def sqlite_worker(sqlite_broker):
    worker = dramatiq.Worker(sqlite_broker, worker_timeout=100, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()
