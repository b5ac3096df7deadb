"""Rate limiters and barriers shared across processes (the algorithms and
the storage run in the C++ engine).

A limiter counts in a backend (``dramatiq.rate_limits.backends``): Redis
or memcached to share a limit between processes and machines, the stub
backend within one process. Keys and stored values are upstream
Dramatiq's, so upstream workers and ours can share one limit.
"""

from __future__ import annotations

from ..errors import RateLimitExceeded
from .backend import RateLimiterBackend
from .barrier import Barrier
from .bucket import BucketRateLimiter
from .concurrent import ConcurrentRateLimiter
from .rate_limiter import RateLimiter
from .window import WindowRateLimiter

__all__ = [
    "RateLimiterBackend",
    "RateLimiter",
    "RateLimitExceeded",
    "Barrier",
    "BucketRateLimiter",
    "ConcurrentRateLimiter",
    "WindowRateLimiter",
]
