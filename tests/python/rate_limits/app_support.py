"""Running limiter_app.py children (ours or upstream's) and reading their reports."""

import json
import os
import sys

import redis_support
from redis_support import ChildProcess, subprocess_env

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "limiter_app.py")


def start(python, spec, tmp_path, *, upstream=False, name="limiter"):
    """Start ``limiter_app.py SPEC`` under ``python``."""
    return ChildProcess(
        [python, APP, json.dumps(spec)],
        env=subprocess_env(upstream=upstream),
        cwd=tmp_path,
        log_dir=tmp_path,
        name=name,
    )


def report(child, timeout=120):
    """The JSON object a child printed, once it exited with status 0."""
    try:
        code = child.process.wait(timeout)
    except Exception:
        child.kill()
        raise AssertionError("child did not finish:\n" + child.describe())
    assert code == 0, child.describe()
    return json.loads(child.stdout().strip().splitlines()[-1])


def our_python():
    return sys.executable


def backend_spec(kind, redis_server=None, memcached_server=None):
    """How a child reaches the test's backend."""
    if kind == "redis":
        return {"redis": redis_server.url}
    return {"memcached": [memcached_server.address], "binary": kind == "memcached-binary"}


__all__ = ["start", "report", "our_python", "backend_spec", "redis_support"]
