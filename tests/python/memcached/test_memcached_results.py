"""MemcachedBackend (results) against a real memcached: storage as
upstream's pylibmc backend stores, TTLs, blocking waits, a result too large
for memcached, errors, and results shared with upstream 2.2.1."""

import json
import os
import subprocess
import threading
import time

import pytest

import dramatiq
from dramatiq.errors import ConnectionFailed
from dramatiq.results import ResultFailure, ResultMissing, Results, ResultTimeout
from dramatiq.results.backends import MemcachedBackend

from redis_support import free_port, subprocess_env


@pytest.fixture(params=["text", "binary"])
def backend(request, stub_broker, memcached_server):
    backend = MemcachedBackend(servers=[memcached_server.address], binary=request.param == "binary")
    stub_broker.add_middleware(Results(backend=backend))
    return backend


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


def test_missing_timeout_and_expiry(stub_broker, stub_worker, backend):
    @dramatiq.actor(store_results=True, result_ttl=1000)
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
    time.sleep(2.2)  # memcached expires in whole seconds
    with pytest.raises(ResultMissing):
        message.get_result()


@pytest.mark.superset  # upstream's worker logs the error and acks: callers time out
def test_result_too_large_fails_the_message_with_a_clear_error(stub_broker, stub_worker, backend, caplog):
    @dramatiq.actor(store_results=True, max_retries=0)
    def huge():
        return "x" * (2 * 1024 * 1024)  # memcached's default item limit is 1 MiB

    message = huge.send()
    with pytest.raises(ResultFailure) as excinfo:
        message.get_result(block=True, timeout=10000)
    assert "too large" in excinfo.value.orig_exc_msg.lower() or "big" in excinfo.value.orig_exc_msg.lower()
    assert any("Failed to store the result" in r.getMessage() for r in caplog.records)
    stub_broker.join("default", fail_fast=False)
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]


@pytest.mark.superset  # upstream raises pylibmc's own error
def test_unreachable_memcached_is_a_clear_connection_error(stub_broker):
    backend = MemcachedBackend(servers=["127.0.0.1:%d" % free_port()])

    @dramatiq.actor
    def value():
        pass

    with pytest.raises(ConnectionFailed):
        backend.get_result(value.message())


def test_unknown_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        MemcachedBackend(colour="blue")


# -- interop with upstream's pylibmc-based backend -----------------------------------------------

UPSTREAM_SCRIPT = r"""
import json, sys
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import ResultFailure
from dramatiq.results.backends import MemcachedBackend
dramatiq.set_broker(StubBroker())
mode, server, fields = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
backend = MemcachedBackend(servers=[server])
message = dramatiq.Message(args=(), kwargs={}, options={}, message_timestamp=0, **fields)
if mode == "store":
    backend.store_result(message, {"from": "upstream"}, 60000)
    print(json.dumps(None))
else:
    try:
        print(json.dumps({"value": backend.get_result(message, block=True, timeout=10000)}))
    except ResultFailure as e:
        print(json.dumps({"failure": [e.orig_exc_type, e.orig_exc_msg]}))
"""


def run_upstream(python, mode, server, message, tmp_path):
    fields = {"queue_name": message.queue_name, "actor_name": message.actor_name, "message_id": message.message_id}
    proc = subprocess.run([python, "-c", UPSTREAM_SCRIPT, mode, server, json.dumps(fields)], capture_output=True,
                          text=True, timeout=120, env=subprocess_env(upstream=True), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_results_are_shared_with_upstream(stub_broker, memcached_server, upstream_python_with_pylibmc, tmp_path):
    backend = MemcachedBackend(servers=[memcached_server.address])

    @dramatiq.actor
    def job():
        pass

    ours = job.message()
    backend.store_result(ours, {"from": "ours", "n": [1, 2.5]}, 60000)
    assert run_upstream(upstream_python_with_pylibmc, "get", memcached_server.address, ours, tmp_path) == {
        "value": {"from": "ours", "n": [1, 2.5]}
    }
    failed = job.message()
    backend.store_exception(failed, KeyError("k"), 60000)
    assert run_upstream(upstream_python_with_pylibmc, "get", memcached_server.address, failed, tmp_path) == {
        "failure": ["KeyError", "'k'"]
    }
    theirs = job.message()
    run_upstream(upstream_python_with_pylibmc, "store", memcached_server.address, theirs, tmp_path)
    assert backend.get_result(theirs) == {"from": "upstream"}


def test_backend_pool_reaches_the_same_server_as_upstreams_does(stub_broker, stub_worker, backend):
    # Upstream's tests and users flush memcached through backend.pool.
    @dramatiq.actor(store_results=True)
    def answer():
        return 42

    message = answer.send()
    assert message.get_result(block=True, timeout=10000) == 42
    with backend.pool.reserve() as client:
        client.flush_all()
    with pytest.raises(ResultMissing):
        message.get_result()
    assert backend.pool is backend.pool  # built once
