"""Each limiter and the barrier on each backend, in one process."""

import threading

import pytest

import dramatiq
from dramatiq.rate_limits import (
    Barrier,
    BucketRateLimiter,
    ConcurrentRateLimiter,
    RateLimiter,
    RateLimiterBackend,
    RateLimitExceeded,
    WindowRateLimiter,
)

from dramatiq.rate_limits.backends import RedisBackend
from redis_support import wait_until

#: A bucket so long that no test run crosses one of its boundaries.
HUGE_BUCKET = 10**12


def test_rate_limit_exceeded_is_dramatiqs():
    assert RateLimitExceeded is dramatiq.RateLimitExceeded
    assert issubclass(RateLimitExceeded, dramatiq.DramatiqError)


@pytest.mark.superset_on_memcached
def test_concurrent_limiter_admits_up_to_its_limit(backend, key):
    limiter = ConcurrentRateLimiter(backend, key, limit=2)
    with limiter.acquire() as first, limiter.acquire() as second:
        assert first is True and second is True
        with limiter.acquire(raise_on_failure=False) as third:
            assert third is False
        with pytest.raises(RateLimitExceeded, match=key):
            with limiter.acquire():
                pass  # pragma: no cover
    # Both slots came back when their blocks ended.
    with limiter.acquire() as again, limiter.acquire() as again_too:
        assert again and again_too


@pytest.mark.superset_on_memcached
def test_a_refused_attempt_runs_the_block_without_a_slot(backend, key):
    limiter = ConcurrentRateLimiter(backend, key, limit=1)
    ran = []
    with limiter.acquire():
        with limiter.acquire(raise_on_failure=False) as acquired:
            ran.append(acquired)
    assert ran == [False]
    # The refused attempt did not take (or give back) a slot.
    with limiter.acquire() as acquired:
        assert acquired


def test_a_slot_is_released_when_the_block_raises(backend, key):
    mutex = ConcurrentRateLimiter(backend, key, limit=1)
    with pytest.raises(ValueError):
        with mutex.acquire():
            raise ValueError("boom")
    with mutex.acquire() as acquired:
        assert acquired


def test_concurrent_limiter_under_thread_contention(backend, key):
    limiter = ConcurrentRateLimiter(backend, key, limit=2)
    lock = threading.Lock()
    state = {"holders": 0, "max": 0, "admitted": 0}

    def worker():
        for _ in range(30):
            with limiter.acquire(raise_on_failure=False) as acquired:
                if not acquired:
                    continue
                with lock:
                    state["holders"] += 1
                    state["max"] = max(state["max"], state["holders"])
                    state["admitted"] += 1
                with lock:
                    state["holders"] -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state["max"] <= 2
    assert state["admitted"] > 0


@pytest.mark.superset_on_memcached
def test_bucket_limiter_admits_limit_per_bucket(backend, key):
    limiter = BucketRateLimiter(backend, key, limit=3, bucket=HUGE_BUCKET)
    outcomes = []
    for _ in range(10):
        with limiter.acquire(raise_on_failure=False) as acquired:
            outcomes.append(acquired)
    assert outcomes == [True] * 3 + [False] * 7


def test_bucket_limiter_admits_again_in_a_later_bucket(backend, key):
    limiter = BucketRateLimiter(backend, key, limit=1, bucket=1000)
    with limiter.acquire(raise_on_failure=False):
        pass

    def admitted_again():
        with limiter.acquire(raise_on_failure=False) as acquired:
            return acquired

    # The first bucket is spent (or over); some later bucket admits again.
    wait_until(admitted_again, timeout=10, message="a new bucket")


def test_window_limiter_admits_limit_per_window(backend, key):
    limiter = WindowRateLimiter(backend, key, limit=3, window=600)
    outcomes = []
    for _ in range(10):
        with limiter.acquire(raise_on_failure=False) as acquired:
            outcomes.append(acquired)
    assert outcomes == [True] * 3 + [False] * 7


def test_window_limiter_keys(backend, key):
    limiter = WindowRateLimiter(backend, key, limit=1, window=3)
    keys = limiter._get_keys()
    assert len(keys) == 3
    seconds = [int(k.rsplit("@", 1)[1]) for k in keys]
    assert seconds == [seconds[0], seconds[0] - 1, seconds[0] - 2]
    assert all(k.startswith(key + "@") for k in keys)
    assert limiter.window_millis == 3000


def test_barrier_clears_with_the_last_party(backend, key):
    barrier = Barrier(backend, key, ttl=60000)
    assert barrier.key_events == key + "@events"
    assert barrier.create(3) is True
    assert barrier.create(3) is False
    assert barrier.wait(block=False) is False
    assert barrier.wait(block=False) is False
    assert barrier.wait(block=False) is True


@pytest.mark.superset_on_memcached
def test_blocked_parties_wake_when_the_barrier_clears(backend, key):
    barrier = Barrier(backend, key, ttl=60000)
    barrier.create(3)
    results = []

    def party():
        results.append(barrier.wait(timeout=30000))

    # Whichever arrives last clears the barrier; the others were blocked
    # until then (or see the event at once if they arrive after it).
    threads = [threading.Thread(target=party) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [True, True, True]


@pytest.mark.superset_on_memcached
def test_blocking_wait_times_out_without_the_other_parties(backend, key):
    barrier = Barrier(backend, key, ttl=60000)
    barrier.create(2)
    assert barrier.wait(timeout=1000) is False


def test_limiter_attributes_read_and_write(backend, key):
    limiter = ConcurrentRateLimiter(backend, key, limit=2, ttl=5000)
    assert (limiter.backend, limiter.key, limiter.limit, limiter.ttl) == (backend, key, 2, 5000)
    limiter.limit = 1
    with limiter.acquire():
        with limiter.acquire(raise_on_failure=False) as acquired:
            assert not acquired
    bucket = BucketRateLimiter(backend, key, limit=4, bucket=2000)
    assert (bucket.limit, bucket.bucket) == (4, 2000)
    window = WindowRateLimiter(backend, key, limit=5, window=7)
    assert (window.limit, window.window) == (5, 7)
    barrier = Barrier(backend, key, ttl=1234)
    assert (barrier.backend, barrier.key, barrier.ttl) == (backend, key, 1234)


def test_backends_are_rate_limiter_backends(backend):
    assert isinstance(backend, RateLimiterBackend)


# Superset: upstream's Redis backend refuses waits under a second, and its
# stub backend forgets an event posted before the wait started.
@pytest.mark.superset
def test_backend_methods_directly(backend, key):
    assert backend.add(key, 5, 60000) is True
    assert backend.add(key, 5, 60000) is False
    assert backend.incr(key, 2, 7, 60000) is True
    assert backend.incr(key, 1, 7, 60000) is False
    assert backend.decr(key, 7, 0, 60000) is True
    assert backend.incr_and_sum(key + "@a", lambda: [key + "@a", key], 1, 1, 60000) is True
    assert backend.incr_and_sum(key + "@a", lambda: [key + "@a", key], 1, 1, 60000) is False
    assert backend.wait(key + "@events", 0) is False
    backend.wait_notify(key + "@events", 60000)
    assert backend.wait(key + "@events", 1000) is True


class CountingLimiter(RateLimiter):
    """A user-written limiter on the base class (upstream's extension point)."""

    def __init__(self, backend, key):
        super().__init__(backend, key)
        self.calls = []

    def _acquire(self):
        self.calls.append("acquire")
        return len(self.calls) < 3

    def _release(self):
        self.calls.append("release")


def test_rate_limiter_subclass_uses_the_base_context_manager():
    limiter = CountingLimiter(None, "k")
    with limiter.acquire() as acquired:
        assert acquired
    assert limiter.calls == ["acquire", "release"]
    with pytest.raises(RateLimitExceeded):
        with limiter.acquire():
            pass  # pragma: no cover
    assert limiter.calls == ["acquire", "release", "acquire"]


# Superset: upstream keeps the float (limit reads 2.5) and passes it to the store.
@pytest.mark.superset
def test_float_limits_and_durations_are_accepted(backend, key):
    limiter = ConcurrentRateLimiter(backend, key, limit=2.5, ttl=60000.0)
    assert limiter.limit == 2
    with limiter.acquire(), limiter.acquire():
        with limiter.acquire(raise_on_failure=False) as acquired:
            assert not acquired
    barrier = Barrier(backend, key + "-barrier", ttl=60000.0)
    assert barrier.create(1.0)
    assert barrier.wait(timeout=1000.0)


def test_redis_backend_connection_parameters(redis_server, key):
    """client=, url= and redis-py keywords all reach the same server."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=3)
    backends = [
        RedisBackend(client=client),
        RedisBackend(url="redis://127.0.0.1:%d/3" % redis_server.port),
        RedisBackend(host="127.0.0.1", port=redis_server.port, db=3, socket_timeout=5),
    ]
    for backend in backends:
        assert backend.add(key, 1, 60000) is (backend is backends[0])
    assert client.get(key) == b"1"
    assert backends[0].client is client
    client.close()
