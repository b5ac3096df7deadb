"""Messages: what actors are sent, and the global encoder."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar

from . import _engine
from .encoder import Encoder, JSONEncoder
from .errors import DecodeError

if TYPE_CHECKING:
    from .broker import Broker
    from .composition import pipeline
    from .results import ResultBackend

R = TypeVar("R", covariant=True)

global_encoder: Encoder = JSONEncoder()


def get_encoder() -> Encoder:
    """Get the global encoder (a ``JSONEncoder`` unless changed)."""
    return global_encoder


def set_encoder(encoder: Encoder) -> None:
    """Set the global encoder used to serialize messages.

    A plain ``JSONEncoder`` keeps the native C++ fast path; any other
    encoder is called by the engine for every message.

    Parameters:
      encoder: the encoder every message is encoded and decoded with.
    """
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

    Parameters:
      queue_name: the queue the message goes to.
      actor_name: the name of the actor that processes it.
      args: the actor's positional arguments.
      kwargs: the actor's keyword arguments.
      options: processing options (``max_retries``, ``eta``, ...) and what
        the broker and middleware record on the message.
      message_id: the message's unique id (a UUID4 string).
      message_timestamp: when the message was built, in milliseconds since
        the epoch.
    """

    queue_name: str
    actor_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    # Typed as the values they always hold once built (``__post_init__``).
    message_id: str = None  # type: ignore[assignment]
    message_timestamp: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if type(self.args) is not tuple:
            object.__setattr__(self, "args", tuple(self.args))
        if self.message_id is None:
            object.__setattr__(self, "message_id", _engine.generate_message_id())
        if self.message_timestamp is None:
            object.__setattr__(self, "message_timestamp", int(time.time() * 1000))

    def __or__(self, other: Any) -> pipeline:
        """Combine this message with ``other`` into a pipeline.

        Parameters:
          other: a message or a pipeline to run after this message.
        """
        from .composition import pipeline

        return pipeline([self, other])

    def asdict(self) -> dict[str, Any]:
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
    def decode(cls, data: bytes) -> Message[Any]:
        """Decode a message with the global encoder.

        Parameters:
          data: an encoded message; ``DecodeError`` if it is not one.
        """
        try:
            fields = global_encoder.decode(data)
            fields["args"] = tuple(fields["args"])
            return cls(**fields)
        except Exception as e:
            raise DecodeError("Failed to decode message.", data, e) from e

    def encode(self) -> bytes:
        """Encode this message with the global encoder."""
        return global_encoder.encode(self.asdict())

    def copy(self, **attributes: Any) -> Message[Any]:
        """A copy of this message with some fields changed.

        Parameters:
          attributes: the fields to change; ``options`` given here are
            merged into the current ones rather than replacing them.
        """
        new_options = attributes.pop("options", {})
        return dataclasses.replace(self, **attributes, options={**self.options, **new_options})

    def get_result(self, *, backend: Optional[ResultBackend] = None, block: bool = False,
                   timeout: Optional[int] = None) -> R:
        """Get what this message's actor returned.

        Parameters:
          backend: the result backend to read; by default the one of the
            global broker's Results middleware.
          block: wait for the result to be stored (else ``ResultMissing``
            when it is not there yet).
          timeout: milliseconds to wait when blocking (``ResultTimeout``);
            by default 10 seconds.
        """
        if backend is None:
            from .broker import get_broker

            backend = get_broker().get_results_backend()
        return backend.get_result(self, block=block, timeout=timeout)

    def cancel(self, *, broker: Optional[Broker] = None, ttl: Optional[int] = None) -> None:
        """Cancel this message (see ``dramatiq.cancel``).

        Parameters:
          broker: the broker it was sent to; by default the global broker.
          ttl: milliseconds the cancellation is remembered (a day by default).
        """
        from .cancellation import cancel

        cancel(self, broker=broker, ttl=ttl)

    def __str__(self) -> str:
        params = ", ".join(repr(arg) for arg in self.args)
        if self.kwargs:
            params += ", " if params else ""
            params += ", ".join("%s=%r" % (name, value) for name, value in self.kwargs.items())
        return "%s(%s)" % (self.actor_name, params)

    def __lt__(self, other: Message[Any]) -> bool:
        return dataclasses.astuple(self) < dataclasses.astuple(other)

    @property
    def _fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))

    @property
    def _field_defaults(self) -> dict[str, Any]:
        return {}

    def _replace(self, **changes: Any) -> Message[R]:
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
