"""RabbitmqBroker: queues on RabbitMQ, declared and used as upstream
Dramatiq declares and uses them, so upstream workers and producers can
share them. The engine (C++, rabbitmq-c) does all the AMQP work; this
module only forwards the configuration. pika is not needed, except for the
``connection`` and ``channel`` properties (your own introspection)."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Optional, Union

from .. import _engine
from ..broker import Broker, Consumer
from ..errors import QueueJoinTimeout

if TYPE_CHECKING:
    from ..middleware import Middleware

#: How long (ms) dead-lettered messages are kept (the x-message-ttl of the
#: ``.XQ`` queues; the ``dramatiq_dead_message_ttl`` environment variable
#: overrides it, as upstream).
DEAD_MESSAGE_TTL = _engine.RABBITMQ_DEFAULT_DEAD_MESSAGE_TTL

#: Attempts of one enqueue (and of one declaration) when the connection
#: breaks, before ``ConnectionClosed`` is raised.
MAX_ENQUEUE_ATTEMPTS = 6
MAX_DECLARE_ATTEMPTS = 2



#: pika's loggers that report a connection the server already dropped.
_PIKA_CONNECTION_LOGGERS = ("pika.adapters.base_connection", "pika.adapters.blocking_connection")


class _IgnoreScaryLogs(logging.Filter):
    """Drops pika's "Broken pipe" records: a pika connection (``broker.
    connection``) left idle past its heartbeat is closed by the server,
    and closing it then is not worth an error in the logs."""

    def filter(self, record) -> bool:
        return "Broken pipe" not in record.getMessage()


def _quiet_pika_connection_logs() -> None:
    for name in _PIKA_CONNECTION_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _IgnoreScaryLogs) for f in target.filters):
            target.addFilter(_IgnoreScaryLogs())


class URLParameters:
    """Connection parameters read from an ``amqp://`` or ``amqps://`` URL,
    as pika's ``URLParameters`` (``RabbitmqBroker(url=...)`` takes the URL
    itself; this class is for code that builds parameters by hand).

    Parameters:
      url: ``amqp[s]://[user[:password]@]host[:port][/vhost][?options]``.
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str) or _scheme_or_none(url) not in ("amqp", "amqps"):
            shown = _engine.redacted_url(url) if isinstance(url, str) else url
            raise ValueError("expected an amqp:// or amqps:// URL, got %r" % (shown,))
        self.url = url

    def __repr__(self) -> str:
        return "URLParameters(%r)" % _engine.redacted_url(self.url)



def _scheme_or_none(url: str) -> Optional[str]:
    try:
        return _engine.broker_url_scheme(url)
    except ValueError:
        return None


def _parameter_dict(parameters: dict) -> dict:
    """pika keyword parameters as the engine takes them: credentials as
    username/password, ssl_options as ssl_* settings."""
    converted = {}
    for key, value in parameters.items():
        if key == "credentials":
            if value is not None:
                converted["username"] = getattr(value, "username", None)
                converted["password"] = getattr(value, "password", None)
        elif key == "ssl_options":
            if value is not None:
                converted.update(_ssl_settings(value))
        else:
            converted[key] = value
    return {key: value for key, value in converted.items() if value is not None}


def _ssl_settings(ssl_options) -> dict:
    """TLS settings from a pika ``SSLOptions`` (its ``ssl.SSLContext``) or
    a dict of ``ca_certs``/``certfile``/``keyfile``/``cert_reqs``.

    From an ``SSLContext`` the engine takes the verification mode, the
    host-name check and the CA certificates loaded into it (written to a
    file the engine's TLS reads); a client certificate loaded into a
    context cannot be read back out of it: give ``certfile``/``keyfile``
    in a dict for that."""
    settings = {"ssl": True}
    if isinstance(ssl_options, dict):
        for key in ("ca_certs", "certfile", "keyfile", "cert_reqs"):
            if key in ssl_options:
                settings["ssl_" + key] = ssl_options[key]
        return settings
    context = getattr(ssl_options, "context", None)
    if context is not None:
        import ssl

        if context.verify_mode == ssl.CERT_NONE:
            settings["ssl_cert_reqs"] = 0
        else:
            authorities = context.get_ca_certs(binary_form=True)
            if authorities:
                settings["ssl_ca_certs"] = _authorities_file(authorities)
        settings["ssl_check_hostname"] = bool(context.check_hostname)
    return settings


def _authorities_file(authorities) -> str:
    """A PEM file of the DER certificates ``authorities``, removed when
    the interpreter exits (reconnections read it again)."""
    import atexit
    import ssl
    import tempfile

    fd, path = tempfile.mkstemp(prefix="dramatiq-rabbitmq-ca-", suffix=".pem")
    with os.fdopen(fd, "w") as f:
        f.write("".join(ssl.DER_cert_to_PEM_cert(der) for der in authorities))
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class RabbitmqBroker(Broker):
    """A broker backed by RabbitMQ.

    Queues ``<q>``, ``<q>.DQ`` (delayed) and ``<q>.XQ`` (dead letters) are
    durable and declared exactly as upstream declares them; messages are
    published persistent, with their ``broker_priority`` option as the
    AMQP priority (higher runs first: the opposite of an actor's
    ``priority``).

    Parameters:
      confirm_delivery: wait for RabbitMQ to confirm every enqueue (and
        detect, and declare again, queues that disappeared).
      url: a connection URL (``amqp://``, ``amqps://`` for TLS), a list
        of them, or several separated by ``;``: tried in order (fail-over).
        Cannot be combined with connection parameters.
      middleware: the middleware list (default: the default middleware).
      max_priority: queues get ``x-max-priority`` (1..255) for
        ``broker_priority``.
      parameters: a list of connection-parameter dicts (pika's names),
        one per server, tried in order.
      **kwargs: the connection parameters of one server, named as pika's
        ``ConnectionParameters`` (host, port, virtual_host, credentials,
        heartbeat, connection_attempts, retry_delay, socket_timeout,
        blocked_connection_timeout, channel_max, frame_max, ssl_options).
    """

    def __init__(
        self,
        *,
        confirm_delivery: bool = False,
        url: Optional[Union[str, list[str]]] = None,
        middleware: Optional[list[Middleware]] = None,
        max_priority: Optional[int] = None,
        parameters: Optional[list[dict[str, Any]]] = None,
        **kwargs: Any,
    ) -> None:
        if url is not None:
            if parameters is not None or kwargs:
                raise RuntimeError("the 'url' argument cannot be used in conjunction with pika parameters")
            urls = url.split(";") if isinstance(url, str) else list(url)
            urls = [getattr(u, "url", u) for u in urls]
            dicts: list = []
        elif parameters is not None:
            if kwargs:
                raise RuntimeError(
                    "the 'parameters' argument cannot be used in conjunction with other pika parameters"
                )
            urls, dicts = [], [_parameter_dict(p) for p in parameters]
        else:
            urls, dicts = [], [_parameter_dict(kwargs)]
        self._native = _engine.RabbitmqBroker(urls, dicts, bool(confirm_delivery), max_priority)
        self._urls = urls
        self._parameter_dicts = [dict(p) for p in parameters] if parameters is not None else [dict(kwargs)]
        #: Per-thread pika connection and channel (upstream's attribute).
        self.state = threading.local()
        self._pika_connections: set = set()
        super().__init__(middleware=middleware)
        if type(self)._declare_queue is not RabbitmqBroker._declare_queue:
            self._native.set_queue_declarer(self)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "_declare_queue":
            # Replaced on this broker (a test's patch): the engine calls it
            # where it creates a queue on the server.
            self._native.set_queue_declarer(self)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        if name == "_declare_queue" and type(self)._declare_queue is RabbitmqBroker._declare_queue:
            self._native.set_queue_declarer(None)

    # ---- configuration

    @property
    def confirm_delivery(self) -> bool:
        """Whether enqueues wait for RabbitMQ's confirmation (settable)."""
        return self._native.confirm_delivery

    @confirm_delivery.setter
    def confirm_delivery(self, value: bool) -> None:
        self._native.confirm_delivery = bool(value)

    @property
    def max_priority(self) -> Optional[int]:
        """The queues' ``x-max-priority``, or None."""
        return self._native.max_priority

    @property
    def queues(self) -> set:
        """The names of the declared queues."""
        return self.get_declared_queues()

    @property
    def delay_queues(self) -> set:
        """The names of the declared delay queues."""
        return self.get_declared_delay_queues()

    @property
    def parameters(self):
        """pika connection parameters for the configured servers (needs
        pika): what ``connection`` connects with."""
        import pika

        if self._urls:
            found = [pika.URLParameters(u) for u in self._urls]
        else:
            found = [pika.ConnectionParameters(**p) for p in self._parameter_dicts]
        return found if len(found) > 1 else found[0]

    # ---- pika objects for users' own introspection (the engine never uses them)

    @property
    def connection(self):
        """A ``pika.BlockingConnection`` to the same server, for this
        thread (needs pika). The engine never uses it."""
        connection = getattr(self.state, "connection", None)
        if connection is None or not connection.is_open:
            import pika

            connection = self.state.connection = pika.BlockingConnection(self.parameters)
            self._pika_connections.add(connection)
        return connection

    @connection.deleter
    def connection(self):
        del self.channel
        connection = getattr(self.state, "connection", None)
        if connection is None:
            return
        del self.state.connection
        self._pika_connections.discard(connection)
        if connection.is_open:
            try:
                connection.close()
            except Exception:
                self.logger.debug("Error closing a pika connection.", exc_info=True)

    @property
    def channel(self):
        """A pika channel on ``connection``, for this thread (needs pika)."""
        channel = getattr(self.state, "channel", None)
        if channel is None or not channel.is_open:
            channel = self.state.channel = self.connection.channel()
        return channel

    @channel.deleter
    def channel(self):
        channel = getattr(self.state, "channel", None)
        if channel is None:
            return
        del self.state.channel
        if channel.is_open:
            try:
                channel.close()
            except Exception:
                self.logger.debug("Error closing a pika channel.", exc_info=True)

    # ---- queues

    def declare_queue(self, queue_name: str, *, ensure: bool = False) -> None:
        """Declare a queue (and its delay queue) on this broker; it is
        created on the server when first used.

        Parameters:
          queue_name: the queue (a ``.DQ`` name declares its queue).
          ensure: create its queues on the server now if not done yet;
            raises ``ConnectionClosed`` when that fails.
        """
        if ensure:
            self._native.ensure_queue(queue_name)
        else:
            from ..common import q_name

            self._native.declare_queue(q_name(queue_name))

    def _declare_queue(self, queue_name: str) -> None:
        """Create the queue itself on the server (its delay and dead-letter
        queues are declared after it). The engine does this step itself,
        unless this method was replaced (on the class or on this broker):
        then it calls the replacement, and a pika ``AMQPConnectionError``
        or ``AMQPChannelError`` (or a dramatiq ``ConnectionError``) from it
        fails that attempt, up to ``MAX_DECLARE_ATTEMPTS``.

        Parameters:
          queue_name: the canonical queue name.
        """
        self._native.declare_main_queue(queue_name)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """A consumer of one queue (declared, and created on the server,
        first), for code that consumes it itself.

        Parameters:
          queue_name: the queue (or delay queue) to consume.
          prefetch: unacked messages the server may deliver ahead.
          timeout: ms ``next()`` waits for a message before it returns None.
        """
        self.declare_queue(queue_name, ensure=True)
        return super().consume(queue_name, prefetch, timeout)

    def get_queue_message_counts(self, queue_name: str) -> tuple[int, int, int]:
        """Ready messages of a queue, its delay queue and its dead letters
        (messages delivered and not yet acked are not counted; for tests).

        Parameters:
          queue_name: the queue.
        """
        return self._native.get_queue_message_counts(queue_name)

    def flush(self, queue_name: str) -> None:
        """Drop the waiting messages of a queue, its delay queue and its
        dead letters.

        Parameters:
          queue_name: the queue.
        """
        self._native.flush(queue_name)

    def join(
        self, queue_name: str, min_successes: int = 10, idle_time: int = 100, *, timeout: Optional[int] = None
    ) -> None:
        """Wait until a queue and its delay queue were seen empty
        ``min_successes`` times in a row, ``idle_time`` ms apart (messages
        this process's workers hold count as not empty; other processes'
        unacked ones cannot be seen). For tests.

        Parameters:
          queue_name: the queue.
          min_successes: consecutive empty counts needed.
          idle_time: ms between counts.
          timeout: ms to wait at most; then ``QueueJoinTimeout``.
        """
        if not self._native.join_idle(queue_name, min_successes, idle_time, timeout):
            raise QueueJoinTimeout(queue_name)

    def close(self) -> None:
        """Close the publishing connections (and the pika ones)."""
        _quiet_pika_connection_logs()
        for connection in list(self._pika_connections):
            try:
                if connection.is_open:
                    connection.close()
            except Exception:
                pass
        self._pika_connections.clear()
        self._native.close()
