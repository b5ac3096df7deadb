"""The RateLimiter base class and its ``acquire`` context manager."""

from __future__ import annotations

import math
from contextlib import contextmanager

from ..errors import RateLimitExceeded
from .backend import engine_backend


class RateLimiter:
    """Base class for rate limiters.

    Subclasses implement ``_acquire`` (take a slot; return whether it did)
    and ``_release`` (give it back). The built-in limiters run both in the
    engine.

    Parameters:
      backend(RateLimiterBackend): where the counters live.
      key(str): the name of the limit.
    """

    # Built-in limiters keep their engine object here.
    _native = None

    def __init__(self, backend, key):
        self.backend = backend
        self.key = key

    def _acquire(self):
        if self._native is None:
            raise NotImplementedError
        return self._native.try_acquire()

    def _release(self):
        if self._native is None:
            raise NotImplementedError
        return self._native.release()

    @contextmanager
    def acquire(self, *, raise_on_failure=True):
        """Take a slot for the duration of a ``with`` block.

        Parameters:
          raise_on_failure(bool): raise ``RateLimitExceeded`` when no slot
            is free (the default); when False, the ``with`` block runs
            anyway and receives whether the slot was taken.

        Returns:
          bool: whether the slot was taken.
        """
        acquired = False
        try:
            acquired = self._acquire()
            if raise_on_failure and not acquired:
                raise RateLimitExceeded("rate limit exceeded for key %r" % (self.key,))
            yield acquired
        finally:
            if acquired:
                self._release()

    def __repr__(self):
        return "%s(key=%r)" % (type(self).__name__, self.key)


def whole(value):
    """A limit or duration as the engine takes it: floats are accepted, as
    upstream accepts them (counts are whole, so a limit of 2.5 admits 2).

    Parameters:
      value: a number; fractions are dropped.
    """
    if isinstance(value, float):
        return math.floor(value)
    return value


def native_attribute(name, doc):
    """A property that reads and writes an attribute of the engine object.

    Parameters:
      name: the engine object's attribute.
      doc: the property's docstring.
    """

    def get(self):
        return getattr(self._native, name)

    def set(self, value):
        setattr(self._native, name, whole(value))

    return property(get, set, doc=doc)


def backend_attribute():
    """The ``backend`` property: the Python backend object, mirrored into
    the engine object when it changes."""

    def get(self):
        return self._backend

    def set(self, backend):
        self._native.backend = engine_backend(backend)
        self._backend = backend

    return property(get, set, doc="The backend the counters live in.")
