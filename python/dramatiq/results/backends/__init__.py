"""Result backends: Stub (in memory), Redis and Memcached, all in the engine."""

from __future__ import annotations

from .memcached import MemcachedBackend
from .redis import RedisBackend
from .stub import StubBackend

__all__ = ["StubBackend", "MemcachedBackend", "RedisBackend"]
