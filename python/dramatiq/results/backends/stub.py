"""StubBackend: results in this process's memory (for tests)."""

from __future__ import annotations

from ... import _engine
from ...encoder import JSONEncoder
from ..backend import NativeResultBackend


class StubBackend(NativeResultBackend):
    """An in-memory result backend, for tests. Blocking waits return as
    soon as the result is stored.

    Parameters:
      namespace, encoder, use_namespace_prefix_keys: as ``ResultBackend``.
    """

    def _make_native(self):
        return _engine.StubResultBackend(self.namespace, self.use_namespace_prefix_keys, self.encoder, JSONEncoder)

    def clear(self) -> None:
        """Forget every stored result."""
        self._native.clear()
