"""Helpers for the tests of the ``dramatiq`` command (see conftest.py)."""

import os
import re
import signal
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis_support  # noqa: E402

import dramatiq  # noqa: E402

#: Every wait in these tests is bounded by this many seconds.
WAIT = 30.0
#: The application most tests use.  VERSION is rewritten by the reload tests.
APP = '''
import os
import threading
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)
VERSION = "v1"


@dramatiq.actor
def record(i):
    broker.client.rpush("done", "%s %d %d %s" % (i, os.getpid(), threading.get_ident(), VERSION))


@dramatiq.actor
def rendezvous(i, parties):
    # Holds its worker thread until `parties` messages run at the same time
    # (bounded: gives up after 30 s and records that it did).
    broker.client.rpush("started", i)
    deadline = time.monotonic() + 30
    while broker.client.llen("started") < parties and time.monotonic() < deadline:
        time.sleep(0.01)
    met = broker.client.llen("started") >= parties
    broker.client.rpush("done", "%s %d %d %s" % (i, os.getpid(), threading.get_ident(), met))


@dramatiq.actor
def slow(i):
    broker.client.rpush("started", i)
    time.sleep(1.5)
    broker.client.rpush("done", i)


@dramatiq.actor(queue_name="other")
def other(i):
    broker.client.rpush("other_done", i)
'''


def write_app(directory, source=APP, name="app.py"):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(source))
    return path


class Command:
    """Runs ``python -m dramatiq ARGS`` in the test's directory."""

    def __init__(self, tmp_path, redis_url):
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.children = []

    def start(self, *args, redis_url=None, new_session=False):
        env = redis_support.subprocess_env(
            upstream=False,
            # The command must import the dramatiq under test (installed or
            # in-tree), whichever this interpreter imported.
            extra_path=[os.path.dirname(os.path.dirname(os.path.abspath(dramatiq.__file__)))],
            REDIS_URL=redis_url or self.redis_url,
            # Reload tests rewrite app.py within the same second: no stale .pyc.
            PYTHONDONTWRITEBYTECODE="1",
        )
        child = redis_support.ChildProcess(
            [sys.executable, "-m", "dramatiq", *args],
            env=env, cwd=self.tmp_path, log_dir=self.tmp_path, name="dramatiq", new_session=new_session,
        )
        self.children.append(child)
        return child

    def run(self, *args, redis_url=None):
        """Run to completion (bounded); return the child."""
        child = self.start(*args, redis_url=redis_url)
        try:
            child.process.wait(WAIT)
        except Exception:
            child.kill()
            raise AssertionError("dramatiq did not exit:\n" + child.describe())
        return child

    def cleanup(self):
        for child in self.children:
            child.kill()


def wait_until(predicate, what, child=None, timeout=WAIT):
    try:
        return redis_support.wait_until(predicate, timeout=timeout, message=what)
    except AssertionError as e:
        detail = "\n" + child.describe() if child is not None else ""
        raise AssertionError(str(e) + detail) from None


def ready_count(child):
    return child.stderr().count("Worker process is ready for action.")


def wait_ready(child, processes, what="the worker processes to boot"):
    wait_until(lambda: ready_count(child) >= processes or not child.alive(), what, child)
    assert child.alive(), child.describe()


def stop(child, sig=signal.SIGTERM):
    """Send ``sig`` and wait (bounded) for the command to exit; its exit code."""
    child.process.send_signal(sig)
    try:
        return child.process.wait(WAIT)
    except Exception:
        child.kill()
        raise AssertionError("dramatiq did not exit after %s:\n%s" % (sig.name, child.describe()))


def ctrl_c(child):
    """What a terminal's Ctrl-C does: SIGINT to the command's whole
    process group (start it with ``new_session=True``)."""
    os.killpg(child.pid, signal.SIGINT)


def exits_within(child, timeout=WAIT):
    """The command's exit code, once it exited (bounded); fails if it did not."""
    try:
        return child.process.wait(timeout)
    except Exception:
        child.kill()
        raise AssertionError("dramatiq did not exit:\n" + child.describe()) from None


def process_gone(pid):
    """Whether process ``pid`` has exited (a zombie counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def ready_pids(child):
    """{worker id: PID} of the worker processes that said they are ready
    (from their log lines, in the command's default log format)."""
    found = re.findall(r"\[PID (\d+)\] \[MainThread\] \[dramatiq\.WorkerProcess\((\d+)\)\] \[INFO\] "
                       r"Worker process is ready for action\.", child.stderr())
    return {int(worker_id): int(pid) for pid, worker_id in found}
