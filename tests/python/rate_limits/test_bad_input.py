"""Bad configuration and unreachable servers give clear errors."""

import pytest

import dramatiq
from dramatiq.rate_limits import Barrier, BucketRateLimiter, ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.rate_limits.backends import MemcachedBackend, RedisBackend, StubBackend
from redis_support import free_port


@pytest.mark.parametrize(
    "make",
    [
        lambda b: ConcurrentRateLimiter(b, "k", limit=0),
        lambda b: ConcurrentRateLimiter(b, "k", limit=-1),
        lambda b: BucketRateLimiter(b, "k", limit=0),
        lambda b: WindowRateLimiter(b, "k", limit=0),
        lambda b: WindowRateLimiter(b, "k", window=0),
        lambda b: Barrier(b, "k").create(0),
    ],
)
def test_invalid_limits_fail_as_upstream_does(make):
    # Upstream checks these with assert.
    with pytest.raises(AssertionError):
        make(StubBackend())


# Superset: upstream raises redis-py's and pylibmc's own exceptions.
@pytest.mark.superset
def test_unreachable_redis_is_a_connection_failure():
    backend = RedisBackend(url="redis://127.0.0.1:%d/0" % free_port())
    with pytest.raises(dramatiq.ConnectionFailed, match="127.0.0.1"):
        with ConcurrentRateLimiter(backend, "k").acquire():
            pass  # pragma: no cover
    with pytest.raises(dramatiq.ConnectionFailed):
        Barrier(backend, "k").wait(timeout=1000)


@pytest.mark.superset
def test_unreachable_memcached_is_a_connection_failure():
    backend = MemcachedBackend(servers=["127.0.0.1:%d" % free_port()])
    with pytest.raises(dramatiq.ConnectionFailed, match="127.0.0.1"):
        with ConcurrentRateLimiter(backend, "k").acquire():
            pass  # pragma: no cover
    with pytest.raises(dramatiq.ConnectionFailed):
        WindowRateLimiter(backend, "k").acquire().__enter__()


def test_bad_redis_configuration():
    with pytest.raises(ValueError):
        RedisBackend(url="http://localhost")
    with pytest.raises(TypeError, match="no_such_option"):
        RedisBackend(no_such_option=1)


@pytest.mark.superset
def test_bad_memcached_configuration():
    with pytest.raises(ValueError):
        MemcachedBackend(servers=["127.0.0.1:notaport"])
    with pytest.raises(ValueError):
        MemcachedBackend(servers=["udp:127.0.0.1"])
    with pytest.raises(ValueError):
        MemcachedBackend(servers=[])
    with pytest.raises(ValueError, match="no_such_behavior"):
        MemcachedBackend(behaviors={"no_such_behavior": 1})
    with pytest.raises(ValueError):
        MemcachedBackend(behaviors={"hash": "md5"})
    with pytest.raises(TypeError, match="colour"):
        MemcachedBackend(colour="blue")


@pytest.mark.superset
def test_memcached_text_protocol_refuses_keys_with_spaces(memcached_server):
    backend = MemcachedBackend(servers=[memcached_server.address])
    with pytest.raises(ValueError, match="bad key"):
        ConcurrentRateLimiter(backend, "bad key")._acquire()


def test_memcached_backend_pool_reaches_the_same_server(memcached_server):
    # Upstream's tests flush memcached through backend.pool.
    from dramatiq.rate_limits import ConcurrentRateLimiter

    backend = MemcachedBackend(servers=[memcached_server.address])
    limiter = ConcurrentRateLimiter(backend, "pool-check", limit=1)
    with limiter.acquire(raise_on_failure=False) as acquired:
        assert acquired
        with backend.pool.reserve() as client:
            client.flush_all()
        # The flush dropped the holder's key: the limit is free again.
        with limiter.acquire(raise_on_failure=False) as again:
            assert again
