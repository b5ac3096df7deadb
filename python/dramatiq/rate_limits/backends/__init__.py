"""The rate limiter backends: StubBackend (in process), RedisBackend and
MemcachedBackend (shared between processes and machines), SQLiteBackend
(shared between the processes of one host, in a file)."""

from __future__ import annotations

from .memcached import MemcachedBackend
from .redis import RedisBackend
from .sqlite import SQLiteBackend
from .stub import StubBackend

__all__ = ["StubBackend", "MemcachedBackend", "RedisBackend", "SQLiteBackend"]
