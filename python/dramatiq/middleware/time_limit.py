"""TimeLimit: interrupt actors that run longer than ``time_limit`` ms."""

from __future__ import annotations

from .. import _engine
from .middleware import Middleware
from .threading import Interrupt


class TimeLimitExceeded(Interrupt):
    """Raised in an actor's thread when it exceeds its time limit."""


class TimeLimit(Middleware):
    """Raises ``TimeLimitExceeded`` inside actors that run longer than
    ``time_limit`` ms (default 10 minutes), checked every ``interval`` ms."""

    def __init__(
        self,
        *,
        time_limit: float = _engine.TimeLimit.DEFAULT_TIME_LIMIT,
        interval: int = _engine.TimeLimit.DEFAULT_INTERVAL,
    ) -> None:
        self._native = _engine.TimeLimit(time_limit, interval)

    @property
    def time_limit(self):
        return self._native.time_limit

    @time_limit.setter
    def time_limit(self, value):
        self._native.time_limit = value

    @property
    def interval(self) -> int:
        return self._native.interval
