"""The methods every engine-backed backend shares: each forwards to the
engine object, which releases the GIL while it works."""

from __future__ import annotations

from ..backend import RateLimiterBackend


class NativeBackend(RateLimiterBackend):
    """A backend whose work happens in the engine object ``self._native``."""

    def add(self, key, value, ttl):
        """Store ``value`` under ``key`` unless the key exists."""
        return self._native.add(key, value, ttl)

    def incr(self, key, amount, maximum, ttl):
        """Add ``amount`` to ``key`` unless the result would exceed ``maximum``."""
        return self._native.incr(key, amount, maximum, ttl)

    def decr(self, key, amount, minimum, ttl):
        """Subtract ``amount`` from ``key`` unless the result would fall below ``minimum``."""
        return self._native.decr(key, amount, minimum, ttl)

    def incr_and_sum(self, key, keys, amount, maximum, ttl):
        """Add ``amount`` to ``key`` unless the counters of ``keys()`` plus
        ``amount`` would exceed ``maximum``."""
        return self._native.incr_and_sum(key, keys, amount, maximum, ttl)

    def wait(self, key, timeout):
        """Block until an event is posted to ``key`` or ``timeout`` ms pass."""
        return self._native.wait(key, timeout)

    def wait_notify(self, key, ttl):
        """Post an event to ``key`` for ``ttl`` ms, waking its waiters."""
        self._native.wait_notify(key, ttl)
