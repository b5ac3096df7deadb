"""RedisBroker: queues in Redis, with upstream Dramatiq's key layout so
upstream workers and producers can share them. The engine (C++) does all
the Redis work; this module only forwards the configuration."""

from __future__ import annotations

from typing import Optional

from .. import _engine
from .._redis import engine_connection, redis_py_client
from ..broker import Broker

# The engine's defaults, shown here as upstream shows them.
#: Out of MAINTENANCE_SCALE script calls (fetches, heartbeats, joins; not
#: enqueues), how many also run queue maintenance.
DEFAULT_MAINTENANCE_CHANCE = _engine.REDIS_DEFAULT_MAINTENANCE_CHANCE

#: What ``maintenance_chance`` is out of (a million).
MAINTENANCE_SCALE = _engine.REDIS_MAINTENANCE_SCALE

#: How long (ms) dead-lettered messages are kept.
DEFAULT_DEAD_MESSAGE_TTL = _engine.REDIS_DEFAULT_DEAD_MESSAGE_TTL

#: How long (ms) a worker may go unheard before it is presumed dead and its
#: unacknowledged messages go back to their queues.
DEFAULT_HEARTBEAT_TIMEOUT = _engine.REDIS_DEFAULT_HEARTBEAT_TIMEOUT


_SETTLEMENT_METHODS = ("do_ack", "do_nack")


def _id_text(message_id) -> str:
    return message_id.decode() if isinstance(message_id, bytes) else message_id


class RedisBroker(Broker):
    """A broker backed by Redis.

    Parameters:
      url: a connection URL (``redis://``, ``rediss://`` for TLS,
        ``unix://``); it wins over connection parameters.
      middleware: the middleware list (default: the default middleware).
      namespace: the prefix of every key.
      maintenance_chance: out of a million script calls (fetches,
        heartbeats, joins; not enqueues), how many also run maintenance
        (requeueing dead workers' messages, expiring dead letters);
        default ``DEFAULT_MAINTENANCE_CHANCE``.
      heartbeat_timeout: ms without a heartbeat before a worker is
        presumed dead; default ``DEFAULT_HEARTBEAT_TIMEOUT``.
      dead_message_ttl: ms dead-lettered messages are kept; default
        ``DEFAULT_DEAD_MESSAGE_TTL``.
      client: a redis-py client; its connection parameters are used (and
        ``url`` and the other parameters are not, as upstream).
      **parameters: connection parameters, named as redis-py names them
        (host, port, db, username, password, unix_socket_path, ssl,
        ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs,
        socket_timeout, socket_connect_timeout, client_name, ...).
    """

    def __init__(self, *, url=None, middleware=None, namespace="dramatiq", maintenance_chance=None,
                 heartbeat_timeout=None, dead_message_ttl=None, client=None, **parameters):
        engine_url, parameters = engine_connection(client, url, parameters)
        self._native = _engine.RedisBroker(
            engine_url, parameters, namespace, heartbeat_timeout, dead_message_ttl, maintenance_chance
        )
        self.url = url
        self.namespace = namespace
        self._parameters = parameters
        self._client = client
        super().__init__(middleware=middleware)

    @property
    def maintenance_chance(self) -> int:
        """Out of a million script calls, how many also run maintenance
        (settable: later calls use the new value)."""
        return self._native.maintenance_chance

    @maintenance_chance.setter
    def maintenance_chance(self, value: int) -> None:
        self._native.maintenance_chance = value

    @property
    def heartbeat_timeout(self) -> int:
        """Milliseconds without a heartbeat before a worker is presumed
        dead (settable)."""
        return self._native.heartbeat_timeout

    @heartbeat_timeout.setter
    def heartbeat_timeout(self, value: int) -> None:
        self._native.heartbeat_timeout = value

    @property
    def dead_message_ttl(self) -> int:
        """Milliseconds dead-lettered messages are kept (settable)."""
        return self._native.dead_message_ttl

    @dead_message_ttl.setter
    def dead_message_ttl(self, value: int) -> None:
        self._native.dead_message_ttl = value

    def do_qsize(self, queue_name: str) -> int:
        """Upstream's count of a queue's messages: those of the queue and
        its delay queue in Redis, plus those this broker holds unsettled
        (counted twice). Runs maintenance as often as other script calls.

        Parameters:
          queue_name(str): the queue (or its delay queue: the same count).
        """
        return self._native.queue_size(queue_name)

    def do_enqueue(self, queue_name: str, message_id, message_data: bytes) -> None:
        """Add already-encoded message bytes to a queue under a Redis
        message id, as upstream's script command does (for tools that work
        on the key layout; ``enqueue`` is what applications call).

        Parameters:
          queue_name(str): the queue (or delay queue) to add to.
          message_id(str | bytes): the id in the queue's hash and list.
          message_data(bytes): the encoded message.
        """
        self._native.enqueue_encoded(queue_name, _id_text(message_id), bytes(message_data))

    def do_fetch(self, queue_name: str, prefetch: int) -> list:
        """Take up to ``prefetch`` messages off a queue into this broker's
        set of unacknowledged messages and return their bytes. Nothing
        acks them: a worker's consumer does that for what it fetched, and
        maintenance returns them to the queue once this broker's heartbeat
        is older than ``heartbeat_timeout``.

        Parameters:
          queue_name(str): the queue (or delay queue) to take from.
          prefetch(int): how many messages to take at most.
        """
        return self._native.fetch_encoded(queue_name, prefetch)

    def do_ack(self, queue_name: str, message_id) -> None:
        """Ack one message this broker took from a queue, at once, by its
        Redis id (``message.options["redis_message_id"]``); an id not among
        this broker's unacknowledged messages is left alone. Replacing this
        method on a broker (``mock.patch.object``) makes the worker settle
        each message through the replacement, which may raise
        ``ConnectionError`` to have the ack retried.

        Parameters:
          queue_name(str): the queue (or delay queue) it was taken from.
          message_id(str | bytes): its Redis message id.
        """
        self._native.settle_encoded(queue_name, _id_text(message_id), True)

    def do_nack(self, queue_name: str, message_id) -> None:
        """Move one message this broker took from a queue to the dead
        letters, at once, by its Redis id; as ``do_ack`` otherwise.

        Parameters:
          queue_name(str): the queue (or delay queue) it was taken from.
          message_id(str | bytes): its Redis message id.
        """
        self._native.settle_encoded(queue_name, _id_text(message_id), False)

    def __setattr__(self, name, value) -> None:
        super().__setattr__(name, value)
        if name in _SETTLEMENT_METHODS:
            self._route_settlements()

    def __delattr__(self, name) -> None:
        super().__delattr__(name)
        if name in _SETTLEMENT_METHODS:
            self._route_settlements()

    def _route_settlements(self) -> None:
        # do_ack/do_nack set on the instance replace the engine's batched
        # settlements (the slow path, only while they are there).
        self._native.set_host_settlement(self.__dict__.get("do_ack"), self.__dict__.get("do_nack"))

    @property
    def broker_id(self) -> str:
        """This broker's worker id in Redis (heartbeats, ack sets).
        Settable, as upstream's attribute: later calls use the new id, and
        what was fetched under the old one stays in the old id's ack sets
        until maintenance returns it to its queues."""
        return self._native.broker_id

    @broker_id.setter
    def broker_id(self, value: str) -> None:
        self._native.broker_id = value

    @property
    def queues(self) -> set:
        """The names of the declared queues."""
        return self.get_declared_queues()

    @property
    def delay_queues(self) -> set:
        """The names of the declared delay queues."""
        return self.get_declared_delay_queues()

    @property
    def client(self):
        """A redis-py client to the same server, for your own inspection
        (the engine never uses it). Needs the ``redis`` package."""
        if self._client is None:
            self._client = redis_py_client("RedisBroker", self.url, self._parameters)
        return self._client

    def ping(self) -> None:
        """Check the server answers; raises ``ConnectionFailed`` or
        ``ConnectionClosed`` when it cannot be reached."""
        self._native.ping()

    def flush(self, queue_name: str) -> None:
        """Drop every message of a queue: waiting, delayed and dead-lettered.

        Parameters:
          queue_name: the queue's name.
        """
        self._native.flush(queue_name)

    def join(self, queue_name: str, *, interval: int = 100, timeout: Optional[int] = None) -> None:
        """Wait until ``queue_name`` and its delay queue hold no message
        that is waiting or being processed (for tests).

        Raises ``QueueJoinTimeout`` after ``timeout`` ms.

        Parameters:
          queue_name: the queue to wait for.
          interval: milliseconds between two checks of the queue.
          timeout: milliseconds to wait at most; None waits as long as it takes.
        """
        self._native.join(queue_name, timeout, False, interval)
