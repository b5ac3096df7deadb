"""StubBackend: counters in this process's memory."""

from __future__ import annotations

from ... import _engine
from ._native import NativeBackend


class StubBackend(NativeBackend):
    """An in-memory backend, for tests and single-process programs. An
    event posted with ``wait_notify`` is remembered for its ttl, so a party
    that starts waiting afterwards still sees it (as with Redis)."""

    def __init__(self):
        self._native = _engine.StubRateLimiterBackend()


StubBackend._native_class = StubBackend
