"""RedisBackend (results) against a real redis-server: upstream's storage
layout, blocking waits, expiry, errors, and interop with upstream 2.2.1
(each side reads the results the other side's workers stored)."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.results import ResultFailure, ResultMissing, Results, ResultTimeout
from dramatiq.results.backends import RedisBackend

import results_app
from redis_support import ChildProcess, free_port, subprocess_env, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def backend(redis_server, redis_broker):
    backend = RedisBackend(url=redis_server.url)
    redis_broker.add_middleware(Results(backend=backend))
    return backend


def test_results_are_stored_as_upstream_stores_them(redis_broker, redis_worker, redis_client, backend):
    @dramatiq.actor(store_results=True, result_ttl=60000)
    def add(x, y):
        return x + y

    message = add.send(1, 2)
    assert message.get_result(block=True, timeout=10000) == 3
    key = hashlib.md5(("dramatiq-results:default:add:%s" % message.message_id).encode()).hexdigest()
    assert redis_client.lrange(key, 0, -1) == [b"3"]
    assert 0 < redis_client.pttl(key) <= 60000


def test_failures_are_stored_as_upstream_stores_them(redis_broker, redis_worker, redis_client, backend):
    @dramatiq.actor(store_results=True, max_retries=0)
    def fail():
        raise KeyError("missing")

    message = fail.send()
    with pytest.raises(ResultFailure) as excinfo:
        message.get_result(block=True, timeout=10000)
    assert (excinfo.value.orig_exc_type, excinfo.value.orig_exc_msg) == ("KeyError", "'missing'")
    key = backend.build_message_key(message)
    assert json.loads(redis_client.lindex(key, 0)) == {
        "__t": "dramatiq.results.Result",
        "exn": {"type": "KeyError", "msg": "'missing'"},
    }


def test_blocking_get_returns_once_the_result_is_stored(redis_server, redis_broker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return "here"

    message = value.send()
    got = []
    waiter = threading.Thread(target=lambda: got.append(message.get_result(block=True, timeout=30000)))
    waiter.start()
    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=2)
    worker.start()  # the result can only exist from now on
    try:
        waiter.join(timeout=30)
        assert got == ["here"]
    finally:
        worker.stop()


def test_missing_and_timeout(redis_broker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return 1

    message = value.send()  # no worker: never processed
    with pytest.raises(ResultMissing):
        message.get_result()
    with pytest.raises(ResultTimeout):
        message.get_result(block=True, timeout=200)


def test_results_expire_after_their_ttl(redis_broker, redis_worker, backend):
    @dramatiq.actor(store_results=True, result_ttl=300)
    def value():
        return 1

    message = value.send()
    assert message.get_result(block=True, timeout=10000) == 1
    time.sleep(0.6)
    with pytest.raises(ResultMissing):
        message.get_result()


def test_namespace_and_readable_keys(redis_server, redis_broker, redis_worker, redis_client):
    backend = RedisBackend(url=redis_server.url, namespace="mine", use_namespace_prefix_keys=True)
    redis_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True)
    def value():
        return [1, 2]

    message = value.send()
    assert message.get_result(block=True, timeout=10000) == [1, 2]
    assert redis_client.lrange("mine:default:value:%s" % message.message_id, 0, -1) == [b"[1,2]"]


def test_connection_parameters_and_client(redis_server, redis_broker, redis_worker, redis_client):
    backend = RedisBackend(host="127.0.0.1", port=redis_server.port, db=3)
    redis_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True)
    def value():
        return "db3"

    message = value.send()
    assert message.get_result(block=True, timeout=10000) == "db3"
    assert redis_server.client(db=3).exists(backend.build_message_key(message))
    assert RedisBackend(client=redis_server.client(db=3)).get_result(message) == "db3"


@pytest.mark.superset  # upstream raises redis-py's own ConnectionError
def test_unreachable_backend_is_a_clear_connection_error(stub_broker):
    backend = RedisBackend(url="redis://127.0.0.1:%d/0" % free_port(), socket_connect_timeout=2)

    @dramatiq.actor
    def value():
        pass

    with pytest.raises(BrokerConnectionError) as excinfo:
        backend.get_result(value.message())
    assert "127.0.0.1" in str(excinfo.value)


@pytest.mark.superset  # upstream hands unknown parameters to redis-py
def test_unknown_connection_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="RedisBackend got an unexpected connection parameter 'colour'"):
        RedisBackend(colour="blue")


# -- interop with upstream 2.2.1 -------------------------------------------------------------------


def _start_worker(python, url, tag, *, upstream, tmp_path):
    return ChildProcess(
        [python, os.path.join(HERE, "results_app.py"), "worker", url, tag],
        env=subprocess_env(upstream=upstream, extra_path=[HERE]),
        cwd=tmp_path,
        log_dir=tmp_path,
        name="worker-" + tag,
    )


def _wait_ready(client, tag, child):
    def ready():
        assert child.alive(), child.describe()
        return client.exists("ready:" + tag)

    wait_until(ready, timeout=60, message="worker %r to start" % tag)


def _read_results(python, url, messages, *, upstream, tmp_path):
    fields = [
        {"queue_name": m.queue_name, "actor_name": m.actor_name, "message_id": m.message_id} for m in messages
    ]
    proc = subprocess.run(
        [python, os.path.join(HERE, "results_app.py"), "get", url, json.dumps(fields)],
        capture_output=True, text=True, timeout=120,
        env=subprocess_env(upstream=upstream, extra_path=[HERE]), cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _send(url):
    _, _, add, fail = results_app.setup(url)
    return [add.send(1, 2), add.send(40, 2), fail.send("boom")]


EXPECTED = [
    {"value": {"sum": 3, "parts": [1, 2]}},
    {"value": {"sum": 42, "parts": [40, 2]}},
    {"failure": ["ValueError", "boom"]},
]


def _as_read_here(url, messages):
    backend = dramatiq.get_broker().get_results_backend()
    out = []
    for message in messages:
        try:
            out.append({"value": backend.get_result(message, block=True, timeout=30000)})
        except ResultFailure as e:
            out.append({"failure": [e.orig_exc_type, e.orig_exc_msg]})
    return out


def test_upstream_worker_stores_ours_reads(redis_server, redis_client, upstream_python, tmp_path):
    worker = _start_worker(upstream_python, redis_server.url, "upstream", upstream=True, tmp_path=tmp_path)
    try:
        _wait_ready(redis_client, "upstream", worker)
        messages = _send(redis_server.url)
        assert _as_read_here(redis_server.url, messages) == EXPECTED
    finally:
        worker.terminate()
        dramatiq.get_broker().close()


def test_our_worker_stores_upstream_reads(redis_server, redis_client, upstream_python, tmp_path):
    worker = _start_worker(
        sys.executable, redis_server.url, "ours", upstream=False, tmp_path=tmp_path
    )
    try:
        _wait_ready(redis_client, "ours", worker)
        messages = _send(redis_server.url)
        got = _read_results(upstream_python, redis_server.url, messages, upstream=True, tmp_path=tmp_path)
        assert got == EXPECTED
    finally:
        worker.terminate()
        dramatiq.get_broker().close()
