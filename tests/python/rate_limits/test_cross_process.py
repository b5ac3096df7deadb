"""Limits and barriers shared by several processes on Redis and memcached."""

import pytest

from app_support import backend_spec, our_python, report, start
from dramatiq.rate_limits import Barrier, BucketRateLimiter, ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.rate_limits.backends import MemcachedBackend, RedisBackend
from redis_support import wait_until

SHARED = ["redis", "memcached-text", "memcached-binary"]


def backend_for(kind, redis_server, memcached_server):
    if kind == "redis":
        return RedisBackend(url=redis_server.url)
    return MemcachedBackend(servers=[memcached_server.address], binary=kind == "memcached-binary")


@pytest.fixture(params=SHARED)
def shared_kind(request):
    return request.param


def start_together(children_specs, redis_client, key, tmp_path):
    """Start every child, wait until all are ready, then let them go at once."""
    children = [start(python, spec, tmp_path, upstream=upstream) for python, spec, upstream in children_specs]
    try:
        wait_until(lambda: redis_client.llen("ready:" + key) == len(children) or any(
            not child.alive() for child in children), timeout=60, message="children ready")
        redis_client.set("go:" + key, 1)
        return [report(child) for child in children]
    finally:
        for child in children:
            child.kill()


@pytest.mark.superset_on_memcached
def test_concurrent_limit_of_two_holds_across_two_processes_of_eight_threads(
    shared_kind, redis_server, memcached_server, redis_client, key, tmp_path
):
    spec = {
        "backend": backend_spec(shared_kind, redis_server, memcached_server),
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
    reports = start_together(
        [(our_python(), dict(spec, tag="a"), False), (our_python(), dict(spec, tag="b"), False)],
        redis_client, key, tmp_path,
    )
    assert max(r["max"] for r in reports) <= 2, reports
    assert [r["admitted"] for r in reports] == [80, 80], reports
    assert int(redis_client.get("holders:" + key)) == 0
    # Every slot came back: this process gets both.
    limiter = ConcurrentRateLimiter(backend_for(shared_kind, redis_server, memcached_server), key, limit=2)
    with limiter.acquire() as first, limiter.acquire() as second:
        assert first and second


@pytest.mark.parametrize("limiter", ["bucket", "window"])
@pytest.mark.superset_on_memcached
def test_bucket_and_window_limits_are_shared_across_processes(
    shared_kind, limiter, redis_server, memcached_server, redis_client, key, tmp_path
):
    options = {"limit": 5, "bucket": 10**12} if limiter == "bucket" else {"limit": 5, "window": 600}
    spec = {
        "backend": backend_spec(shared_kind, redis_server, memcached_server),
        "redis": redis_server.url,
        "mode": "count",
        "limiter": limiter,
        "key": key,
        "options": options,
        "attempts": 20,
        "wait_for_go": True,
    }
    reports = start_together(
        [(our_python(), dict(spec, tag="a"), False), (our_python(), dict(spec, tag="b"), False)],
        redis_client, key, tmp_path,
    )
    assert sum(r["admitted"] for r in reports) == 5, reports
    # This process shares the spent limit too.
    backend = backend_for(shared_kind, redis_server, memcached_server)
    cls = BucketRateLimiter if limiter == "bucket" else WindowRateLimiter
    with cls(backend, key, **options).acquire(raise_on_failure=False) as acquired:
        assert not acquired


@pytest.mark.superset_on_memcached
def test_barrier_across_processes(shared_kind, redis_server, memcached_server, redis_client, key, tmp_path):
    backend = backend_for(shared_kind, redis_server, memcached_server)
    barrier = Barrier(backend, key, ttl=60000)
    assert barrier.create(3)
    spec = {
        "backend": backend_spec(shared_kind, redis_server, memcached_server),
        "redis": redis_server.url,
        "mode": "barrier",
        "key": key,
        "timeout": 60000,
    }
    children = [start(our_python(), dict(spec, tag=tag), tmp_path) for tag in ("a", "b")]
    try:
        wait_until(lambda: redis_client.llen("ready:" + key) == 2, timeout=60,
                   message="children at the barrier")
        # Both children are at the barrier (they finish only when it clears,
        # or after a minute).
        assert barrier.wait(block=False) in (True, False)
        reports = [report(child) for child in children]
    finally:
        for child in children:
            child.kill()
    assert reports == [{"cleared": True}, {"cleared": True}]


def _count_in_child(backend, key, conn):
    try:
        limiter = BucketRateLimiter(backend, key, limit=10**9, bucket=10**12)
        for _ in range(300):
            assert limiter._acquire()
        conn.send("ok")
    except BaseException as e:  # pragma: no cover - reported to the parent
        conn.send(repr(e))


@pytest.mark.superset
def test_a_backend_created_before_fork_works_in_parent_and_child(
    shared_kind, redis_server, memcached_server, key
):
    """A backend made at import time is used by forked processes: each
    process must talk on its own connections."""
    import multiprocessing

    backend = backend_for(shared_kind, redis_server, memcached_server)
    limiter = BucketRateLimiter(backend, key, limit=10**9, bucket=10**12)
    assert limiter._acquire()  # the backend now holds an idle connection
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_count_in_child, args=(backend, key, child_end))
    child.start()
    try:
        for _ in range(300):
            assert limiter._acquire()
        assert parent_end.poll(60)
        assert parent_end.recv() == "ok"
    finally:
        child.join(60)
    assert child.exitcode == 0
    # 1 + 300 + 300 acquisitions were counted in the shared bucket.
    probe = BucketRateLimiter(backend, key, limit=601, bucket=10**12)
    assert not probe._acquire()
    probe = BucketRateLimiter(backend, key, limit=602, bucket=10**12)
    assert probe._acquire()
