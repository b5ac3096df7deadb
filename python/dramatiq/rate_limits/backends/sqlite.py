"""SQLiteBackend: counters in an SQLite file on this host, with no server."""

from __future__ import annotations

import os
from typing import Optional, Union

from ... import _engine
from ._native import NativeBackend


class SQLiteBackend(NativeBackend):
    """A backend in an SQLite file shared by every process on this host
    that opens it (in the engine). By default it is the embedded broker's
    file (``dramatiq.brokers.sqlite.DEFAULT_PATH``); any other local file
    works too. Each operation is one write transaction, atomic across
    processes; expired counters read as missing and are purged by later
    writes. ``wait`` sleeps until ``wait_notify`` is committed by any
    process (a futex doorbell next to the file), without polling.

    Parameters:
      path(str): the database file (created with its directory if
        missing); default ``dramatiq.brokers.sqlite.DEFAULT_PATH``. It must
        be on a local file system.
      url(str): ``sqlite:///absolute/path`` (the broker's URL form,
        options included: ``?durable=1``, ``busy_timeout=``; broker-only
        options are ignored), instead of ``path``.
      durable(bool): every commit also survives power loss
        (``synchronous=FULL``).
      busy_timeout(int): ms one write waits for another process's lock
        before trying again.
    """

    def __init__(self, *, path: Optional[Union[str, os.PathLike[str]]] = None, url: Optional[str] = None,
                 durable: Optional[bool] = None, busy_timeout: Optional[int] = None) -> None:
        self._native = _engine.SQLiteRateLimiterBackend(
            None if path is None else str(path), url, durable, busy_timeout
        )
        self.url = url

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    @property
    def durable(self):
        """Whether commits also survive power loss."""
        return self._native.durable

    def __repr__(self):
        return "SQLiteBackend(path=%r)" % (self.path,)


SQLiteBackend._native_class = SQLiteBackend
