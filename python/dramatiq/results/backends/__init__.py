"""Result backends: Stub (in memory), Redis, Memcached and SQLite (a file on
this host), all in the engine."""

from __future__ import annotations

from .memcached import MemcachedBackend
from .redis import RedisBackend
from .sqlite import SQLiteBackend
from .stub import StubBackend

__all__ = ["StubBackend", "MemcachedBackend", "RedisBackend", "SQLiteBackend"]
