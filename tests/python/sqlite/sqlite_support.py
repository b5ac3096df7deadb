"""Helpers for the embedded broker's multi-process tests: an application
module whose actors record each message id durably (one O_APPEND line per
run), and runners for producers and the ``dramatiq`` command."""

import os
import sqlite3
import sys
import textwrap

import dramatiq
import redis_support

#: Every wait in these tests is bounded by this many seconds.
WAIT = 60.0

APP = '''
import os
import time

import dramatiq


def _record(name, line):
    fd = os.open(os.path.join(os.environ["RECORD_DIR"], name), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


@dramatiq.actor(max_retries=0)
def record(i, pause_ms=0):
    if pause_ms:
        time.sleep(pause_ms / 1000)
    _record("done", "%s %d" % (i, os.getpid()))


@dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=20)
def flaky(i):
    # The first attempt of each message fails (Retries sends it again).
    marker = os.path.join(os.environ["RECORD_DIR"], "failed-%s" % i)
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        _record("done", "%s %d" % (i, os.getpid()))
        return
    raise RuntimeError("first attempt of %s fails" % i)
'''


def write_app(directory, source=APP):
    with open(os.path.join(str(directory), "app.py"), "w") as f:
        f.write(textwrap.dedent(source))


def env_for(tmp_path, db_path, **extra):
    return redis_support.subprocess_env(
        upstream=False,
        extra_path=[os.path.dirname(os.path.dirname(os.path.abspath(dramatiq.__file__))), str(tmp_path)],
        DRAMATIQ_BROKER_URL="sqlite://" + db_path,
        RECORD_DIR=str(tmp_path),
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )


def start_command(tmp_path, db_path, *args):
    """``python -m dramatiq app ARGS`` on the file (through --broker-url)."""
    return redis_support.ChildProcess(
        [sys.executable, "-m", "dramatiq", "--broker-url", "sqlite://" + db_path, "app",
         "--path", str(tmp_path), *args],
        env=env_for(tmp_path, db_path), cwd=tmp_path, log_dir=tmp_path, name="dramatiq",
    )


def start_python(tmp_path, db_path, code, name="producer", **extra):
    return redis_support.ChildProcess(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env_for(tmp_path, db_path, **extra), cwd=tmp_path, log_dir=tmp_path, name=name,
    )


def lines(tmp_path, name="done"):
    try:
        with open(os.path.join(str(tmp_path), name)) as f:
            return [line.split() for line in f.read().splitlines() if line]
    except FileNotFoundError:
        return []


def done_ids(tmp_path):
    return [int(fields[0]) for fields in lines(tmp_path)]


def rows(db_path, sql):
    """A query through a connection of its own (as another program would)."""
    connection = sqlite3.connect(db_path, timeout=30)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()
