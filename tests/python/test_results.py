"""The Results middleware and result backends' common behaviour, on the
in-memory StubBackend (the Redis and Memcached backends have their own
tests against real servers)."""

import hashlib
import logging
import threading
import time

import pytest

import dramatiq
from dramatiq.results import Missing, ResultBackend, ResultFailure, ResultMissing, Results, ResultTimeout
from dramatiq.results.backends import StubBackend


def run(broker, worker, queue_name="default"):
    broker.join(queue_name, fail_fast=False)
    worker.join()


@pytest.fixture
def backend(stub_broker):
    backend = StubBackend()
    stub_broker.add_middleware(Results(backend=backend))
    return backend


def test_message_key_is_the_md5_of_namespace_queue_actor_and_id(stub_broker, backend):
    @dramatiq.actor(queue_name="work")
    def job():
        pass

    message = job.message()
    expected = "dramatiq-results:work:job:%s" % message.message_id
    assert backend.build_message_key(message) == hashlib.md5(expected.encode()).hexdigest()
    # A delayed copy has the same key: the .DQ suffix is not part of it.
    assert backend.build_message_key(message.copy(queue_name="work.DQ")) == backend.build_message_key(message)


def test_namespace_prefix_keys_are_readable(stub_broker):
    backend = StubBackend(namespace="ns", use_namespace_prefix_keys=True)

    @dramatiq.actor
    def job():
        pass

    message = job.message()
    assert backend.build_message_key(message) == "ns:default:job:%s" % message.message_id


def test_store_results_per_message_overrides_the_actor(stub_broker, stub_worker, backend):
    @dramatiq.actor(store_results=True)
    def value(x):
        return x

    kept = value.send(1)
    dropped = value.send_with_options(args=(2,), store_results=False)
    run(stub_broker, stub_worker)
    assert kept.get_result() == 1
    with pytest.raises(ResultMissing):
        dropped.get_result()


def test_store_results_per_message_without_actor_option(stub_broker, stub_worker, backend):
    @dramatiq.actor
    def value(x):
        return x

    message = value.send_with_options(args=([1, "two", {"three": 3.0}],), store_results=True)
    run(stub_broker, stub_worker)
    assert message.get_result() == [1, "two", {"three": 3.0}]


@pytest.mark.superset  # upstream's StubBackend rounds the TTL down to whole seconds
def test_result_ttl_expires_results(stub_broker, stub_worker, backend):
    @dramatiq.actor(store_results=True, result_ttl=200)
    def value():
        return "soon gone"

    message = value.send()
    run(stub_broker, stub_worker)
    assert message.get_result() == "soon gone"
    time.sleep(0.4)
    with pytest.raises(ResultMissing):
        message.get_result()


def test_blocking_get_result_returns_once_the_result_is_stored(stub_broker, make_worker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return 42

    message = value.send()
    got = []
    waiter = threading.Thread(target=lambda: got.append(message.get_result(block=True, timeout=30000)))
    waiter.start()
    make_worker()  # the result can only exist from now on
    waiter.join(timeout=30)
    assert got == [42]


def test_blocking_get_result_releases_the_gil(stub_broker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return 1

    message = value.send()
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(ResultTimeout):
            message.get_result(block=True, timeout=300)
    finally:
        stop.set()
        ticker.join()
    # The other thread ran while this one waited.
    assert len(ticks) > 10


def test_failure_is_stored_only_once_retries_are_exhausted(stub_broker, stub_worker, backend):
    attempts = []

    @dramatiq.actor(store_results=True, max_retries=2, min_backoff=1, max_backoff=10)
    def flaky():
        attempts.append(1)
        raise RuntimeError("attempt %d" % len(attempts))

    message = flaky.send()
    run(stub_broker, stub_worker)
    assert len(attempts) == 3
    with pytest.raises(ResultFailure) as excinfo:
        message.get_result()
    assert excinfo.value.orig_exc_type == "RuntimeError"
    assert excinfo.value.orig_exc_msg == "attempt 3"
    assert str(excinfo.value) == "actor raised RuntimeError: attempt 3"


def test_skipped_message_stores_none(stub_broker, stub_worker, backend):
    class SkipAll(dramatiq.Middleware):
        def before_process_message(self, broker, message):
            raise dramatiq.middleware.SkipMessage()

    stub_broker.add_middleware(SkipAll())

    @dramatiq.actor(store_results=True)
    def skipped():
        return "never runs"

    message = skipped.send()
    run(stub_broker, stub_worker)
    assert message.get_result() is None


def test_age_limited_message_stores_a_failure(stub_broker, stub_worker, backend):
    # AgeLimit fails the message as it skips it.
    @dramatiq.actor(store_results=True, max_age=1)
    def old():
        return "never runs"

    message = old.message()
    message = message.copy(message_timestamp=message.message_timestamp - 60000)
    stub_broker.enqueue(message)
    run(stub_broker, stub_worker)
    with pytest.raises(ResultFailure):
        message.get_result()


@pytest.mark.superset  # upstream logs the error and acks; get_result then times out
def test_unserializable_result_fails_the_message_with_a_clear_error(stub_broker, stub_worker, backend, caplog):
    class Opaque:
        pass

    @dramatiq.actor(store_results=True, max_retries=0)
    def opaque():
        return Opaque()

    message = opaque.send()
    run(stub_broker, stub_worker)
    with pytest.raises(ResultFailure) as excinfo:
        message.get_result()
    assert excinfo.value.orig_exc_type == "TypeError"
    assert "Opaque" in excinfo.value.orig_exc_msg
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name.startswith("dramatiq.results")]
    assert errors and "Failed to store the result" in errors[0].getMessage()
    # The message was dead-lettered, and the worker keeps going.
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]

    @dramatiq.actor(store_results=True)
    def fine():
        return "ok"

    assert fine.send().get_result(block=True, timeout=10000) == "ok"


def test_discarded_result_is_warned_about(stub_broker, stub_worker, backend, caplog):
    @dramatiq.actor
    def returns():
        return 1

    returns.send()
    run(stub_broker, stub_worker)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("haven't set its `store_results' option" in w for w in warnings)


def test_get_result_without_block_raises_missing(stub_broker, backend):
    @dramatiq.actor(store_results=True)
    def value():
        return 1

    with pytest.raises(ResultMissing):
        value.send().get_result()


def test_results_middleware_options(stub_broker):
    results = Results(backend=StubBackend(), store_results=True, result_ttl=5)
    assert results.actor_options == {"store_results", "result_ttl"}
    assert results.store_results is True
    assert results.result_ttl == 5
    assert Results(backend=StubBackend()).result_ttl == 600000


def test_store_and_get_through_the_backend_api(stub_broker):
    backend = StubBackend()

    @dramatiq.actor
    def job():
        pass

    message = job.message()
    backend.store_result(message, {"x": 1}, 10000)
    assert backend.get_result(message) == {"x": 1}
    backend.store_exception(message, KeyError("k"), 10000)
    with pytest.raises(ResultFailure) as excinfo:
        backend.get_result(message)
    assert excinfo.value.orig_exc_type == "KeyError"
    key = backend.build_message_key(message)
    assert backend._get(key) == {"__t": "dramatiq.results.Result", "exn": {"type": "KeyError", "msg": "'k'"}}
    assert backend._get("nothing here") is Missing


def test_results_with_the_pickle_encoder(stub_broker, stub_worker):
    import datetime

    dramatiq.set_encoder(dramatiq.PickleEncoder())
    backend = StubBackend()  # takes the global encoder, as upstream
    stub_broker.add_middleware(Results(backend=backend))
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)

    @dramatiq.actor(store_results=True)
    def dated():
        return when

    message = dated.send()
    assert message.get_result(block=True, timeout=10000) == when


class DictBackend(ResultBackend):
    """A user-written backend: only _get and _store, as upstream documents."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data = {}
        self.stores = 0

    def _get(self, message_key):
        return self.data.get(message_key, Missing)

    def _store(self, message_key, result, ttl):
        self.stores += 1
        self.data[message_key] = result


def test_python_subclassed_backend(stub_broker, stub_worker):
    backend = DictBackend()
    stub_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True, max_retries=0)
    def maybe(fail):
        if fail:
            raise ValueError("no")
        return "yes"

    good = maybe.send(False)
    bad = maybe.send(True)
    assert good.get_result(block=True, timeout=10000) == "yes"
    run(stub_broker, stub_worker)
    with pytest.raises(ResultFailure):
        bad.get_result()
    assert backend.stores == 2
    assert backend.build_message_key(good) in backend.data


def test_python_backend_with_its_own_keys(stub_broker, stub_worker):
    class Keyed(DictBackend):
        def build_message_key(self, message):
            return "custom:" + super().build_message_key(message)

    backend = Keyed()
    stub_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True)
    def value():
        return 7

    message = value.send()
    assert message.get_result(block=True, timeout=10000) == 7
    assert list(backend.data) == ["custom:" + ResultBackend.build_message_key(backend, message)]


def test_python_backend_without_storage_fails_clearly(stub_broker):
    backend = ResultBackend()

    @dramatiq.actor
    def job():
        pass

    with pytest.raises(NotImplementedError):
        backend.get_result(job.message())
