"""SQLiteBackend: results in an SQLite file on this host, with no server."""

from __future__ import annotations

from typing import Optional

from ... import _engine
from ...encoder import JSONEncoder
from ..backend import NativeResultBackend


class SQLiteBackend(NativeResultBackend):
    """A result backend in an SQLite file shared by every process on this
    host that opens it (in the engine). By default it is the embedded
    broker's file (``dramatiq.brokers.sqlite.DEFAULT_PATH``), so the
    Results middleware needs nothing configured next to an SQLiteBroker;
    any other local file works too. A blocking ``get_result`` sleeps until
    the result is committed by any process (a futex doorbell next to the
    file), without polling. Expired results read as missing and are purged
    by later stores.

    Parameters:
      namespace, encoder, use_namespace_prefix_keys: as ``ResultBackend``.
      path: the database file (created with its directory if missing);
        default ``dramatiq.brokers.sqlite.DEFAULT_PATH``. It must be on a
        local file system.
      url: ``sqlite:///absolute/path`` (the broker's URL form, options
        included: ``?durable=1``, ``busy_timeout=``; broker-only options are
        ignored), instead of ``path``.
      durable: every commit also survives power loss (``synchronous=FULL``).
      busy_timeout: ms one write waits for another process's lock before
        trying again.
    """

    def __init__(self, *, namespace: str = "dramatiq-results", encoder=None, use_namespace_prefix_keys: bool = False,
                 path: Optional[str] = None, url: Optional[str] = None, durable: Optional[bool] = None,
                 busy_timeout: Optional[int] = None) -> None:
        self._file = (None if path is None else str(path), url, durable, busy_timeout)
        self.url = url
        super().__init__(namespace=namespace, encoder=encoder, use_namespace_prefix_keys=use_namespace_prefix_keys)

    def _make_native(self):
        return _engine.SQLiteResultBackend(
            *self._file, self.namespace, self.use_namespace_prefix_keys, self.encoder, JSONEncoder
        )

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    @property
    def durable(self) -> bool:
        """Whether commits also survive power loss."""
        return self._native.durable
