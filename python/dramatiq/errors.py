"""Exceptions raised by dramatiq, with upstream Dramatiq's hierarchy."""

from __future__ import annotations

from typing import Any, Optional


class DramatiqError(Exception):
    """Base class for every dramatiq error."""

    def __init__(self, message=""):  # noqa: D107
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message) or repr(self.message)


class DecodeError(DramatiqError):
    """Raised when a message cannot be decoded (or, by custom encoders,
    encoded). ``data`` and ``error`` are optional: ``DecodeError("text")``
    works as well as upstream's three-argument form."""

    def __init__(self, message="", data=None, error=None):
        super().__init__(message)
        self.data = data
        self.error = error


class BrokerError(DramatiqError):
    """Base class for broker-related errors."""


class ActorNotFound(BrokerError):
    """Raised when a message is sent to an actor that hasn't been declared."""


class QueueNotFound(BrokerError):
    """Raised when a message is sent to a queue that hasn't been declared."""


class QueueJoinTimeout(DramatiqError):
    """Raised by ``join`` on a broker when the timeout runs out."""


class BrokerConnectionError(BrokerError):
    """Base class for broker connection-related errors."""


class ConnectionFailed(BrokerConnectionError):
    """Raised when a broker connection could not be opened."""


class ConnectionClosed(BrokerConnectionError):
    """Raised when a broker connection is lost unexpectedly."""


class RateLimitExceeded(DramatiqError):
    """Raised when a rate limit has been exceeded."""


class Retry(DramatiqError):
    """Raise from an actor to retry it without logging an error; with
    ``delay`` (ms), the retry happens after at least that long."""

    def __init__(self, message: str = "", delay: Optional[int] = None) -> None:
        super().__init__(message)
        self.delay = delay


def __getattr__(name: str) -> Any:
    if name == "ConnectionError":
        import warnings

        warnings.warn(
            "The class 'ConnectionError' has been renamed to 'BrokerConnectionError'.",
            category=DeprecationWarning,
            stacklevel=2,
        )
        return BrokerConnectionError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
