"""Small helpers shared across the package (upstream's dramatiq.common)."""

from __future__ import annotations

import time
from queue import Empty

from . import _engine


def current_millis() -> int:
    """The current time in milliseconds since the epoch."""
    return int(time.time() * 1000)


def compute_backoff(attempts: int, *, factor: int = 5, jitter: bool = True, max_backoff: int = 2000,
                    max_exponent: int = 32) -> tuple[int, int]:
    """Exponential backoff with jitter; returns ``(attempts + 1, backoff_ms)``.

    The jittered computation is the engine's (the one Retries uses).

    Parameters:
      attempts: how many attempts were made so far.
      factor: the backoff of the first retry, in milliseconds.
      jitter: pick a random backoff up to the computed one.
      max_backoff: the longest backoff, in milliseconds.
      max_exponent: the largest power of two used.
    """
    if jitter:
        return attempts + 1, _engine.compute_backoff(min(attempts, max_exponent), factor, max_backoff)
    return attempts + 1, min(factor * (2 ** min(attempts, max_exponent)), max_backoff)


def iter_queue(queue):
    """Drain a standard-library queue without blocking.

    Parameters:
      queue: a ``queue.Queue``.
    """
    while True:
        try:
            yield queue.get_nowait()
        except Empty:
            break


def join_all(joinables, timeout):
    """Join every thread or queue in ``joinables`` within ``timeout`` ms overall.

    Parameters:
      joinables: threads or queues (anything with ``join(timeout)``).
      timeout: milliseconds to wait for all of them together.
    """
    deadline = time.monotonic() + timeout / 1000
    for obj in joinables:
        obj.join(timeout=max(0, deadline - time.monotonic()))


def q_name(queue_name: str) -> str:
    """The canonical name of a queue (without ``.DQ`` / ``.XQ``).

    Parameters:
      queue_name: a queue's, delay queue's or dead-letter queue's name.
    """
    if queue_name.endswith(".DQ") or queue_name.endswith(".XQ"):
        return queue_name[:-3]
    return queue_name


def dq_name(queue_name: str) -> str:
    """The name of a queue's delay queue.

    Parameters:
      queue_name: a queue's name (canonical or not).
    """
    return q_name(queue_name) + ".DQ"


def xq_name(queue_name: str) -> str:
    """The name of a queue's dead-letter queue.

    Parameters:
      queue_name: a queue's name (canonical or not).
    """
    return q_name(queue_name) + ".XQ"
