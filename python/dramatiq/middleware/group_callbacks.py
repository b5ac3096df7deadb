"""GroupCallbacks: run a group's completion callbacks once all its
messages are done. It counts completions with a rate-limiter Barrier, which
arrives with dramatiq.rate_limits (not built yet)."""

from __future__ import annotations

from .middleware import Middleware


class GroupCallbacks(Middleware):
    """Enqueues ``group_completion_callbacks`` when the last message of a group finishes."""

    def __init__(self, rate_limiter_backend, *, barrier_ttl: int = 86400 * 1000) -> None:
        raise NotImplementedError(
            "GroupCallbacks needs dramatiq.rate_limits backends, which dramatiq-cpp does not provide yet."
        )
