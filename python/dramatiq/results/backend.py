"""ResultBackend: the base class of result backends.

The engine (C++) builds keys, stores results and waits for them. A Python
subclass that implements ``_get`` and ``_store`` (as upstream's API asks)
plugs into the engine through an adapter, so blocking waits and the
Results middleware still run in C++."""

from __future__ import annotations

import typing

from .. import _engine
from ..encoder import JSONEncoder
from .errors import ResultMissing, ResultTimeout
from .result import unwrap_result

__all__ = ["DEFAULT_TIMEOUT", "Missing", "ResultBackend", "ResultMissing", "ResultTimeout"]

#: How long (ms) a blocking get_result waits when no timeout is given.
DEFAULT_TIMEOUT = _engine.ResultBackend.DEFAULT_TIMEOUT


class _MissingType:
    """What ``_get`` returns when no result is stored."""

    def __repr__(self) -> str:
        return "Missing"


#: The sentinel ``_get`` returns for a key with no result.
Missing = _MissingType()


def _overrides(instance, name: str) -> bool:
    return getattr(type(instance), name) is not getattr(ResultBackend, name)


class ResultBackend:
    """Stores actor results and gets them back.

    Parameters:
      namespace: prefix of every result key.
      encoder: encodes stored results (default: the global encoder).
      use_namespace_prefix_keys: keys ``<namespace>:<queue>:<actor>:<id>``
        instead of their md5 hex digest.
    """

    def __init__(self, *, namespace: str = "dramatiq-results", encoder=None,
                 use_namespace_prefix_keys: bool = False) -> None:
        from ..message import get_encoder

        self.namespace = namespace
        self.encoder = encoder or get_encoder()
        self.use_namespace_prefix_keys = use_namespace_prefix_keys
        self._native = self._make_native()

    def _make_native(self):
        # Subclasses backed by a native backend return it here; a plain
        # Python subclass gets the adapter that calls its _get/_store.
        return _engine.PythonResultBackend(
            self, Missing, _overrides(self, "build_message_key"), self.namespace, self.use_namespace_prefix_keys
        )

    def unwrap_result(self, res):
        """The result itself, or ``ResultFailure`` raised for a stored failure.
        Override it together with how results are stored, if you change that.

        Parameters:
          res: a value as stored.
        """
        return unwrap_result(res)

    def get_result(self, message, *, block: bool = False, timeout: typing.Optional[int] = None):
        """Get the result of ``message``.

        Raises ``ResultMissing`` when none is stored and ``block`` is
        false, ``ResultTimeout`` when none arrives within ``timeout`` ms
        (default 10 s) while blocking, ``ResultFailure`` when the actor
        failed. Blocking releases the GIL and returns as soon as the
        result is stored.

        Parameters:
          message: the message whose result to get.
          block: wait for the result to be stored.
          timeout: milliseconds to wait, when blocking.
        """
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        return self.unwrap_result(self._native.get_stored(message, block, timeout))

    def store_result(self, message, result, ttl: int) -> None:
        """Store ``result`` for ``message`` for ``ttl`` ms.

        Parameters:
          message: the message the result is of.
          result: what the actor returned.
          ttl: milliseconds the result is kept.
        """
        self._native.store_result(message, result, ttl)

    def store_exception(self, message, exception: Exception, ttl: int) -> None:
        """Store ``exception`` as ``message``'s failure for ``ttl`` ms.

        Parameters:
          message: the message that failed.
          exception: what it raised.
          ttl: milliseconds the failure is kept.
        """
        self._native.store_exception(message, exception, ttl)

    def build_message_key(self, message) -> str:
        """The key of ``message``'s result.

        Parameters:
          message: the message whose result it is.
        """
        return self._native.default_message_key(message)

    def _get(self, message_key: str):
        """The stored (decoded) value under ``message_key``, or ``Missing``.
        Python subclasses implement it."""
        raise NotImplementedError("%r does not implement _get()" % type(self).__name__)

    def _store(self, message_key: str, result, ttl: int) -> None:
        """Store ``result`` (not yet encoded) under ``message_key`` for ``ttl``
        ms. Python subclasses implement it."""
        raise NotImplementedError("%r does not implement _store()" % type(self).__name__)


class NativeResultBackend(ResultBackend):
    """Base of the backends implemented in the engine (not public API)."""

    def _get(self, message_key: str):
        return self._native.get(message_key, Missing)

    def _store(self, message_key: str, result, ttl: int) -> None:
        self._native.put(message_key, result, ttl)
