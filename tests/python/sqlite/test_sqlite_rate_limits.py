"""The SQLite rate-limit backend on real files: upstream's primitives and
their expiry, every limiter and the barrier, and the same limits shared by
several processes on one file (a mutex never held twice at once, a barrier
whose parties are processes, an event that wakes another process), the
default file, and Ctrl-C in a blocked Barrier.wait."""

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from dramatiq.rate_limits import Barrier, BucketRateLimiter, ConcurrentRateLimiter, RateLimitExceeded
from dramatiq.rate_limits import RateLimiterBackend, WindowRateLimiter
from dramatiq.rate_limits.backends import SQLiteBackend

from interrupt_support import _blocked_in_kernel_wait, interrupt_when_blocked
from redis_support import subprocess_env

BOUND = 60  # seconds: bounds every wait on a child process


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "limits.sqlite3")


@pytest.fixture
def backend(db_path):
    return SQLiteBackend(path=db_path)


@pytest.fixture
def key():
    return "test-%s" % uuid.uuid4().hex


def rows(path, sql, *args):
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_backend_is_a_rate_limiter_backend_with_its_file(backend, db_path):
    assert isinstance(backend, RateLimiterBackend)
    assert backend.path == db_path
    assert backend.durable is False
    assert repr(backend) == "SQLiteBackend(path=%r)" % db_path


def test_backend_methods_directly(backend, key, db_path):
    assert backend.add(key, 1, 10000) is True
    assert backend.add(key, 1, 10000) is False
    assert backend.incr(key, 1, 2, 10000) is True
    assert backend.incr(key, 1, 2, 10000) is False
    assert backend.decr(key, 2, 0, 10000) is True
    assert backend.decr(key, 1, 0, 10000) is False
    assert backend.incr_and_sum(key + "@1", lambda: [key + "@1", key], 2, 2, 10000) is True
    assert backend.incr_and_sum(key + "@1", lambda: [key + "@1", key], 1, 2, 10000) is False
    assert rows(db_path, "SELECT key, value FROM dramatiq_rate_limits ORDER BY key") == [(key, 0), (key + "@1", 2)]
    assert backend.wait(key + "@events", 0) is False
    backend.wait_notify(key + "@events", 10000)
    assert backend.wait(key + "@events", 0) is True
    assert backend.wait(key + "@events", 100) is True  # seen until it expires


def test_counters_and_events_expire(backend, key):
    assert backend.add(key, 1, 100) is True
    backend.wait_notify(key + "@events", 100)
    time.sleep(0.3)  # past both ttls
    assert backend.add(key, 5, 10000) is True
    assert backend.wait(key + "@events", 0) is False


def test_concurrent_limiter_admits_up_to_its_limit(backend, key):
    mutex = ConcurrentRateLimiter(backend, key, limit=2)
    with mutex.acquire():
        with mutex.acquire():
            with pytest.raises(RateLimitExceeded):
                with mutex.acquire():
                    pass
            with mutex.acquire(raise_on_failure=False) as acquired:
                assert not acquired
        with mutex.acquire():
            pass


def test_bucket_and_window_limiters(backend, key):
    bucket = BucketRateLimiter(backend, key + "-bucket", limit=2, bucket=10 ** 12)
    outcomes = []
    for _ in range(3):
        with bucket.acquire(raise_on_failure=False) as acquired:
            outcomes.append(bool(acquired))
    assert outcomes == [True, True, False]
    window = WindowRateLimiter(backend, key + "-window", limit=3, window=3600)
    admitted = 0
    for _ in range(5):
        with window.acquire(raise_on_failure=False) as acquired:
            admitted += bool(acquired)
    assert admitted == 3


def test_barrier_clears_with_the_last_party(backend, key):
    barrier = Barrier(backend, key)
    assert barrier.create(3) is True
    assert barrier.create(3) is False
    assert barrier.wait(block=False) is False
    assert barrier.wait(block=False) is False
    assert barrier.wait(block=False) is True


def test_blocking_wait_times_out_without_the_other_parties(backend, key):
    barrier = Barrier(backend, key)
    barrier.create(2)
    assert barrier.wait(timeout=200) is False


# -- across processes ------------------------------------------------------------------------------

HAMMER_SCRIPT = r"""
import json, sys, time
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import SQLiteBackend
path, key, admissions = sys.argv[1], sys.argv[2], int(sys.argv[3])
mutex = ConcurrentRateLimiter(SQLiteBackend(path=path), key, limit=1)
print("READY", flush=True)
sys.stdin.readline()  # go
intervals = []
while len(intervals) < admissions:
    with mutex.acquire(raise_on_failure=False) as acquired:
        if not acquired:
            continue
        start = time.monotonic_ns()
        time.sleep(0.001)  # hold the slot a little, so holders would overlap
        intervals.append((start, time.monotonic_ns()))
print(json.dumps(intervals), flush=True)
"""


def start_children(script, args, count):
    children = [subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=subprocess_env(upstream=False)) for _ in range(count)]
    for child in children:
        assert child.stdout.readline().strip() == "READY", child.stderr.read()
    return children


def finish(children):
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=BOUND)
        assert child.returncode == 0, err
        outputs.append(out)
    return outputs


def kill_all(children):
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_mutex_shared_by_three_processes_is_never_held_twice_at_once(backend, db_path, key):
    children = start_children(HAMMER_SCRIPT, [db_path, key, "30"], 3)
    try:
        for child in children:  # let them go together
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = finish(children)
    finally:
        kill_all(children)
    intervals = sorted(tuple(i) for out in outputs for i in json.loads(out))
    assert len(intervals) == 90
    # CLOCK_MONOTONIC is one clock for every process on the host.
    overlaps = [(a, b) for a, b in zip(intervals, intervals[1:]) if b[0] < a[1]]
    assert overlaps == []
    assert rows(db_path, "SELECT value FROM dramatiq_rate_limits WHERE key = ?", key) == [(0,)]


BARRIER_SCRIPT = r"""
import sys
from dramatiq.rate_limits import Barrier
from dramatiq.rate_limits.backends import SQLiteBackend
path, key = sys.argv[1], sys.argv[2]
barrier = Barrier(SQLiteBackend(path=path), key)
created = barrier.create(4)
print("READY", flush=True)
sys.stdin.readline()  # go
print(created, barrier.wait(timeout=60000), flush=True)
"""


def test_a_barrier_across_processes(backend, db_path, key):
    barrier = Barrier(backend, key)
    children = start_children(BARRIER_SCRIPT, [db_path, key], 3)
    try:
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        # The three children arrive (the count drops to the last unit), then this process clears it.
        deadline = time.monotonic() + BOUND
        while rows(db_path, "SELECT value FROM dramatiq_rate_limits WHERE key = ?", key) != [(1,)]:
            assert time.monotonic() < deadline, "the children never arrived"
            time.sleep(0.01)
        assert barrier.wait(block=False) is True
        outputs = finish(children)
    finally:
        kill_all(children)
    created = [out.split()[0] for out in outputs]
    assert sorted(created) == ["False", "False", "True"]  # one of them set it up
    assert [out.split()[1] for out in outputs] == ["True", "True", "True"]


WAIT_SCRIPT = r"""
import sys
from dramatiq.rate_limits.backends import SQLiteBackend
backend = SQLiteBackend(path=sys.argv[1])
print("READY", flush=True)
print(backend.wait(sys.argv[2], 60000), flush=True)
"""


def test_a_notification_wakes_a_wait_in_another_process(backend, db_path, key):
    children = start_children(WAIT_SCRIPT, [db_path, key + "@events"], 1)
    try:
        deadline = time.monotonic() + BOUND
        while not _blocked_in_kernel_wait(children[0].pid):
            assert time.monotonic() < deadline, "the child never blocked"
            time.sleep(0.01)
        backend.wait_notify(key + "@events", 60000)
        outputs = finish(children)
    finally:
        kill_all(children)
    assert outputs[0].split() == ["True"]


CTRL_C_SCRIPT = """
from dramatiq.rate_limits import Barrier
from dramatiq.rate_limits.backends import SQLiteBackend

backend = SQLiteBackend(path=PATH)
barrier = Barrier(backend, "never-cleared")
barrier.create(2)
print("READY", flush=True)
try:
    barrier.wait(timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    # The backend stays usable.
    print(backend.wait("never-cleared@events", 0), flush=True)
"""


def test_sigint_interrupts_a_blocked_barrier_wait(db_path):
    done = interrupt_when_blocked(CTRL_C_SCRIPT.replace("PATH", repr(db_path)))
    assert done.stdout.split() == ["INTERRUPTED", "False"], done.stderr
    assert done.returncode == 0, done.stderr


def test_limits_are_kept_in_the_brokers_default_file(tmp_path):
    script = ("from dramatiq.rate_limits.backends import SQLiteBackend\n"
              "b = SQLiteBackend()\n"
              "print(b.path, b.add('k', 1, 60000))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=BOUND,
                          env=subprocess_env(upstream=False, XDG_DATA_HOME=str(tmp_path)), cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    expected = str(tmp_path / "dramatiq" / "broker.sqlite3")
    assert done.stdout.split() == [expected, "True"]
    assert rows(expected, "SELECT value FROM dramatiq_rate_limits WHERE key = 'k'") == [(1,)]


GROUP_WORKER_SCRIPT = r"""
import sys
import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker
from dramatiq.middleware import GroupCallbacks
from dramatiq.rate_limits.backends import SQLiteBackend
path = sys.argv[1]
broker = SQLiteBroker(path)
broker.add_middleware(GroupCallbacks(SQLiteBackend(path=path)))
dramatiq.set_broker(broker)
counters = SQLiteBackend(path=path)

@dramatiq.actor(queue_name="sqlite-group")
def work(i):
    counters.incr("members", 1, 10**9, 600000)

@dramatiq.actor(queue_name="sqlite-group")
def all_done():
    counters.incr("callbacks", 1, 10**9, 600000)

worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
worker.start()
print("READY", flush=True)
sys.stdin.readline()  # until the test says stop
worker.stop()
broker.close()
"""


def test_group_callbacks_run_once_with_members_in_two_worker_processes(stub_broker, db_path):
    import dramatiq
    from dramatiq.brokers.sqlite import SQLiteBroker
    from dramatiq.middleware import GroupCallbacks

    broker = SQLiteBroker(db_path)
    broker.add_middleware(GroupCallbacks(SQLiteBackend(path=db_path)))
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name="sqlite-group")
    def work(i):
        raise AssertionError("runs in the worker processes only")

    @dramatiq.actor(queue_name="sqlite-group")
    def all_done():
        raise AssertionError("runs in the worker processes only")

    children = start_children(GROUP_WORKER_SCRIPT, [db_path], 2)
    try:
        g = dramatiq.group(work.message(i) for i in range(8))
        g.add_completion_callback(all_done.message())
        g.run()
        broker.join("sqlite-group", timeout=60000)
        for child in children:
            child.stdin.write("stop\n")
            child.stdin.flush()
        finish(children)
    finally:
        kill_all(children)
        broker.close()
        dramatiq.set_broker(stub_broker)
    counts = dict(rows(db_path, "SELECT key, value FROM dramatiq_rate_limits WHERE key IN ('members', 'callbacks')"))
    assert counts == {"members": 8, "callbacks": 1}
