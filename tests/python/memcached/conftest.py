"""Fixtures for the memcached result backend tests: a private memcached per
test module (stopped by PID), and the upstream interpreter for interop."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import memcached_support  # noqa: E402
import redis_support  # noqa: E402


@pytest.fixture(scope="module")
def memcached_server():
    with memcached_support.MemcachedServer() as server:
        yield server


@pytest.fixture(scope="session")
def upstream_python_with_pylibmc():
    """An upstream Dramatiq 2.2.1 interpreter that has pylibmc (scripts/setup.sh installs it)."""
    python = redis_support.upstream_python()
    if python is None:
        pytest.skip("no upstream Dramatiq interpreter: run scripts/setup.sh or set DRAMATIQ_UPSTREAM_PYTHON")
    problem = redis_support.check_upstream_python(python)
    if problem is not None:
        pytest.fail("DRAMATIQ_UPSTREAM_PYTHON / .venv-upstream is not usable: " + problem)
    import subprocess

    if subprocess.run([python, "-c", "import pylibmc"], capture_output=True).returncode != 0:
        pytest.fail("%s has no pylibmc (scripts/setup.sh installs it)" % python)
    return python
