"""dramatiq-cpp: the Dramatiq task library with a C++ engine.

Import it as ``dramatiq``; the API is upstream Dramatiq's."""

from __future__ import annotations

from . import _engine
from .actor import Actor, actor
from .broker import Broker, Consumer, MessageProxy, get_broker, set_broker
from .composition import group, pipeline
from .encoder import Encoder, JSONEncoder, PickleEncoder
from .errors import (
    ActorNotFound,
    BrokerConnectionError,
    BrokerError,
    ConnectionClosed,
    ConnectionFailed,
    DecodeError,
    DramatiqError,
    QueueJoinTimeout,
    QueueNotFound,
    RateLimitExceeded,
    Retry,
)
from .generic import GenericActor
from .logging import get_logger
from .message import Message, _message_from_engine, get_encoder, set_encoder
from .middleware import Middleware, MiddlewareError, Shutdown, SkipMessage, TimeLimitExceeded
from .results.errors import ResultFailure, ResultMissing, ResultTimeout
from .threading import raise_thread_exception as _raise_thread_exception
from .worker import ConsumerThread, Worker, WorkerThread
from .schedules import schedule
from .cancellation import Cancelled, cancel

__all__ = [
    "Actor", "GenericActor", "actor", "Broker", "Consumer", "MessageProxy", "get_broker", "set_broker",
    "group", "pipeline", "Encoder", "JSONEncoder", "PickleEncoder", "DramatiqError", "BrokerError",
    "DecodeError", "ActorNotFound", "QueueNotFound", "QueueJoinTimeout", "BrokerConnectionError",
    "ConnectionClosed", "ConnectionFailed", "RateLimitExceeded", "Retry", "get_logger", "Message",
    "get_encoder", "set_encoder", "Middleware", "Worker", "ConsumerThread", "WorkerThread", "schedule",
    "cancel", "Cancelled",
]

__version__ = "2.2.1"

_engine.register_python(
    message_factory=_message_from_engine,
    proxy_class=MessageProxy,
    Retry=Retry,
    RateLimitExceeded=RateLimitExceeded,
    MiddlewareError=MiddlewareError,
    SkipMessage=SkipMessage,
    TimeLimitExceeded=TimeLimitExceeded,
    Shutdown=Shutdown,
    Cancelled=Cancelled,
    raise_thread_exception=_raise_thread_exception,
    WorkerThread=WorkerThread,
    ConsumerThread=ConsumerThread,
    DramatiqError=DramatiqError,
    ActorNotFound=ActorNotFound,
    QueueNotFound=QueueNotFound,
    QueueJoinTimeout=QueueJoinTimeout,
    ConnectionError=BrokerConnectionError,
    ConnectionFailed=ConnectionFailed,
    ConnectionClosed=ConnectionClosed,
    DecodeError=DecodeError,
    ResultFailure=ResultFailure,
    ResultMissing=ResultMissing,
    ResultTimeout=ResultTimeout,
)


def __getattr__(name: str):
    if name == "ConnectionError":
        import warnings

        warnings.warn("The class 'ConnectionError' has been renamed to 'BrokerConnectionError'.",
                      category=DeprecationWarning, stacklevel=2)
        return BrokerConnectionError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
