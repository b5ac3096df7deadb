"""The broker base class, the message proxy and the global broker."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Optional, Union

from . import _engine
from .errors import ActorNotFound, QueueNotFound
from .logging import get_logger
from .middleware import Middleware, default_middleware

if TYPE_CHECKING:
    from typing_extensions import Self

    from .actor import Actor
    from .message import Message
    from .results import ResultBackend

global_broker: Optional["Broker"] = None


class WaitingMessage(NamedTuple):
    """A message waiting on a queue for a worker.

    Parameters:
      message: the decoded ``Message``, or the raw bytes when they do not decode.
      delayed: whether it waits on the delay queue for its eta.
    """

    message: Union["Message[Any]", bytes]
    delayed: bool


class DeadLetter(NamedTuple):
    """A dead-lettered message, as its broker keeps it.

    Parameters:
      id: the broker's name for it, for ``requeue_dead_letters`` and
        ``delete_dead_letters`` (the row id on SQLite, the Redis message id
        on Redis).
      message_id: the message's id (None when its bytes do not decode and
        the broker keeps no id apart from them).
      dead_at: when it was dead-lettered (ms since the epoch), when known.
      message: the decoded ``Message``, or the raw bytes when they do not decode.
      failure: why it was rejected, as ``"ExceptionType: message"`` (None
        when the broker did not keep what the worker said).
      traceback: the formatted traceback of that failure, when known.
    """

    id: str
    message_id: Optional[str]
    dead_at: Optional[int]
    message: Union["Message[Any]", bytes]
    failure: Optional[str] = None
    traceback: Optional[str] = None


def get_broker() -> "Broker":
    """Get the global broker. Until one is set, the broker that
    ``$DRAMATIQ_BROKER_URL`` names is created (``sqlite:///path``,
    ``redis://...``, ``amqp://...``, ``stub://``), otherwise the embedded
    SQLite broker at ``dramatiq.brokers.sqlite.DEFAULT_PATH``, which every
    process of this host shares: no server is needed."""
    global global_broker
    if global_broker is None:
        from .brokers import default_broker

        set_broker(default_broker())
    return global_broker


def set_broker(broker: "Broker") -> None:
    """Set the global broker.

    Parameters:
      broker: the broker ``get_broker()`` returns from now on, and actors
        declared without a ``broker=`` are declared on.
    """
    global global_broker
    global_broker = broker


class Broker:
    """Base class for brokers: middleware, actors, queues and enqueueing.

    The built-in brokers set ``self._native`` to their engine broker before
    calling ``Broker.__init__``. A subclass that does not is a broker
    written in Python, as upstream's and third-party brokers are: it
    implements ``consume`` (a ``Consumer`` of ``MessageProxy`` objects),
    ``declare_queue`` (emitting the ``declare_queue`` and
    ``declare_delay_queue`` hooks, keeping ``self.queues`` and
    ``self.delay_queues``), ``enqueue``, ``flush``, ``flush_all`` and
    ``join``, and the engine's Worker, middleware and results run it
    through an adapter (``_engine.PythonBroker``).

    Parameters:
      middleware(list[Middleware]): all the broker's middleware (default:
        the default middleware).
    """

    _native: Any

    def __init__(self, middleware: Optional[list[Middleware]] = None) -> None:
        self.logger = get_logger(__name__, type(self))
        self._written_in_python = getattr(self, "_native", None) is None
        if self._written_in_python:
            self._native = _engine.PythonBroker(self)
            #: The declared queues (a broker written in Python keeps them).
            self.queues: Any = {}
            #: The declared delay queues.
            self.delay_queues: set = set()
        self.actors: dict[str, Actor[Any, Any]] = {}
        self._middleware: list[Middleware] = []
        if middleware is None:
            middleware = [m() for m in default_middleware]
        for m in middleware:
            self.add_middleware(m)
        if not self._written_in_python and type(self).enqueue is not Broker.enqueue:
            # A subclass's own enqueue (dramatiq-eager-broker's): the
            # engine's retries, callbacks and delayed messages use it too.
            _engine.set_host_enqueue(self._native, self)

    # ---- middleware

    @property
    def middleware(self) -> list[Middleware]:
        """This broker's middleware, in order. Assigning a new list makes
        the engine run that list's hooks from then on (plugins replace it)."""
        return self._middleware

    @middleware.setter
    def middleware(self, middleware: list[Middleware]) -> None:
        self._middleware = middleware
        native = getattr(self, "_native", None)
        if native is not None:
            ref = weakref.ref(self)
            native.set_middleware([m._engine_middleware(ref) for m in middleware])

    @property
    def actor_options(self) -> set[str]:
        """The option names actors may declare, given this broker's middleware."""
        options = set()
        for m in self.middleware:
            options |= set(m.actor_options)
        return options

    def add_middleware(self, middleware: Middleware, *, before: Optional[type[Middleware]] = None,
                       after: Optional[type[Middleware]] = None) -> None:
        """Add a middleware to this broker, by default after the others.

        Parameters:
          middleware: the middleware instance to add.
          before: a middleware class: insert ahead of the first middleware
            of that class (ValueError if there is none).
          after: a middleware class: insert behind the first middleware of
            that class. Give ``before`` or ``after``, not both.
        """
        for existing in self.middleware:
            if isinstance(existing, type(middleware)):
                self.logger.warning(
                    "You're adding a middleware of the same type twice: %r. It may have unexpected results.",
                    middleware,
                )
        assert not (before and after), "provide either 'before' or 'after', but not both"
        if before or after:
            for index, m in enumerate(self.middleware):
                if (before and isinstance(m, before)) or (after and isinstance(m, after)):
                    break
            else:
                raise ValueError("Middleware %r not found" % (before or after))
            if after:
                index += 1
        else:
            index = len(self.middleware)
        self.middleware.insert(index, middleware)
        self._native.add_middleware(middleware._engine_middleware(weakref.ref(self)), index)

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Call ``before_<signal>`` on every middleware, in order.

        Parameters:
          signal: the hook's name without its prefix (``"process_message"``).
          args: the hook's arguments after the broker.
          kwargs: the hook's keyword arguments.
        """
        if self._emit_natively("before_" + signal, args, kwargs):
            return
        # A built-in's hook methods run its engine hook (_engine.call_native_hook).
        for m in self.middleware:
            getattr(m, "before_" + signal)(self, *args, **kwargs)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Call ``after_<signal>`` on every middleware, in reverse order; a
        middleware that raises is logged and the others still run.

        Parameters:
          signal: the hook's name without its prefix (``"process_message"``).
          args: the hook's arguments after the broker.
          kwargs: the hook's keyword arguments.
        """
        if self._emit_natively("after_" + signal, args, kwargs):
            return
        for m in reversed(self.middleware):
            try:
                getattr(m, "after_" + signal)(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in after_%s of %r.", signal, m, exc_info=True)
        if signal in ("declare_queue", "declare_delay_queue") and self._written_in_python and args:
            # Running workers consume it from now on (upstream's worker
            # learns of new queues through this hook too).
            if signal == "declare_queue":
                self._native.announce_queue(args[0])

    def _emit_natively(self, hook: str, args, kwargs) -> bool:
        # Process lifecycle signals run through the engine so native and
        # Python middleware see them alike.
        if hook in ("after_process_boot", "before_process_stop", "after_process_stop") and not args:
            self._native.emit(hook)
            if hook == "after_process_boot":
                # Built-ins that interrupt threads warn, as upstream's, where
                # the Python implementation cannot.
                for m in reversed(self.middleware):
                    warn = getattr(m, "_warn_unless_platform_supported", None)
                    if warn is not None:
                        warn()
            return True
        return False

    # ---- actors and queues

    def declare_actor(self, actor: Actor[Any, Any]) -> None:
        """Declare an actor (and its queue) on this broker.

        Parameters:
          actor: the actor; ValueError if its queue name or an option is
            not valid for this broker's middleware.
        """
        # The engine validates the actor (ValueError); hooks already see it here.
        previous = self.actors.get(actor.actor_name)
        self.actors[actor.actor_name] = actor
        try:
            self._native.declare_actor(
                actor.actor_name, actor.queue_name, actor.priority, actor.options, actor.fn, actor
            )
        except BaseException:
            if previous is None:
                del self.actors[actor.actor_name]
            else:
                self.actors[actor.actor_name] = previous
            raise

    def get_actor(self, actor_name: str) -> Actor[Any, Any]:
        """Look up a declared actor.

        Parameters:
          actor_name: the actor's name; ``ActorNotFound`` if none has it.
        """
        try:
            return self.actors[actor_name]
        except KeyError:
            raise ActorNotFound(actor_name) from None

    def get_declared_actors(self) -> set[str]:
        """The names of all declared actors."""
        return set(self.actors)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue (and its delay queue).

        Parameters:
          queue_name: the queue's name.
        """
        if self._written_in_python:
            raise NotImplementedError
        self._native.declare_queue(queue_name)

    def get_declared_queues(self) -> set[str]:
        """The names of all declared queues."""
        if self._written_in_python:
            return set(self.queues)
        return set(self._native.get_declared_queues())

    def get_declared_delay_queues(self) -> set[str]:
        """The names of all declared delay queues."""
        if self._written_in_python:
            return set(self.delay_queues)
        return set(self._native.get_declared_delay_queues())

    def get_queue_counts(self, queue_name: str) -> dict[str, Optional[int]]:
        """Counts of a queue's messages by state, as the broker's server or
        file holds them (every process's): ``ready`` (waiting and due),
        ``delayed`` (waiting for their eta), ``in_flight`` (taken by a
        worker and not yet settled; ``None`` where the broker cannot see
        it, as on RabbitMQ) and ``dead`` (dead-lettered).

        Raises ``QueueNotFound`` where the broker knows its queues (the
        StubBroker), ``NotImplementedError`` on a broker written in Python
        that does not define it.

        Parameters:
          queue_name: the queue.
        """
        if self._written_in_python:
            raise NotImplementedError(f"{type(self).__name__} cannot count its queues' messages by state")
        return self._native.queue_counts(queue_name)

    def get_dead_letters(self, queue_name: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters of a queue.

        Raises ``NotImplementedError`` on a broker that cannot list them
        (a broker written in Python that does not define it).

        Parameters:
          queue_name: the queue.
          limit: at most this many.
        """
        from .message import Message

        native = self._dead_letter_store("list")
        letters = []
        for letter_id, message_id, dead_at, data, kind, text, traceback in native.list_dead_letters(
            queue_name, limit
        ):
            try:
                message: Union[Message[Any], bytes] = Message.decode(data)
            except Exception:
                message = data
            if message_id is None and isinstance(message, Message):
                message_id = message.message_id
            failure = None if kind is None else ("%s: %s" % (kind, text) if text else kind)
            letters.append(DeadLetter(letter_id, message_id, dead_at, message, failure, traceback or None))
        return letters

    def requeue_dead_letters(self, queue_name: str, ids: Optional[Iterable[Any]] = None) -> int:
        """Put dead letters back on their queue, to run again; returns how
        many. An id that names none of the queue's dead letters is passed over.

        Parameters:
          queue_name: the queue.
          ids: the ``DeadLetter.id`` of each to requeue; all when omitted.
        """
        return self._dead_letter_store("requeue").requeue_dead_letters(queue_name, [str(i) for i in ids or []])

    def delete_dead_letters(self, queue_name: str, ids: Optional[Iterable[Any]] = None) -> int:
        """Drop dead letters; returns how many.

        Parameters:
          queue_name: the queue.
          ids: the ``DeadLetter.id`` of each to drop; all of the queue's when omitted.
        """
        return self._dead_letter_store("delete").delete_dead_letters(queue_name, [str(i) for i in ids or []])

    def get_messages(self, queue_name: str, limit: int = 100) -> list[WaitingMessage]:
        """Messages of a queue waiting for a worker: the ready ones in the
        order workers will take them, then the delayed ones, at most
        ``limit``. Messages workers have taken are not listed. On RabbitMQ
        each listed message is taken and given back (it comes back marked
        redelivered).

        Raises ``NotImplementedError`` on a broker that cannot list them.

        Parameters:
          queue_name: the queue.
          limit: at most this many.
        """
        from .message import Message

        if self._written_in_python:
            raise NotImplementedError(f"{type(self).__name__} cannot list its queues' messages")
        waiting = []
        for data, delayed in self._native.list_messages(queue_name, limit):
            try:
                message: Union[Message[Any], bytes] = Message.decode(data)
            except Exception:
                message = data
            waiting.append(WaitingMessage(message, delayed))
        return waiting

    def get_worker_records(self) -> list[dict[str, Any]]:
        """The records of the workers running on this broker now, every
        process's and host's: each worker puts one every second while it
        runs and removes it when it stops; a worker that died stops being
        listed within three seconds. Each is a dict: ``worker_id``,
        ``hostname``, ``pid``, ``started_at``, ``heartbeat_at`` and
        ``expires_at`` (ms since the epoch), ``worker_threads``, ``queues``,
        ``running`` (a dict per busy thread: ``thread``, ``message_id``,
        ``actor_name``, ``queue_name``, ``started_at``), and the counts since
        it started: ``processed``, ``failed`` (``retried``: of those, the ones
        enqueued again), ``skipped``; and ``held`` (per queue, the messages it
        holds, delivered and not yet settled), ``recent_durations`` and
        ``recent_waits`` (ms, a sample of the messages finished since its
        previous record).

        Raises ``NotImplementedError`` on a broker that keeps no worker records.
        """
        if self._written_in_python:
            raise NotImplementedError(f"{type(self).__name__} keeps no worker records")
        return self._native.list_worker_records()

    def _dead_letter_store(self, verb: str) -> Any:
        if self._written_in_python:
            raise NotImplementedError(f"{type(self).__name__} cannot {verb} its dead letters")
        return self._native

    # ---- producing and housekeeping

    def enqueue(self, message: Message[Any], *, delay: Optional[int] = None) -> Message[Any]:
        """Enqueue a message; returns it as stored (with the options the
        broker and the enqueue hooks added).

        Parameters:
          message: the message to enqueue on its queue.
          delay: milliseconds to wait before the message may be processed;
            None uses the message's ``delay`` option, if any.
        """
        if self._written_in_python:
            raise NotImplementedError
        return self._native.enqueue(message, delay)

    def enqueue_all(self, messages: Iterable[Message[Any]], *,
                    delay: Optional[int] = None) -> list[Message[Any]]:
        """Enqueue several messages in one batch (one round trip on network
        brokers), each through the enqueue hooks. Returns them as stored.

        Parameters:
          messages: the messages, each enqueued on its own queue.
          delay: milliseconds to wait before they may be processed.
        """
        if type(self).enqueue is not Broker.enqueue:
            # A subclass customised enqueue: honour it for every message.
            return [self.enqueue(message, delay=delay) for message in messages]
        return self._native.enqueue_all(list(messages), delay)

    def get_results_backend(self) -> ResultBackend:
        """The backend of this broker's Results middleware; raises
        ``RuntimeError`` when there is none."""
        for m in self.middleware:
            backend = getattr(m, "backend", None)
            if backend is not None and type(m).__name__ == "Results":
                return backend
        raise RuntimeError("The broker doesn't have a results backend.")

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
        """An iterator over the messages of one queue, for code that
        consumes a queue itself (``dramatiq.Worker`` does it natively).

        Parameters:
          queue_name(str): the queue (or delay queue) to consume.
          prefetch(int): how many messages it may hold delivered and
            unsettled.
          timeout(int): how long (ms) ``next()`` waits for a message
            before it returns None.

        Returns:
          Consumer: its ``next()`` gives a ``MessageProxy``, or None when
          no message came within ``timeout``; settle each with ``ack``
          or ``nack``.
        """
        if self._written_in_python:
            raise NotImplementedError
        if queue_name not in self.get_declared_queues() | self.get_declared_delay_queues():
            raise QueueNotFound(queue_name)
        return _EngineConsumer(_engine.open_consumer(self._native, queue_name, prefetch), queue_name, timeout)

    def flush(self, queue_name: str) -> None:
        """Drop all the messages of a queue (and its delay queue).

        Parameters:
          queue_name: the queue's name.
        """
        if self._written_in_python:
            raise NotImplementedError
        self._native.flush(queue_name)

    def flush_all(self) -> None:
        """Drop all messages from all queues."""
        if self._written_in_python:
            raise NotImplementedError
        self._native.flush_all()

    def join(self, queue_name: str, *, timeout: Optional[int] = None) -> None:
        """Wait until a queue and its delay queue have no messages left.

        Parameters:
          queue_name: the queue to wait for.
          timeout: milliseconds to wait at most (``QueueJoinTimeout``);
            None waits as long as it takes.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release this broker's resources."""
        self._native.close()


class Consumer:
    """Iterator over the messages of one queue: what ``Broker.consume``
    returns. Brokers written in Python subclass it; the engine's Worker
    calls ``next()`` on its consumer thread and ``ack``/``nack`` on the
    worker thread that processed the message."""

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Optional[MessageProxy]:
        """The next message (a ``MessageProxy``), or None when none came
        within the consumer's timeout."""
        raise NotImplementedError

    def ack(self, message: MessageProxy) -> None:
        """The message was processed: remove it from the broker.

        Parameters:
          message(MessageProxy): a message this consumer delivered.
        """
        raise NotImplementedError

    def nack(self, message: MessageProxy) -> None:
        """The message failed for good: move it to the dead letters.

        Parameters:
          message(MessageProxy): a message this consumer delivered.
        """
        raise NotImplementedError

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Put delivered but unprocessed messages back on their queue (at
        shutdown). Does nothing by default.

        Parameters:
          messages(Iterable[MessageProxy]): messages this consumer delivered.
        """

    def close(self) -> None:
        """Release this consumer's resources."""


class _EngineConsumer(Consumer):
    """An engine broker's consumer, driven from Python."""

    def __init__(self, native, queue_name: str, timeout: int) -> None:
        self._native = native
        self.queue_name = queue_name
        self.timeout = timeout
        self.logger = get_logger(__name__, type(self))
        # id(proxy) -> (proxy, delivery) of what was delivered and not settled.
        self._delivered: dict = {}

    def __next__(self):
        delivery = self._native.next(self.timeout)
        if delivery is None:
            return None
        if delivery.decode_error is not None:
            # As upstream's consumers: an undecodable message is rejected here.
            self.logger.error(
                "Failed to decode a message of queue %r: %s. Moving it to the DLQ.",
                self.queue_name,
                delivery.decode_error,
            )
            delivery.fail()
            self._native.nack(delivery)
            return None
        proxy = MessageProxy(delivery, delivery.message)
        self._delivered[id(proxy)] = (proxy, delivery)
        return proxy

    def _take(self, message, action: str):
        entry = self._delivered.get(id(message))
        if entry is None or entry[0] is not message:
            self.logger.warning("Failed to %s message: not in known tags.", action)
            return None
        del self._delivered[id(message)]
        return entry[1]

    def ack(self, message) -> None:
        """Acknowledge a message this consumer delivered (others are
        logged and ignored, as upstream's consumers do)."""
        delivery = self._take(message, "ack")
        if delivery is not None:
            self._native.ack(delivery)

    def nack(self, message) -> None:
        """Reject a message this consumer delivered (to the dead letters)."""
        delivery = self._take(message, "nack")
        if delivery is not None:
            delivery.fail()
            self._native.nack(delivery)

    def requeue(self, messages) -> None:
        """Put delivered messages back on their queue."""
        deliveries = [d for d in (self._take(m, "requeue") for m in messages) if d is not None]
        if deliveries:
            self._native.requeue(deliveries)

    def close(self) -> None:
        """Put back what was delivered and not settled, and close."""
        if self._delivered:
            self._native.requeue([delivery for _, delivery in self._delivered.values()])
            self._delivered.clear()
        self._native.close()


class MessageProxy:
    """A message being processed: its fields, plus ``fail()``/``failed``
    and the exception it raised. Attribute reads go to the message.

    Parameters:
      native: the engine's delivery this proxy stands for (the worker
        passes it); a proxy built as ``MessageProxy(message)`` has none.
      message: the message.
    """

    def __init__(self, native: Any, message: Optional[Message[Any]] = None) -> None:
        # Upstream builds proxies as MessageProxy(message); support both.
        if message is None:
            native, message = None, native
        self._native = native
        self._message = message
        self._failed = False
        self._stuffed: Optional[BaseException] = None

    @property
    def failed(self) -> bool:
        """Whether the message is marked for rejection."""
        return self._native.failed if self._native is not None else self._failed

    @failed.setter
    def failed(self, value: bool) -> None:
        if value:
            self.fail()

    def fail(self) -> None:
        """Mark this message for rejection (dead-lettering)."""
        if self._native is not None:
            self._native.fail()
        else:
            self._failed = True

    @property
    def _exception(self) -> Optional[BaseException]:
        if self._stuffed is not None:
            return self._stuffed
        return self._native.exception if self._native is not None else None

    def stuff_exception(self, exception: BaseException) -> None:
        """Attach an exception to this message.

        Parameters:
          exception: the exception the message's processing raised.
        """
        self._stuffed = exception

    def clear_exception(self) -> None:
        """Drop the attached exception."""
        self._stuffed = None

    @property
    def options(self) -> dict[str, Any]:
        return self._message.options

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)

    def __str__(self) -> str:
        return str(self._message)

    def __repr__(self) -> str:
        return f"<{self.__class__.__qualname__} {self._message!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MessageProxy):
            return self._message == other._message
        return self._message == other

    def __hash__(self) -> int:
        return hash(self._message.message_id)
