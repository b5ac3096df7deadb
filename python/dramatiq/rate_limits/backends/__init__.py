"""The rate limiter backends: StubBackend (in process), RedisBackend and
MemcachedBackend (shared between processes and machines)."""

from __future__ import annotations

from .memcached import MemcachedBackend
from .redis import RedisBackend
from .stub import StubBackend

__all__ = ["StubBackend", "MemcachedBackend", "RedisBackend"]
