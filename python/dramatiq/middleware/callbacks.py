"""Callbacks: ``on_success`` / ``on_failure`` actors (runs in the engine)."""

from __future__ import annotations

from .. import _engine
from .middleware import Middleware


class Callbacks(Middleware):
    """Sends a message to the ``on_success`` actor with (message_data,
    result), or to ``on_failure`` with (message_data, {"type", "message"})."""

    def __init__(self) -> None:
        self._native = _engine.Callbacks()
