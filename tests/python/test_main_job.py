"""The README's first command: examples/main_job.py runs producer and the
``dramatiq`` command in separate processes on the embedded broker (no
server), and with REDIS_URL=private on a redis-server of its own."""

import os
import subprocess
import sys

import pytest

import dramatiq

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "main_job.py")


@pytest.mark.parametrize("redis_url", [None, "private"])
def test_main_job_processes_every_task(tmp_path, redis_url):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(dramatiq.__file__))))
    for name in ("REDIS_URL", "DRAMATIQ_BROKER_URL", "MAIN_JOB_DIR"):
        env.pop(name, None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    result = subprocess.run([sys.executable, EXAMPLE, "500"], env=env, cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert result.stdout.splitlines()[-1] == "OK"
    expected = "RedisBroker" if redis_url else "SQLiteBroker"
    assert result.stdout.startswith("broker: " + expected), result.stdout
    assert "sum=125250 (expected 125250)" in result.stdout
