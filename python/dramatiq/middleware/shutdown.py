"""ShutdownNotifications: raise ``Shutdown`` in actors when the worker stops."""

from __future__ import annotations

from .. import _engine
from .middleware import Middleware
from .threading import Interrupt


class Shutdown(Interrupt):
    """Raised in running actors (with notify_shutdown) when the worker shuts down."""


class ShutdownNotifications(Middleware):
    """Interrupts actors that set ``notify_shutdown`` when the worker stops."""

    def __init__(self, notify_shutdown: bool = False) -> None:
        self._native = _engine.ShutdownNotifications(notify_shutdown)

    @property
    def notify_shutdown(self) -> bool:
        return self._native.notify_shutdown
