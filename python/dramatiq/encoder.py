"""Message encoders. ``JSONEncoder`` runs in the C++ engine; any other
``Encoder`` subclass is called from the engine through an adapter."""

from __future__ import annotations

import pickle
from typing import Any, Dict

from . import _engine

MessageData = Dict[str, Any]


class Encoder:
    """Base class for message encoders: ``encode(dict) -> bytes`` and
    ``decode(bytes) -> dict``."""

    def encode(self, data: MessageData) -> bytes:
        """Encode message data to bytes."""
        raise NotImplementedError

    def decode(self, data: bytes) -> MessageData:
        """Decode bytes to message data; raise ``DecodeError`` on bad input."""
        raise NotImplementedError


class JSONEncoder(Encoder):
    """JSON, byte-identical to upstream's output (compact separators,
    ASCII-escaped). Encoding and decoding happen in C++."""

    def encode(self, data: MessageData) -> bytes:
        """Encode ``data`` as compact JSON bytes."""
        return _engine.json_dumps(data)

    def decode(self, data: bytes) -> MessageData:
        """Decode JSON bytes."""
        return _engine.json_loads(data)


class PickleEncoder(Encoder):
    """Pickle: any Python object. Only use it with trusted producers."""

    def encode(self, data: MessageData) -> bytes:
        """Pickle ``data``."""
        return pickle.dumps(data)

    def decode(self, data: bytes) -> MessageData:
        """Unpickle ``data``."""
        return pickle.loads(data)
