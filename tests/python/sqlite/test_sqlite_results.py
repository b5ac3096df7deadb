"""SQLiteBackend (results) on real files: storage as the other backends
store (the encoder's bytes, failures wrapped as upstream wraps them), TTLs
and purging, blocking gets woken by a commit in another process, a worker
process on the embedded broker sharing the file, the default file shared
with the broker, and Ctrl-C."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import dramatiq
from dramatiq.errors import ConnectionFailed
from dramatiq.results import ResultFailure, ResultMissing, Results, ResultTimeout
from dramatiq.results.backends import SQLiteBackend

from interrupt_support import _blocked_in_kernel_wait, interrupt_when_blocked
from redis_support import subprocess_env

BOUND = 60  # seconds: bounds every wait on a child process


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "dramatiq.sqlite3")


@pytest.fixture
def backend(stub_broker, db_path):
    backend = SQLiteBackend(path=db_path)
    stub_broker.add_middleware(Results(backend=backend))
    return backend


def rows(path, sql, *args):
    """What another process reading the file sees."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_results_and_failures_round_trip(stub_broker, stub_worker, backend):
    @dramatiq.actor(store_results=True, max_retries=0)
    def maybe(fail):
        if fail:
            raise ValueError("no")
        return {"ok": [1, 2]}

    good, bad = maybe.send(False), maybe.send(True)
    assert good.get_result(block=True, timeout=10000) == {"ok": [1, 2]}
    with pytest.raises(ResultFailure) as excinfo:
        bad.get_result(block=True, timeout=10000)
    assert (excinfo.value.orig_exc_type, excinfo.value.orig_exc_msg) == ("ValueError", "no")


def test_results_are_stored_as_the_encoders_bytes(stub_broker, stub_worker, backend, db_path):
    @dramatiq.actor(store_results=True, max_retries=0)
    def maybe(fail):
        if fail:
            raise ValueError("no")
        return {"ok": [1, 2]}

    good, bad = maybe.send(False), maybe.send(True)
    good.get_result(block=True, timeout=10000)
    with pytest.raises(ResultFailure):
        bad.get_result(block=True, timeout=10000)
    stored = dict(rows(db_path, "SELECT key, value FROM dramatiq_results"))
    assert json.loads(stored[backend.build_message_key(good)]) == {"ok": [1, 2]}
    assert json.loads(stored[backend.build_message_key(bad)]) == {
        "__t": "dramatiq.results.Result", "exn": {"type": "ValueError", "msg": "no"},
    }


def test_blocking_get_returns_once_the_result_is_stored(stub_broker, make_worker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return "here"

    message = value.send()
    got = []
    waiter = threading.Thread(target=lambda: got.append(message.get_result(block=True, timeout=30000)))
    waiter.start()
    make_worker()
    waiter.join(timeout=30)
    assert got == ["here"]


def test_missing_timeout_expiry_and_purge(stub_broker, stub_worker, backend, db_path):
    @dramatiq.actor(store_results=True, result_ttl=200)
    def value():
        return 1

    @dramatiq.actor(store_results=True)
    def unprocessed():
        return 1

    pending = unprocessed.message()
    with pytest.raises(ResultMissing):
        pending.get_result()
    with pytest.raises(ResultTimeout):
        pending.get_result(block=True, timeout=200)
    message = value.send()
    assert message.get_result(block=True, timeout=10000) == 1
    time.sleep(0.4)  # past the result's ttl
    with pytest.raises(ResultMissing):
        message.get_result()
    # The expired row goes with the next store.
    key = backend.build_message_key(message)
    assert rows(db_path, "SELECT count(*) FROM dramatiq_results WHERE key = ?", key) == [(1,)]
    backend.store_result(pending, 2, 60000)
    assert rows(db_path, "SELECT count(*) FROM dramatiq_results WHERE key = ?", key) == [(0,)]
    assert pending.get_result() == 2


def test_namespace_and_readable_keys(stub_broker, db_path):
    backend = SQLiteBackend(path=db_path, namespace="ns", use_namespace_prefix_keys=True)

    @dramatiq.actor
    def value():
        pass

    message = value.message()
    backend.store_result(message, [1], 60000)
    assert rows(db_path, "SELECT key FROM dramatiq_results") == [("ns:default:value:%s" % message.message_id,)]
    assert backend.get_result(message) == [1]


def test_urls_paths_and_bad_arguments(tmp_path):
    backend = SQLiteBackend(url="sqlite://%s?durable=1" % (tmp_path / "u.db"))
    assert backend.path == str(tmp_path / "u.db")
    assert backend.durable is True
    assert SQLiteBackend(path=tmp_path / "p.db").durable is False
    with pytest.raises(TypeError):
        SQLiteBackend(path=str(tmp_path / "a.db"), url="sqlite://%s" % (tmp_path / "b.db"))
    with pytest.raises(ValueError, match="colour"):
        SQLiteBackend(url="sqlite://%s?colour=blue" % (tmp_path / "c.db"))


def test_a_file_of_another_application_is_refused(tmp_path):
    path = str(tmp_path / "other.db")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(ConnectionFailed, match="another application"):
        SQLiteBackend(path=path)


# -- across processes ------------------------------------------------------------------------------

WAITER_SCRIPT = r"""
import json, sys
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results.backends import SQLiteBackend
dramatiq.set_broker(StubBroker())
path, fields = sys.argv[1], json.loads(sys.argv[2])
backend = SQLiteBackend(path=path)
message = dramatiq.Message(args=(), kwargs={}, options={}, message_timestamp=0, **fields)
print("READY", flush=True)
print(json.dumps(backend.get_result(message, block=True, timeout=60000)), flush=True)
"""


def test_a_result_stored_by_another_process_wakes_a_blocked_get(stub_broker, db_path):
    backend = SQLiteBackend(path=db_path)

    @dramatiq.actor
    def value():
        pass

    message = value.message()
    fields = {"queue_name": message.queue_name, "actor_name": message.actor_name, "message_id": message.message_id}
    child = subprocess.Popen([sys.executable, "-c", WAITER_SCRIPT, db_path, json.dumps(fields)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=subprocess_env(upstream=False))
    try:
        assert child.stdout.readline().strip() == "READY", child.stderr.read()
        # Store only once the child sleeps inside get_result.
        deadline = time.monotonic() + BOUND
        while not _blocked_in_kernel_wait(child.pid):
            assert time.monotonic() < deadline, "the child never blocked"
            time.sleep(0.01)
        backend.store_result(message, {"from": "parent"}, 60000)
        out, err = child.communicate(timeout=BOUND)
        assert child.returncode == 0, err
        assert json.loads(out) == {"from": "parent"}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


WORKER_SCRIPT = r"""
import sys
import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker
from dramatiq.results import Results
from dramatiq.results.backends import SQLiteBackend
path = sys.argv[1]
broker = SQLiteBroker(path)
broker.add_middleware(Results(backend=SQLiteBackend(path=path)))
dramatiq.set_broker(broker)

@dramatiq.actor(queue_name="sqlite-results", store_results=True, max_retries=0)
def add(x, y):
    if x < 0:
        raise ValueError("negative")
    return x + y

worker = dramatiq.Worker(broker, worker_timeout=100)
worker.start()
print("READY", flush=True)
sys.stdin.read()  # until the test closes our stdin
worker.stop()
broker.close()
"""


def test_a_worker_process_on_the_embedded_broker_stores_results_in_the_same_file(db_path):
    from dramatiq.brokers.sqlite import SQLiteBroker

    broker = SQLiteBroker(db_path)
    backend = SQLiteBackend(path=db_path)
    broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(queue_name="sqlite-results", store_results=True, broker=broker, max_retries=0)
    def add(x, y):
        raise AssertionError("runs in the worker process only")

    child = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, db_path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=subprocess_env(upstream=False))
    try:
        assert child.stdout.readline().strip() == "READY", child.stderr.read()
        messages = [add.send(i, i) for i in range(20)]
        # Message.get_result asks the global broker: ask this one's backend.
        assert [backend.get_result(m, block=True, timeout=30000) for m in messages] == [2 * i for i in range(20)]
        with pytest.raises(ResultFailure) as excinfo:
            backend.get_result(add.send(-1, 0), block=True, timeout=30000)
        assert excinfo.value.orig_exc_msg == "negative"
        child.stdin.close()
        child.wait(timeout=BOUND)
        assert child.returncode == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        broker.close()


DEFAULTS_SCRIPT = r"""
import json
import dramatiq
from dramatiq.brokers.sqlite import DEFAULT_PATH
from dramatiq.rate_limits.backends import SQLiteBackend as LimiterBackend
from dramatiq.results import Results
from dramatiq.results.backends import SQLiteBackend

broker = dramatiq.get_broker()
backend = SQLiteBackend()
broker.add_middleware(Results(backend=backend))

@dramatiq.actor(store_results=True)
def add(x, y):
    return x + y

worker = dramatiq.Worker(broker, worker_timeout=100)
worker.start()
result = add.send(1, 2).get_result(block=True, timeout=30000)
worker.stop()
print(json.dumps([type(broker).__name__, broker.path, backend.path, LimiterBackend().path, DEFAULT_PATH, result]))
"""


def test_with_nothing_configured_the_backends_share_the_brokers_default_file(tmp_path):
    env = subprocess_env(upstream=False, XDG_DATA_HOME=str(tmp_path))
    env.pop("DRAMATIQ_BROKER_URL", None)
    done = subprocess.run([sys.executable, "-c", DEFAULTS_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=BOUND, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    kind, broker_path, results_path, limits_path, default_path, result = json.loads(done.stdout)
    expected = str(tmp_path / "dramatiq" / "broker.sqlite3")
    assert (kind, broker_path, results_path, limits_path, default_path) == (
        "SQLiteBroker", expected, expected, expected, expected)
    assert result == 3
    assert rows(expected, "SELECT count(*) FROM dramatiq_results") == [(1,)]


CTRL_C_SCRIPT = """
import sys
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import Results
from dramatiq.results.backends import SQLiteBackend

broker = StubBroker()
broker.add_middleware(Results(backend=SQLiteBackend(path=sys.argv[1])))
dramatiq.set_broker(broker)

@dramatiq.actor(store_results=True)
def never_processed():
    return 1

message = never_processed.send()  # no worker: the result never lands
print("READY", flush=True)
try:
    message.get_result(block=True, timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_a_blocking_get_result(db_path):
    done = interrupt_when_blocked(CTRL_C_SCRIPT.replace("sys.argv[1]", repr(db_path)))
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr
