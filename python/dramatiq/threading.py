"""Raising exceptions in other threads (how TimeLimit, ShutdownNotifications
and user code stop a running actor), and what the platform allows.

The engine interrupts actors through the same mechanism: an asynchronous
exception set on the actor's Python thread, seen at its next bytecode."""

from __future__ import annotations

import ctypes
import inspect
import platform

from .logging import get_logger

__all__ = [
    "Interrupt",
    "current_platform",
    "is_gevent_active",
    "raise_thread_exception",
    "supported_platforms",
]

#: The Python implementation running (``platform.python_implementation()``).
current_platform = platform.python_implementation()

#: The implementations on which ``raise_thread_exception`` works.
supported_platforms = {"CPython"}

_logger = get_logger(__name__)


def is_gevent_active():
    """Whether gevent's monkey patching is active in this process."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.saved)


class Interrupt(BaseException):
    """Base class of the exceptions raised asynchronously in a worker
    thread to interrupt an actor (``TimeLimitExceeded``, ``Shutdown``).
    An actor may catch them to clean up. Not a ``DramatiqError``, so that
    ``except DramatiqError`` does not swallow them by accident."""


def raise_thread_exception(thread_id, exception):
    """Raise ``exception`` in the thread whose ident is ``thread_id``.

    The exception is raised the next time that thread runs Python code: a
    thread blocked in a system call sees it only once the call returns.
    Works on CPython only; elsewhere it logs a critical message and does
    nothing. An unknown thread id is logged as a critical failure too.

    Parameters:
      thread_id: the target thread's ``threading.get_ident()``.
      exception: the exception class (or instance) to raise.
    """
    name = (exception if inspect.isclass(exception) else type(exception)).__name__
    if current_platform not in supported_platforms:
        _logger.critical(
            "Setting thread exceptions (%s) is not supported for your current platform (%r).", name, current_platform
        )
        return
    target = ctypes.c_ulong(thread_id)
    count = ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(exception))
    if count == 0:
        _logger.critical("Failed to set exception (%s) in thread %r.", name, thread_id)
    elif count > 1:
        _logger.critical("Exception (%s) was set in multiple threads.  Undoing...", name)
        ctypes.pythonapi.PyThreadState_SetAsyncExc(target, None)
