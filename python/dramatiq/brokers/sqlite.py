"""SQLiteBroker: the embedded broker. Queues live in an SQLite file that
every process on the host can open — producers and the ``dramatiq``
command's worker processes alike — so nothing needs a server. The engine
(C++) does all the work; this module forwards the configuration.

With no broker configured, ``dramatiq.get_broker()`` returns one on
``DEFAULT_PATH``."""

from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Tuple, Union

from .. import _engine
from ..broker import Broker
from ..broker import DeadLetter as DeadLetter  # re-exported: it was first defined here
from ..message import Message

#: The file used when no path is given: ``$XDG_DATA_HOME/dramatiq/broker.sqlite3``
#: (``~/.local/share/dramatiq/broker.sqlite3`` when XDG_DATA_HOME is unset).
DEFAULT_PATH = _engine.sqlite_default_path()

#: How long (ms) a worker process on another host or pid namespace may go
#: unheard before its leased messages return to their queue. (On this host a
#: dead process is recognised within a heartbeat, about a second.)
DEFAULT_HEARTBEAT_TIMEOUT = _engine.SQLITE_DEFAULT_HEARTBEAT_TIMEOUT

#: How long (ms) dead-lettered messages are kept.
DEFAULT_DEAD_MESSAGE_TTL = _engine.SQLITE_DEFAULT_DEAD_MESSAGE_TTL

#: How long (ms) one write waits for another process's lock before retrying.
DEFAULT_BUSY_TIMEOUT = _engine.SQLITE_DEFAULT_BUSY_TIMEOUT


class SQLiteBroker(Broker):
    """A broker in an SQLite file on this host, shared by every process
    that opens the same file. A fetched message is leased to its worker and
    deleted only once processed; the leases of a worker process that dies
    return to the queue within about a second.

    Parameters:
      path: the database file (created with its directory if missing);
        default ``DEFAULT_PATH``. It must be on a local file system.
      url: ``sqlite:///absolute/path`` or ``sqlite://relative/path``, with
        optional ``?durable=1``, ``heartbeat_timeout=``, ``dead_message_ttl=``,
        ``busy_timeout=`` (instead of ``path`` and the keyword arguments).
      durable: when true, a send returns once its message is committed
        and synced (``synchronous=FULL``: survives power loss); by default a
        send returns once its message is in this process's spool file beside
        the database, moved into the queues by the next write of any
        process: it survives any crash of a process, but the last sends may
        be lost if the machine loses power (``synchronous=NORMAL``).
      middleware: the middleware list (default: the default middleware).
      heartbeat_timeout: ms a worker on another host may go unheard before
        its messages return; default ``DEFAULT_HEARTBEAT_TIMEOUT``.
      dead_message_ttl: ms dead letters are kept; default
        ``DEFAULT_DEAD_MESSAGE_TTL``.
      busy_timeout: ms one write waits for another process's lock before
        trying again; default ``DEFAULT_BUSY_TIMEOUT``.

    Delayed messages stay on their own queue with a due time (there are no
    ``.DQ`` queues); ``broker_priority`` orders a queue (higher first).
    """

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        url: Optional[str] = None,
        durable: Optional[bool] = None,
        middleware: Optional[list] = None,
        heartbeat_timeout: Optional[int] = None,
        dead_message_ttl: Optional[int] = None,
        busy_timeout: Optional[int] = None,
    ) -> None:
        if url is not None:
            if path is not None:
                raise TypeError("SQLiteBroker takes a path or a url, not both")
            path, url_durable, url_heartbeat, url_ttl, url_busy = _engine.sqlite_url_options(url)
            durable = url_durable if durable is None else durable
            if "heartbeat_timeout=" in url and heartbeat_timeout is None:
                heartbeat_timeout = url_heartbeat
            if "dead_message_ttl=" in url and dead_message_ttl is None:
                dead_message_ttl = url_ttl
            if "busy_timeout=" in url and busy_timeout is None:
                busy_timeout = url_busy
        self._native = _engine.SQLiteBroker(
            DEFAULT_PATH if path is None else str(path),
            bool(durable),
            heartbeat_timeout,
            dead_message_ttl,
            busy_timeout,
        )
        self.url = url
        super().__init__(middleware=middleware)

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    @property
    def durable(self) -> bool:
        """Whether sends are committed and synced (survive power loss)."""
        return self._native.durable

    @property
    def heartbeat_timeout(self) -> int:
        """Milliseconds a worker on another host may go unheard."""
        return self._native.heartbeat_timeout

    @property
    def dead_message_ttl(self) -> int:
        """Milliseconds dead-lettered messages are kept."""
        return self._native.dead_message_ttl

    @property
    def queues(self) -> set:
        """The names of the declared queues."""
        return self.get_declared_queues()

    @property
    def delay_queues(self) -> set:
        """Always empty: delayed messages wait on their own queue."""
        return self.get_declared_delay_queues()

    def get_queue_message_counts(self, queue_name: str) -> Tuple[int, int, int]:
        """``(waiting, delayed, dead-lettered)`` message counts of a queue,
        in the order upstream's RabbitmqBroker returns them.

        Parameters:
          queue_name: the queue.
        """
        counts = self._native.queue_counts(queue_name)
        return counts["ready"] + counts["in_flight"], counts["delayed"], counts["dead"]

    def flush(self, queue_name: str) -> None:
        """Drop every message of a queue: waiting, delayed, leased and dead-lettered.

        Parameters:
          queue_name: the queue.
        """
        self._native.flush(queue_name)

    def join(
        self,
        queue_name: str,
        *,
        interval: int = 100,
        timeout: Optional[int] = None,
        fail_fast: bool = False,
    ) -> None:
        """Wait until ``queue_name`` holds no message that is waiting,
        delayed or being processed, by any process (for tests).

        Parameters:
          queue_name: the queue.
          interval: ms between two counts.
          timeout: ms to wait at most; raises ``QueueJoinTimeout`` after it.
          fail_fast: raise the exception of the queue's first dead letter
            once the queue is done, if there is one.
        """
        self._native.join(queue_name, timeout, fail_fast, interval)
