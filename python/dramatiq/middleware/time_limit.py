"""TimeLimit: interrupt actors that run longer than ``time_limit`` ms."""

from __future__ import annotations

import warnings

from .. import _engine
from ..logging import get_logger
from .middleware import Middleware
from .threading import Interrupt, current_platform, raise_thread_exception, supported_platforms

# The engine interrupts a thread through this module's `raise_thread_exception`
# when it has been replaced (patched); otherwise directly.
__all__ = ["TimeLimit", "TimeLimitExceeded", "current_platform", "raise_thread_exception", "supported_platforms"]


class TimeLimitExceeded(Interrupt):
    """Raised in an actor's thread when it exceeds its time limit."""


class TimeLimit(Middleware):
    """Raises ``TimeLimitExceeded`` inside actors that run longer than
    their time limit.

    Parameters:
      time_limit(float): the longest an actor may run, in milliseconds
        (``float("inf")``: no limit). Defaults to 10 minutes.
      interval(int): how often running actors are checked, in milliseconds.
        Defaults to 1 second.
    """

    def __init__(
        self,
        *,
        time_limit: float = _engine.TimeLimit.DEFAULT_TIME_LIMIT,
        interval: int = _engine.TimeLimit.DEFAULT_INTERVAL,
    ) -> None:
        self._native = _engine.TimeLimit(time_limit, interval)
        self.logger = get_logger(__name__, type(self))
        self.manager = _TimeLimitDeadlines(self._native)

    @property
    def time_limit(self):
        return self._native.time_limit

    @time_limit.setter
    def time_limit(self, value):
        self._native.time_limit = value

    @property
    def interval(self) -> int:
        return self._native.interval

    def _warn_unless_platform_supported(self) -> None:
        if current_platform not in supported_platforms:
            message = "TimeLimit cannot kill threads on your current platform (%r)."
            warnings.warn(message % current_platform, category=RuntimeWarning, stacklevel=3)


class _TimeLimitDeadlines:
    """The running actors' deadlines as the engine keeps them
    (``deadlines``: thread ident -> ``time.monotonic()`` seconds), and one
    check of them (what the engine's monitor thread does every interval)."""

    def __init__(self, native) -> None:
        self._native = native

    @property
    def deadlines(self) -> dict:
        return self._native.deadlines()

    @deadlines.setter
    def deadlines(self, deadlines: dict) -> None:
        self._native.set_deadlines({thread: at for thread, at in deadlines.items() if at is not None})

    def _handle_deadlines(self) -> None:
        self._native.check_deadlines()
