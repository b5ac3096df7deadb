"""CurrentMessage: the message the current actor is processing."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Optional

from .. import _engine
from .middleware import Middleware

if TYPE_CHECKING:
    from ..message import Message

# Set for coroutine actors, whose code runs on the event loop thread rather
# than on the worker thread that the engine tracks.
_ASYNC_MESSAGE: contextvars.ContextVar = contextvars.ContextVar("dramatiq_current_message", default=None)


def get_current_message() -> Optional[Message[Any]]:
    """The message being processed by the calling actor, or ``None``
    outside of actor code."""
    message = _ASYNC_MESSAGE.get()
    if message is not None:
        return message
    return _engine.current_message()


class CurrentMessage(Middleware):
    """Exposes the current message through ``CurrentMessage.get_current_message()``."""

    def __init__(self) -> None:
        self._native = _engine.CurrentMessage()

    @classmethod
    def get_current_message(cls) -> Optional[Message[Any]]:
        """The message being processed by the calling actor, or ``None``."""
        return get_current_message()
