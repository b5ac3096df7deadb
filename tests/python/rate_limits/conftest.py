"""Fixtures for the rate limit tests: a private redis-server and a private
memcached (started once per test module, stopped by PID), and a
``backend`` fixture that runs a test on every backend we ship (SQLite on a
file of the test's own; upstream has no SQLite backend, so those runs are
``superset``)."""

import os
import subprocess
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import memcached_support  # noqa: E402
import redis_support  # noqa: E402

from dramatiq.rate_limits.backends import MemcachedBackend, RedisBackend, StubBackend  # noqa: E402

BACKENDS = ["stub", "redis", "memcached-text", "memcached-binary", "sqlite"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "superset_on_memcached: superset (see tests/python/conftest.py) when run on a memcached "
        "backend: upstream's pylibmc backend keeps refused increments counted, reads far expiries "
        "as past dates and cannot block in Barrier.wait",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend_kind") == "sqlite":
            item.add_marker(pytest.mark.superset)
        if item.get_closest_marker("superset_on_memcached") and callspec is not None:
            if any(str(value).startswith("memcached") for value in callspec.params.values()):
                item.add_marker(pytest.mark.superset)


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server shared by the tests of one module (keys are unique per test)."""
    with redis_support.RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def memcached_server():
    """A memcached shared by the tests of one module (keys are unique per test)."""
    with memcached_support.MemcachedServer() as server:
        yield server


@pytest.fixture
def redis_client(redis_server):
    client = redis_server.client()
    yield client
    client.close()


def make_backend(kind, redis_server, memcached_server, sqlite_path=None):
    if kind == "stub":
        return StubBackend()
    if kind == "sqlite":
        from dramatiq.rate_limits.backends import SQLiteBackend  # ours only

        return SQLiteBackend(path=sqlite_path)
    if kind == "redis":
        return RedisBackend(url=redis_server.url)
    return MemcachedBackend(servers=[memcached_server.address], binary=kind == "memcached-binary")


@pytest.fixture(params=BACKENDS)
def backend_kind(request):
    return request.param


@pytest.fixture
def backend(backend_kind, request):
    """Each backend in turn; servers start only for the backends that need them."""
    redis_server = request.getfixturevalue("redis_server") if backend_kind == "redis" else None
    memcached_server = (
        request.getfixturevalue("memcached_server") if backend_kind.startswith("memcached") else None
    )
    sqlite_path = str(request.getfixturevalue("tmp_path") / "limits.sqlite3") if backend_kind == "sqlite" else None
    return make_backend(backend_kind, redis_server, memcached_server, sqlite_path)


@pytest.fixture
def key():
    """A key no other test uses."""
    return "test-%s" % uuid.uuid4().hex


@pytest.fixture
def upstream_python():
    """An interpreter running upstream Dramatiq 2.2.1 (skips without one)."""
    python = redis_support.upstream_python()
    if python is None:
        pytest.skip("no upstream Dramatiq interpreter (run scripts/setup.sh or set DRAMATIQ_UPSTREAM_PYTHON)")
    problem = redis_support.check_upstream_python(python)
    if problem:
        pytest.skip(problem)
    return python


@pytest.fixture
def upstream_python_with_pylibmc(upstream_python):
    """The upstream interpreter, when it also has pylibmc (upstream's
    memcached backend needs it; scripts/setup.sh installs it)."""
    probe = subprocess.run([upstream_python, "-c", "import pylibmc"], capture_output=True,
                           env=redis_support.subprocess_env(upstream=True), cwd=tempfile.gettempdir())
    if probe.returncode != 0:
        pytest.skip("%s has no pylibmc (run scripts/setup.sh)" % upstream_python)
    return upstream_python
