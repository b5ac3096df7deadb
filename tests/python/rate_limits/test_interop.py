"""Upstream Dramatiq 2.2.1 and dramatiq-cpp sharing limits: upstream's
RedisBackend (redis-py) and MemcachedBackend (pylibmc) run in child
processes under the upstream interpreter, against the same servers and
keys as ours."""

import threading

import pytest

from app_support import backend_spec, our_python, report, start
from dramatiq.rate_limits import Barrier, BucketRateLimiter, ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.rate_limits.backends import MemcachedBackend, RedisBackend
from redis_support import wait_until

MEMCACHED = ["memcached-text", "memcached-binary"]


def run_child(python, spec, tmp_path, *, upstream):
    child = start(python, spec, tmp_path, upstream=upstream, name="upstream" if upstream else "ours")
    try:
        return report(child)
    finally:
        child.kill()


def test_mixed_fleet_shares_one_concurrent_limit_on_redis(
    upstream_python, redis_server, redis_client, key, tmp_path
):
    spec = {
        "backend": {"redis": redis_server.url},
        "redis": redis_server.url,
        "mode": "hammer",
        "limiter": "concurrent",
        "key": key,
        "options": {"limit": 2},
        "threads": 8,
        "admissions": 10,
        "hold_ms": 2,
        "wait_for_go": True,
    }
    children = [
        start(our_python(), dict(spec, tag="ours"), tmp_path, name="ours"),
        start(upstream_python, dict(spec, tag="upstream"), tmp_path, upstream=True, name="upstream"),
    ]
    try:
        wait_until(lambda: redis_client.llen("ready:" + key) == 2 or any(not c.alive() for c in children),
                   timeout=60, message="both fleets ready")
        redis_client.set("go:" + key, 1)
        reports = [report(child) for child in children]
    finally:
        for child in children:
            child.kill()
    assert max(r["max"] for r in reports) <= 2, reports
    assert [r["admitted"] for r in reports] == [80, 80], reports
    # The shared counter is back at zero: both sides released every slot.
    assert redis_client.get(key) == b"0"


def test_redis_counters_are_stored_as_upstream_stores_them(redis_server, redis_client, key):
    limiter = ConcurrentRateLimiter(RedisBackend(url=redis_server.url), key, limit=3, ttl=60000)
    with limiter.acquire(), limiter.acquire():
        assert redis_client.get(key) == b"2"
        assert 0 < redis_client.pttl(key) <= 60000
    assert redis_client.get(key) == b"0"


@pytest.mark.parametrize("limiter", ["bucket", "window"])
def test_upstream_counts_our_acquisitions_on_redis(upstream_python, limiter, redis_server, key, tmp_path):
    options = {"limit": 3, "bucket": 10**12} if limiter == "bucket" else {"limit": 3, "window": 600}
    cls = BucketRateLimiter if limiter == "bucket" else WindowRateLimiter
    ours = cls(RedisBackend(url=redis_server.url), key, **options)
    for _ in range(2):
        with ours.acquire():
            pass
    spec = {"backend": {"redis": redis_server.url}, "redis": redis_server.url, "mode": "count",
            "limiter": limiter, "key": key, "options": options, "attempts": 5, "tag": "upstream"}
    assert run_child(upstream_python, spec, tmp_path, upstream=True) == {"admitted": 1}
    with ours.acquire(raise_on_failure=False) as acquired:
        assert not acquired


@pytest.mark.parametrize("upstream_blocks", [True, False])
def test_barrier_shared_with_upstream_on_redis(upstream_python, upstream_blocks, redis_server, redis_client,
                                               key, tmp_path):
    barrier = Barrier(RedisBackend(url=redis_server.url), key, ttl=60000)
    assert barrier.create(2)
    spec = {"backend": {"redis": redis_server.url}, "redis": redis_server.url, "mode": "barrier",
            "key": key, "tag": "upstream", "block": upstream_blocks, "timeout": 60000}
    child = start(upstream_python, spec, tmp_path, upstream=True, name="upstream")
    try:
        if upstream_blocks:
            # Upstream arrives first and blocks; we clear the barrier and our
            # notification wakes it.
            wait_until(lambda: redis_client.llen("ready:" + key) == 1, timeout=60, message="upstream ready")
            wait_until(lambda: redis_client.get(key) == b"1", timeout=60, message="upstream at the barrier")
            assert barrier.wait(block=False) is True
            assert report(child) == {"cleared": True}
        else:
            # Upstream arrives first without blocking; we are the last
            # party, so our blocking wait returns at once, cleared.
            assert report(child) == {"cleared": False}
            assert barrier.wait(block=True, timeout=60000) is True
    finally:
        child.kill()


def test_our_blocked_party_is_woken_when_upstream_clears_the_barrier(
    upstream_python, redis_server, redis_client, key, tmp_path
):
    barrier = Barrier(RedisBackend(url=redis_server.url), key, ttl=60000)
    assert barrier.create(2)
    result = []
    waiter = threading.Thread(target=lambda: result.append(barrier.wait(block=True, timeout=60000)))
    waiter.start()
    wait_until(lambda: redis_client.get(key) == b"1", timeout=60, message="our party at the barrier")
    spec = {"backend": {"redis": redis_server.url}, "redis": redis_server.url, "mode": "barrier",
            "key": key, "tag": "upstream", "block": False}
    assert run_child(upstream_python, spec, tmp_path, upstream=True) == {"cleared": True}
    waiter.join(60)
    assert result == [True]


@pytest.fixture(params=MEMCACHED)
def memcached_kind(request):
    return request.param


def test_upstream_pylibmc_backend_shares_our_concurrent_counter(
    upstream_python_with_pylibmc, memcached_kind, memcached_server, redis_server, key, tmp_path
):
    binary = memcached_kind == "memcached-binary"
    backend = MemcachedBackend(servers=[memcached_server.address], binary=binary)
    ours = ConcurrentRateLimiter(backend, key, limit=3)
    assert ours._acquire() and ours._acquire()
    assert memcached_server.get(key) == (b"2", 4)  # an int, as pylibmc stores it
    spec = {"backend": backend_spec(memcached_kind, memcached_server=memcached_server),
            "redis": redis_server.url,
            "mode": "take", "limiter": "concurrent", "key": key, "options": {"limit": 3}, "attempts": 2,
            "tag": "upstream"}
    taken = run_child(upstream_python_with_pylibmc, spec, tmp_path, upstream=True)
    assert taken == {"taken": [True, False]}
    with ours.acquire(raise_on_failure=False) as acquired:
        assert not acquired


def test_upstream_pylibmc_backend_sums_our_window_counters(
    upstream_python_with_pylibmc, memcached_kind, memcached_server, redis_server, key, tmp_path
):
    binary = memcached_kind == "memcached-binary"
    options = {"limit": 3, "window": 600}
    backend = MemcachedBackend(servers=[memcached_server.address], binary=binary)
    ours = WindowRateLimiter(backend, key, **options)
    for _ in range(2):
        with ours.acquire():
            pass
    spec = {"backend": backend_spec(memcached_kind, memcached_server=memcached_server),
            "redis": redis_server.url, "mode": "count", "limiter": "window", "key": key,
            "options": options, "attempts": 4, "tag": "upstream"}
    assert run_child(upstream_python_with_pylibmc, spec, tmp_path, upstream=True) == {"admitted": 1}
    with ours.acquire(raise_on_failure=False) as acquired:
        assert not acquired


def test_barrier_shared_with_upstream_on_memcached(
    upstream_python_with_pylibmc, memcached_kind, memcached_server, redis_server, key, tmp_path
):
    binary = memcached_kind == "memcached-binary"
    barrier = Barrier(MemcachedBackend(servers=[memcached_server.address], binary=binary), key, ttl=60000)
    assert barrier.create(3)
    assert barrier.wait(block=False) is False
    spec = {"backend": backend_spec(memcached_kind, memcached_server=memcached_server),
            "redis": redis_server.url,
            "mode": "barrier", "key": key, "tag": "upstream", "block": False}
    assert run_child(upstream_python_with_pylibmc, spec, tmp_path, upstream=True) == {"cleared": False}
    assert barrier.wait(block=False) is True
