"""ShutdownNotifications: raise ``Shutdown`` in actors when the worker stops."""

from __future__ import annotations

import warnings

from .. import _engine
from ..logging import get_logger
from .middleware import Middleware
from .threading import Interrupt, current_platform, raise_thread_exception, supported_platforms

# The engine interrupts a thread through this module's `raise_thread_exception`
# when it has been replaced (patched); otherwise directly.
__all__ = ["Shutdown", "ShutdownNotifications", "current_platform", "raise_thread_exception", "supported_platforms"]


class Shutdown(Interrupt):
    """Raised in running actors (with notify_shutdown) when the worker shuts down."""


class ShutdownNotifications(Middleware):
    """Interrupts actors that set ``notify_shutdown`` when the worker stops.

    Parameters:
      notify_shutdown(bool): the default for actors and messages that do not
        set ``notify_shutdown`` themselves. Defaults to False: actors are left
        to finish.
    """

    # The hook methods below forward to the engine object.
    _native_hook_methods = True

    def __init__(self, notify_shutdown: bool = False) -> None:
        self._native = _engine.ShutdownNotifications(notify_shutdown)
        self.logger = get_logger(__name__, type(self))
        self.manager = _ShutdownNotificationThreads(self._native)

    @property
    def notify_shutdown(self) -> bool:
        return self._native.notify_shutdown

    @notify_shutdown.setter
    def notify_shutdown(self, value: bool) -> None:
        self._native.notify_shutdown = value

    def should_notify(self, actor, message):
        """Whether ``message`` of ``actor`` is interrupted at shutdown: the
        message's ``notify_shutdown`` unless None, else the actor's unless
        None, else this middleware's default.

        Parameters:
          actor(Actor): the message's actor.
          message(Message): the message.
        """
        return self._native.should_notify(message.options, actor.options)

    def before_worker_shutdown(self, broker, worker):
        """Interrupt the actors running a message that should be notified.

        Parameters:
          broker: the broker the worker consumes from.
          worker: the Worker shutting down.
        """
        self._native.notify_threads()

    def _warn_unless_platform_supported(self) -> None:
        if current_platform not in supported_platforms:
            message = "ShutdownNotifications cannot kill threads on your current platform (%r)."
            warnings.warn(message % current_platform, category=RuntimeWarning, stacklevel=3)


class _ShutdownNotificationThreads:
    """The threads the engine will interrupt at shutdown (``notifications``:
    their idents), and the interrupting itself (``shutdown()``)."""

    def __init__(self, native) -> None:
        self._native = native

    @property
    def notifications(self) -> set:
        return set(self._native.notified_threads())

    @notifications.setter
    def notifications(self, thread_ids) -> None:
        self._native.set_notified_threads(set(thread_ids))

    def shutdown(self) -> None:
        self._native.notify_threads()
