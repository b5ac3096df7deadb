"""Retries: retry failed messages with exponential backoff (runs in the engine)."""

from __future__ import annotations

from typing import Callable, Optional

from .. import _engine
from .middleware import Middleware

#: The engine's defaults (ms), shown here as upstream shows them.
DEFAULT_MIN_BACKOFF = _engine.Retries.DEFAULT_MIN_BACKOFF
DEFAULT_MAX_BACKOFF = _engine.Retries.DEFAULT_MAX_BACKOFF


class Retries(Middleware):
    """Retries failed messages up to ``max_retries`` times, waiting
    ``min_backoff * 2**retries`` ms (jittered, at most ``max_backoff``).
    ``throws`` exceptions are not retried; ``retry_when(retries, exc)``
    replaces the count check; ``on_retry_exhausted`` names an actor to tell.

    Parameters:
      max_retries: how many times a failed message is retried.
      min_backoff: milliseconds before the first retry.
      max_backoff: the longest wait between two retries, in milliseconds.
      retry_when: a function of (retries so far, exception) that decides instead of ``max_retries``.
    """

    def __init__(
        self,
        *,
        max_retries: Optional[int] = _engine.Retries.DEFAULT_MAX_RETRIES,
        min_backoff: Optional[int] = None,
        max_backoff: Optional[int] = None,
        retry_when: Optional[Callable[[int, BaseException], bool]] = None,
    ) -> None:
        # None (and 0, as upstream) leave the backoff to the engine's default.
        self._native = _engine.Retries(max_retries, min_backoff or None, max_backoff or None, retry_when)

    max_retries = property(lambda self: self._native.max_retries)
    min_backoff = property(lambda self: self._native.min_backoff)
    max_backoff = property(lambda self: self._native.max_backoff)
    retry_when = property(lambda self: self._native.retry_when)
