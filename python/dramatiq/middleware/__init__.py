"""Middleware: the built-ins (run by the C++ engine) and the base class."""

from __future__ import annotations

from .. import _engine
from .age_limit import AgeLimit
from .asyncio import AsyncIO
from .callbacks import Callbacks
from .current_message import CurrentMessage, get_current_message
from .group_callbacks import GroupCallbacks
from .middleware import Middleware, MiddlewareError, SkipMessage
from .pipelines import Pipelines
from .retries import Retries
from .shutdown import Shutdown, ShutdownNotifications
from .threading import Interrupt, raise_thread_exception
from .time_limit import TimeLimit, TimeLimitExceeded

__all__ = [
    "Middleware",
    "MiddlewareError",
    "SkipMessage",
    "Interrupt",
    "raise_thread_exception",
    "AgeLimit",
    "AsyncIO",
    "Callbacks",
    "CurrentMessage",
    "GroupCallbacks",
    "Pipelines",
    "Retries",
    "Shutdown",
    "ShutdownNotifications",
    "TimeLimit",
    "TimeLimitExceeded",
    "get_current_message",
]

#: The middleware every broker gets unless told otherwise: the engine's list
#: (include/dramatiq/default_middleware.hpp), by class name, so that C++ and
#: Python brokers get the same middleware in the same order.
default_middleware = [globals()[name] for name in _engine.DEFAULT_MIDDLEWARE]
