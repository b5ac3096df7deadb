"""Barrier: a countdown shared by processes."""

from __future__ import annotations

from .. import _engine
from .backend import engine_backend
from .rate_limiter import whole


class Barrier:
    """A barrier for a number of parties, shared by every process using
    the same backend: ``create`` it once, then each party calls ``wait``;
    the last one to arrive clears it. Use a unique key per barrier (a
    UUID): reusing one is undefined.

    Parameters:
      backend(RateLimiterBackend): where the barrier lives.
      key(str): the barrier's name.
      ttl(int): how long (ms) the barrier lives.
    """

    def __init__(self, backend, key, *, ttl=_engine.Barrier.DEFAULT_TTL):
        self._backend = backend
        self._native = _engine.Barrier(engine_backend(backend), key, whole(ttl))

    @property
    def backend(self):
        """The backend the barrier lives in."""
        return self._backend

    @backend.setter
    def backend(self, backend):
        self._native.backend = engine_backend(backend)
        self._backend = backend

    @property
    def key(self):
        """The barrier's name."""
        return self._native.key

    @key.setter
    def key(self, key):
        self._native.key = key

    @property
    def key_events(self):
        """Where the clearing party posts its event (``<key>@events``)."""
        return self._native.events_key

    @property
    def ttl(self):
        """How long (ms) the barrier lives."""
        return self._native.ttl

    @ttl.setter
    def ttl(self, ttl):
        self._native.ttl = whole(ttl)

    def create(self, parties):
        """Set the barrier up for ``parties`` parties (>= 1).

        Returns:
          bool: False if a barrier with this key already exists.

        Parameters:
          parties: how many parties must call ``wait``.
        """
        return self._native.create(whole(parties))

    def wait(self, *, block=True, timeout=None):
        """Arrive at the barrier.

        Parameters:
          block(bool): wait (without holding the GIL) until the last party
            arrives; when False, return at once.  Ctrl-C
            (``KeyboardInterrupt``) interrupts the wait.
          timeout(int): the longest to wait, in ms (``None``: no limit).

        Returns:
          bool: whether the barrier is cleared (by this party, or, when
          blocking, by the last one before the timeout).
        """
        return self._native.wait(block, None if timeout is None else whole(timeout))

    def __repr__(self):
        return "Barrier(key=%r)" % (self.key,)
