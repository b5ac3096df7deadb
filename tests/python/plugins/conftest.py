"""Fixtures for the third-party plugin scenarios (docs/compatibility.md,
"Third-party plugins"): a private redis-server per test, and the
interpreter the scenarios run in."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis_support  # noqa: E402


@pytest.fixture
def redis_server():
    """A fresh redis-server for this test only."""
    server = redis_support.RedisServer()
    server.start()
    yield server
    server.close()
