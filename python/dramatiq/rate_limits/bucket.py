"""BucketRateLimiter: at most ``limit`` acquisitions per fixed interval."""

from __future__ import annotations

from .. import _engine
from .backend import engine_backend
from .rate_limiter import RateLimiter, backend_attribute, native_attribute, whole


class BucketRateLimiter(RateLimiter):
    """Lets at most ``limit`` acquisitions happen per ``bucket`` ms
    interval (intervals aligned on multiples of ``bucket`` since the
    epoch). Cheap, but up to twice the limit can pass around an interval
    boundary; ``WindowRateLimiter`` does not have that weakness. Slots are
    not given back on release.

    Parameters:
      backend(RateLimiterBackend): where the counters live.
      key(str): the name of the limit (counters are ``<key>@<interval start ms>``).
      limit(int): acquisitions allowed per interval (>= 1).
      bucket(int): the interval, in ms.
    """

    def __init__(self, backend, key, *, limit=1, bucket=_engine.BucketRateLimiter.DEFAULT_BUCKET):
        self._backend = backend
        self._native = _engine.BucketRateLimiter(engine_backend(backend), key, whole(limit), whole(bucket))

    backend = backend_attribute()
    key = native_attribute("key", "The name of the limit.")
    limit = native_attribute("limit", "Acquisitions allowed per interval.")
    bucket = native_attribute("bucket", "The interval, in ms.")
