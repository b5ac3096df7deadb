"""Message encoders. ``JSONEncoder`` runs in the C++ engine; any other
``Encoder`` subclass is called from the engine through an adapter."""

from __future__ import annotations

import abc
import json
import pickle
from typing import Any, Dict

from . import _engine
from .errors import DecodeError

MessageData = Dict[str, Any]

#: How deeply lists and dicts may nest in a JSON message (the outermost
#: counts), for encoding and decoding alike: whatever ``JSONEncoder`` writes
#: it reads back.  Deeper data raises ``RecursionError`` when encoded, as
#: ``json.dumps`` does; Python's json module stops at its recursion limit
#: (1000 by default, less the frames already on the stack), so this accepts
#: everything upstream Dramatiq writes.
MAX_NESTING_DEPTH = _engine.MAX_JSON_DEPTH


class Encoder(abc.ABC):
    """Base class for message encoders: ``encode(dict) -> bytes`` and
    ``decode(bytes) -> dict``."""

    @abc.abstractmethod
    def encode(self, data: MessageData) -> bytes:
        """Encode message data to bytes.

        Parameters:
          data: the message's fields, as ``Message.asdict()`` gives them.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def decode(self, data: bytes) -> MessageData:
        """Decode bytes to message data; raise ``DecodeError`` on bad input.

        Parameters:
          data: the encoded message.
        """
        raise NotImplementedError


class JSONEncoder(Encoder):
    """JSON, byte-identical to upstream's output (compact separators,
    ASCII-escaped, lone surrogates escaped as ``json.dumps`` escapes them).
    Encoding and decoding happen in C++.  A list or dict that holds itself
    raises ``ValueError``; nesting deeper than ``MAX_NESTING_DEPTH`` raises
    ``RecursionError``."""

    def encode(self, data: MessageData) -> bytes:
        """Encode ``data`` as compact JSON bytes.

        Parameters:
          data: the message's fields.
        """
        return _engine.json_dumps(data)

    def decode(self, data: bytes) -> MessageData:
        """Decode JSON bytes; raises ``DecodeError`` carrying the cause.

        Parameters:
          data: UTF-8 JSON bytes.
        """
        try:
            return _engine.json_loads(data)
        except ValueError:
            pass
        # Error path only: let Python's decoders name the exact cause
        # (UnicodeDecodeError / JSONDecodeError), as upstream reports it.
        try:
            text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        except UnicodeDecodeError as e:
            raise DecodeError("failed to decode data %r" % (data,), data, e) from None
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise DecodeError("failed to decode message %r" % (text,), text, e) from None
        raise DecodeError("failed to decode message %r" % (text,), text, None)


class PickleEncoder(Encoder):
    """Pickle: any Python object. Only use it with trusted producers."""

    def encode(self, data: MessageData) -> bytes:
        """Pickle ``data``.

        Parameters:
          data: the message's fields.
        """
        return pickle.dumps(data)

    def decode(self, data: bytes) -> MessageData:
        """Unpickle ``data``.

        Parameters:
          data: pickled bytes (only ever from a trusted sender).
        """
        return pickle.loads(data)
