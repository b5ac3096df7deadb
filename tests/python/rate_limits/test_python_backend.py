"""A RateLimiterBackend written in Python, used by every limiter, the
barrier and GroupCallbacks (the engine calls its methods)."""

import threading
import time

import pytest

import dramatiq
from dramatiq.middleware import GroupCallbacks
from dramatiq.rate_limits import (
    Barrier,
    BucketRateLimiter,
    ConcurrentRateLimiter,
    RateLimiterBackend,
    WindowRateLimiter,
)
from dramatiq.rate_limits.backends import StubBackend


class DictBackend(RateLimiterBackend):
    """Counters in a dict, with a record of the calls the limiters made."""

    def __init__(self):
        self.lock = threading.Condition()
        self.values = {}
        self.events = set()
        self.calls = []

    def add(self, key, value, ttl):
        self.calls.append("add")
        with self.lock:
            if key in self.values:
                return False
            self.values[key] = value
            return True

    def incr(self, key, amount, maximum, ttl):
        self.calls.append("incr")
        with self.lock:
            value = self.values.get(key, 0) + amount
            if value > maximum:
                return False
            self.values[key] = value
            return True

    def decr(self, key, amount, minimum, ttl):
        self.calls.append("decr")
        with self.lock:
            value = self.values.get(key, 0) - amount
            if value < minimum:
                return False
            self.values[key] = value
            return True

    def incr_and_sum(self, key, keys, amount, maximum, ttl):
        self.calls.append("incr_and_sum")
        with self.lock:
            total = amount + sum(self.values.get(k, 0) for k in keys())
            if total > maximum:
                return False
            self.values[key] = self.values.get(key, 0) + amount
            return True

    def wait(self, key, timeout):
        self.calls.append("wait")
        with self.lock:
            return self.lock.wait_for(lambda: key in self.events, None if timeout is None else timeout / 1000)

    def wait_notify(self, key, ttl):
        self.calls.append("wait_notify")
        with self.lock:
            self.events.add(key)
            self.lock.notify_all()


def test_concurrent_limiter_on_a_python_backend():
    backend = DictBackend()
    limiter = ConcurrentRateLimiter(backend, "k", limit=2)
    with limiter.acquire(), limiter.acquire():
        assert backend.values["k"] == 2
        with limiter.acquire(raise_on_failure=False) as acquired:
            assert not acquired
    assert backend.values["k"] == 0
    assert backend.calls[:3] == ["add", "add", "incr"]
    assert "decr" in backend.calls


def test_bucket_and_window_limiters_on_a_python_backend():
    backend = DictBackend()
    bucket = BucketRateLimiter(backend, "b", limit=2, bucket=10**12)
    assert [bucket._acquire() for _ in range(3)] == [True, True, False]
    window = WindowRateLimiter(backend, "w", limit=2, window=60)
    assert [window._acquire() for _ in range(3)] == [True, True, False]
    assert backend.calls.count("incr_and_sum") == 3
    assert all(key.startswith("w@") for key in backend.values if key[0] == "w")


def test_barrier_on_a_python_backend_blocks_without_holding_the_engine():
    backend = DictBackend()
    barrier = Barrier(backend, "bar", ttl=1000)
    assert barrier.create(2)
    result = []
    waiter = threading.Thread(target=lambda: result.append(barrier.wait(timeout=30000)))
    waiter.start()
    while "wait" not in backend.calls:
        time.sleep(0.001)
    assert barrier.wait(block=False) is True
    waiter.join(30)
    assert result == [True]
    assert "bar@events" in backend.events


def test_exceptions_from_a_python_backend_reach_the_caller_unchanged():
    class Broken(DictBackend):
        def add(self, key, value, ttl):
            raise KeyError("storage is down")

    limiter = ConcurrentRateLimiter(Broken(), "k")
    with pytest.raises(KeyError, match="storage is down"):
        with limiter.acquire():
            pass  # pragma: no cover


def test_a_subclass_of_a_builtin_backend_is_called_through_python():
    class Audited(StubBackend):
        def __init__(self):
            super().__init__()
            self.increments = 0

        def incr(self, key, amount, maximum, ttl):
            self.increments += 1
            return super().incr(key, amount, maximum, ttl)

    backend = Audited()
    limiter = ConcurrentRateLimiter(backend, "k", limit=2)
    assert [limiter._acquire() for _ in range(3)] == [True, True, False]
    assert backend.increments == 2  # the first acquisition is an add


def test_the_base_backend_raises_not_implemented():
    backend = RateLimiterBackend()
    with pytest.raises(NotImplementedError):
        with ConcurrentRateLimiter(backend, "k").acquire():
            pass  # pragma: no cover
    assert backend.wait_notify("k", 1000) is None


def test_group_callbacks_on_a_python_backend(stub_broker, stub_worker):
    backend = DictBackend()
    stub_broker.add_middleware(GroupCallbacks(backend))
    finished = []

    @dramatiq.actor
    def work(i):
        pass

    @dramatiq.actor
    def all_done():
        finished.append(True)

    g = dramatiq.group(work.message(i) for i in range(3))
    g.add_completion_callback(all_done.message())
    g.run()
    stub_broker.join(work.queue_name)
    stub_worker.join()
    assert finished == [True]
    assert backend.calls.count("decr") == 3


@pytest.mark.superset
def test_objects_that_are_not_backends_are_refused():
    with pytest.raises(TypeError):
        ConcurrentRateLimiter(object(), "k")
