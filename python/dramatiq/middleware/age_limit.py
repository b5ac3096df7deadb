"""AgeLimit: skip messages older than ``max_age`` ms (runs in the engine)."""

from __future__ import annotations

from typing import Optional

from .. import _engine
from .middleware import Middleware


class AgeLimit(Middleware):
    """Dead-letters messages older than ``max_age`` milliseconds instead of running them.

    Parameters:
      max_age: the age in milliseconds beyond which messages are dropped; actors may set their own.
    """

    def __init__(self, *, max_age: Optional[int] = None) -> None:
        self._native = _engine.AgeLimit(max_age)

    @property
    def max_age(self):
        return self._native.max_age

    @max_age.setter
    def max_age(self, value):
        self._native.max_age = value
