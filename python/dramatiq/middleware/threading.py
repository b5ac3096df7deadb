"""Interrupting threads (how TimeLimit and ShutdownNotifications stop actors)."""

from __future__ import annotations

import ctypes


class Interrupt(BaseException):
    """Base class for exceptions raised asynchronously in worker threads."""


def raise_thread_exception(thread_id: int, exception: type) -> None:
    """Raise ``exception`` in the thread with ident ``thread_id``."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception))
