"""Pipelines: feed each result into the next message (runs in the engine)."""

from __future__ import annotations

from .. import _engine
from .middleware import Middleware


class Pipelines(Middleware):
    """Enqueues a message's ``pipe_target`` when it succeeds, appending the
    result to its arguments unless ``pipe_ignore`` is set."""

    def __init__(self) -> None:
        self._native = _engine.Pipelines()
