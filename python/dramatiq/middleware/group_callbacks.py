"""GroupCallbacks: run a group's completion callbacks once all its
members have finished (runs in the engine)."""

from __future__ import annotations

import os
import warnings

from .. import _engine
from ..rate_limits.backend import RateLimiterBackend, engine_backend
from .middleware import Middleware

#: The deprecated way to set the barrier ttl (ms); upstream still reads it.
_BARRIER_TTL_VARIABLE = "dramatiq_group_callback_barrier_ttl"


class GroupCallbacks(Middleware):
    """Enqueues a group's completion callbacks when its last member
    succeeds. Each group counts its finished members with a ``Barrier`` in
    ``rate_limiter_backend``; use a backend every worker shares (Redis,
    memcached) when workers run in several processes.

    Parameters:
      rate_limiter_backend(RateLimiterBackend): where the barriers live.
      barrier_ttl(int): how long (ms) a group's barrier lives.
    """

    def __init__(
        self, rate_limiter_backend: RateLimiterBackend, *, barrier_ttl: int = _engine.GroupCallbacks.DEFAULT_BARRIER_TTL
    ) -> None:
        ttl_from_environment = os.getenv(_BARRIER_TTL_VARIABLE)
        if ttl_from_environment is not None:
            warnings.warn(
                "The %s environment variable is deprecated and will go away in dramatiq 3.0; "
                "pass barrier_ttl to GroupCallbacks instead." % _BARRIER_TTL_VARIABLE,
                FutureWarning,
                stacklevel=2,
            )
            barrier_ttl = int(ttl_from_environment)
        self.rate_limiter_backend = rate_limiter_backend
        self._native = _engine.GroupCallbacks(engine_backend(rate_limiter_backend), barrier_ttl)

    @property
    def barrier_ttl(self) -> int:
        """How long (ms) a group's barrier lives."""
        return self._native.barrier_ttl

    @barrier_ttl.setter
    def barrier_ttl(self, ttl: int) -> None:
        self._native.barrier_ttl = ttl

    def create_barrier(self, completion_uuid: str, parties: int) -> bool:
        """Set up the barrier of a group with ``parties`` members (called
        by ``group.run``).

        Parameters:
          completion_uuid: the group's id, which names its barrier.
          parties: how many members the group has.
        """
        return self._native.create_barrier(completion_uuid, parties)
