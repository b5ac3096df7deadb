"""Messages: what actors are sent, and the global encoder."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from typing import Any, Generic, Optional, TypeVar

from . import _engine
from .encoder import Encoder, JSONEncoder
from .errors import DecodeError

R = TypeVar("R", covariant=True)

global_encoder: Encoder = JSONEncoder()


def get_encoder() -> Encoder:
    """Get the global encoder (a ``JSONEncoder`` unless changed)."""
    return global_encoder


def set_encoder(encoder: Encoder) -> None:
    """Set the global encoder used to serialize messages.

    A plain ``JSONEncoder`` keeps the native C++ fast path; any other
    encoder is called by the engine for every message."""
    global global_encoder
    global_encoder = encoder
    _engine.set_python_encoder(None if type(encoder) is JSONEncoder else encoder)


def generate_unique_id() -> str:
    """Generate a globally-unique message id (a UUID4 string)."""
    return _engine.generate_message_id()


@dataclasses.dataclass(frozen=True)
class Message(Generic[R]):
    """A message for an actor: queue, actor name, arguments and options.

    ``message_id`` and ``message_timestamp`` are generated when omitted or
    ``None``.
    """

    queue_name: str
    actor_name: str
    args: tuple
    kwargs: dict
    options: dict
    message_id: Optional[str] = None
    message_timestamp: Optional[int] = None

    def __post_init__(self) -> None:
        if type(self.args) is not tuple:
            object.__setattr__(self, "args", tuple(self.args))
        if self.message_id is None:
            object.__setattr__(self, "message_id", _engine.generate_message_id())
        if self.message_timestamp is None:
            object.__setattr__(self, "message_timestamp", int(time.time() * 1000))

    def __or__(self, other):
        """Combine this message with ``other`` into a pipeline."""
        from .composition import pipeline

        return pipeline([self, other])

    def asdict(self) -> dict:
        """The message's fields as a dict."""
        return {
            "queue_name": self.queue_name,
            "actor_name": self.actor_name,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": self.options,
            "message_id": self.message_id,
            "message_timestamp": self.message_timestamp,
        }

    _asdict = asdict

    @classmethod
    def decode(cls, data: bytes) -> "Message":
        """Decode bytes with the global encoder; raises ``DecodeError``."""
        try:
            fields = global_encoder.decode(data)
            fields["args"] = tuple(fields["args"])
            return cls(**fields)
        except Exception as e:
            raise DecodeError("Failed to decode message.", data, e) from e

    def encode(self) -> bytes:
        """Encode this message with the global encoder."""
        return global_encoder.encode(self.asdict())

    def copy(self, **attributes) -> "Message":
        """A copy with some fields changed; ``options`` are merged into the current ones."""
        new_options = attributes.pop("options", {})
        return dataclasses.replace(self, **attributes, options={**self.options, **new_options})

    def get_result(self, *, backend=None, block: bool = False, timeout: Optional[int] = None):
        """Get this message's result from a result backend (by default the
        one of the global broker's Results middleware)."""
        if backend is None:
            from .broker import get_broker

            backend = get_broker().get_results_backend()
        return backend.get_result(self, block=block, timeout=timeout)

    def __str__(self) -> str:
        params = ", ".join(repr(arg) for arg in self.args)
        if self.kwargs:
            params += ", " if params else ""
            params += ", ".join("%s=%r" % (name, value) for name, value in self.kwargs.items())
        return "%s(%s)" % (self.actor_name, params)

    def __lt__(self, other: "Message") -> bool:
        return dataclasses.astuple(self) < dataclasses.astuple(other)

    @property
    def _fields(self) -> tuple:
        return tuple(f.name for f in dataclasses.fields(self))

    @property
    def _field_defaults(self) -> dict:
        return {}

    def _replace(self, **changes) -> "Message":
        return dataclasses.replace(self, **changes)

    @property
    def message_datetime(self) -> datetime:
        """``message_timestamp`` as a UTC-aware datetime."""
        seconds, ms = divmod(self.message_timestamp, 1000)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=ms * 1000)


def _message_from_engine(queue_name, actor_name, args, kwargs, options, message_id, message_timestamp):
    # The engine builds Python messages through here: fields are already
    # valid, so skip the dataclass __init__ and fill the instance directly.
    message = object.__new__(Message)
    message.__dict__.update(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args if type(args) is tuple else tuple(args),
        kwargs=kwargs,
        options=options,
        message_id=message_id,
        message_timestamp=message_timestamp,
    )
    return message
