"""Retries: retry failed messages with exponential backoff (runs in the engine)."""

from __future__ import annotations

from typing import Callable, Optional

from .. import _engine
from .middleware import Middleware

DEFAULT_MIN_BACKOFF = 15000
DEFAULT_MAX_BACKOFF = 86400000 * 7


class Retries(Middleware):
    """Retries failed messages up to ``max_retries`` times, waiting
    ``min_backoff * 2**retries`` ms (jittered, at most ``max_backoff``).
    ``throws`` exceptions are not retried; ``retry_when(retries, exc)``
    replaces the count check; ``on_retry_exhausted`` names an actor to tell."""

    def __init__(
        self,
        *,
        max_retries: Optional[int] = 20,
        min_backoff: Optional[int] = None,
        max_backoff: Optional[int] = None,
        retry_when: Optional[Callable[[int, BaseException], bool]] = None,
    ) -> None:
        self._native = _engine.Retries(
            max_retries, min_backoff or DEFAULT_MIN_BACKOFF, max_backoff or DEFAULT_MAX_BACKOFF, retry_when
        )

    max_retries = property(lambda self: self._native.max_retries)
    min_backoff = property(lambda self: self._native.min_backoff)
    max_backoff = property(lambda self: self._native.max_backoff)
    retry_when = property(lambda self: self._native.retry_when)
