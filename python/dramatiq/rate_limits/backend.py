"""The rate limiter backend interface.

Subclass ``RateLimiterBackend`` in Python to store counters anywhere; the
engine calls your methods (with the GIL held). The backends in
``dramatiq.rate_limits.backends`` are engine objects and run without the
GIL; a subclass of one of them that overrides any method is called through
Python like any other subclass.
"""

from __future__ import annotations

from .. import _engine

_METHODS = ("add", "incr", "decr", "incr_and_sum", "wait", "wait_notify")


class RateLimiterBackend:
    """Base class for rate limiter backends: integer counters under string
    keys that expire, updated atomically. Durations are milliseconds."""

    # Built-in backends keep their engine object here, and name the class
    # whose methods forward to it.
    _native = None
    _native_class = None

    def add(self, key, value, ttl):
        """Store ``value`` under ``key`` unless the key exists.

        Returns:
          bool: whether it was stored.

        Parameters:
          key: the counter's key.
          value: its value.
          ttl: milliseconds it lasts.
        """
        raise NotImplementedError

    def incr(self, key, amount, maximum, ttl):
        """Add ``amount`` to ``key`` (missing counts as 0) unless the result
        would exceed ``maximum``.

        Returns:
          bool: whether it was incremented.

        Parameters:
          key: the counter's key.
          amount: how much to add.
          maximum: the highest value allowed.
          ttl: milliseconds the counter lasts.
        """
        raise NotImplementedError

    def decr(self, key, amount, minimum, ttl):
        """Subtract ``amount`` from ``key`` unless the result would fall
        below ``minimum``.

        Returns:
          bool: whether it was decremented.

        Parameters:
          key: the counter's key.
          amount: how much to subtract.
          minimum: the lowest value allowed.
          ttl: milliseconds the counter lasts.
        """
        raise NotImplementedError

    def incr_and_sum(self, key, keys, amount, maximum, ttl):
        """Add ``amount`` to ``key`` unless ``amount`` plus the sum of the
        counters named by ``keys()`` (a callable returning a list of keys)
        would exceed ``maximum``.

        Returns:
          bool: whether it was incremented.

        Parameters:
          key: the counter to add to.
          keys: a callable returning the keys of the counters to sum.
          amount: how much to add.
          maximum: the highest sum allowed.
          ttl: milliseconds the counter lasts.
        """
        raise NotImplementedError

    def wait(self, key, timeout):
        """Block until an event is posted to ``key`` with ``wait_notify``
        or ``timeout`` ms pass (``None``: no limit).

        Returns:
          bool: whether an event was posted.

        Parameters:
          key: the event's key.
          timeout: milliseconds to wait at most; None: no limit.
        """
        raise NotImplementedError

    def wait_notify(self, key, ttl):
        """Post an event to ``key``, waking the parties blocked in
        ``wait``; it lasts ``ttl`` ms. The base implementation does nothing.

        Parameters:
          key: the event's key.
          ttl: milliseconds the event lasts.
        """


def engine_backend(backend):
    """The engine object that stands for ``backend``: a built-in backend's
    own engine object, or an adapter that calls ``backend``'s Python methods.

    Parameters:
      backend: a RateLimiterBackend.
    """
    native = getattr(backend, "_native", None)
    home = getattr(backend, "_native_class", None)
    if native is not None and home is not None:
        cls = type(backend)
        if all(getattr(cls, name) is getattr(home, name) for name in _METHODS):
            return native
    if not all(callable(getattr(backend, name, None)) for name in _METHODS[:-1]):
        raise TypeError(
            "%r is not a rate limiter backend (it lacks add/incr/decr/incr_and_sum/wait)" % (backend,)
        )
    return _engine.PythonRateLimiterBackend(backend)
