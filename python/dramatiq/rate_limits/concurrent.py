"""ConcurrentRateLimiter: at most ``limit`` holders at once."""

from __future__ import annotations

from .. import _engine
from .backend import engine_backend
from .rate_limiter import RateLimiter, backend_attribute, native_attribute, whole


class ConcurrentRateLimiter(RateLimiter):
    """Lets at most ``limit`` holders hold a slot at the same time across
    every process that shares the backend (``limit=1``: a distributed
    mutex).

    Parameters:
      backend(RateLimiterBackend): where the holder count lives.
      key(str): the name of the limit (the count is stored under it).
      limit(int): the number of concurrent holders allowed (>= 1).
      ttl(int): ms after which the count expires, freeing slots whose
        holders died without releasing them.
    """

    def __init__(self, backend, key, *, limit=1, ttl=_engine.ConcurrentRateLimiter.DEFAULT_TTL):
        self._backend = backend
        self._native = _engine.ConcurrentRateLimiter(engine_backend(backend), key, whole(limit), whole(ttl))

    backend = backend_attribute()
    key = native_attribute("key", "The name of the limit.")
    limit = native_attribute("limit", "The number of concurrent holders allowed.")
    ttl = native_attribute("ttl", "How long (ms) the holder count lives.")
