"""Fixtures for the tests of the ``dramatiq`` command.

The tests run the real command (``python -m dramatiq ...``) as a
subprocess against a private redis-server, importing the same
``dramatiq`` as the test process.  Each test writes a small application module into
its tmp_path (the command's working directory, so ``--path .`` finds it);
its actors record what they did into Redis lists.
"""

import pytest

from cli_support import Command, redis_support


@pytest.fixture
def redis_server():
    server = redis_support.RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_client(redis_server):
    client = redis_server.client(decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def command(tmp_path, redis_server):
    cmd = Command(tmp_path, redis_server.url)
    yield cmd
    cmd.cleanup()
