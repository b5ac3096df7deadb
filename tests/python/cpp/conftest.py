"""Fixtures for the cross-language tests: the C++ example programs, and a
Redis server or an embedded-broker file for them to share with Python."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cpp_examples  # noqa: E402
import redis_support  # noqa: E402


@pytest.fixture(scope="session")
def cpp_programs():
    """The directory of the built ``producer`` and ``worker`` programs."""
    return cpp_examples.build_examples()


@pytest.fixture
def redis_server():
    server = redis_support.RedisServer()
    server.start()
    yield server
    server.close()
