"""The broker base class, the message proxy and the global broker."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Optional

from . import _engine
from .errors import ActorNotFound, QueueNotFound
from .logging import get_logger
from .middleware import Middleware, default_middleware

if TYPE_CHECKING:
    from .actor import Actor
    from .message import Message

global_broker: Optional["Broker"] = None


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
    """Set the global broker."""
    global global_broker
    global_broker = broker


class Broker:
    """Base class for brokers: middleware, actors, queues and enqueueing.

    Concrete brokers set ``self._native`` to their engine broker before
    calling ``Broker.__init__``.
    """

    _native: Any

    def __init__(self, middleware: Optional[list] = None) -> None:
        self.logger = get_logger(__name__, type(self))
        self.actors: dict = {}
        self._middleware: list = []
        if middleware is None:
            middleware = [m() for m in default_middleware]
        for m in middleware:
            self.add_middleware(m)

    # ---- middleware

    @property
    def middleware(self) -> list:
        """This broker's middleware, in order. Assigning a new list makes
        the engine run that list's hooks from then on (plugins replace it)."""
        return self._middleware

    @middleware.setter
    def middleware(self, middleware: list) -> None:
        self._middleware = middleware
        native = getattr(self, "_native", None)
        if native is not None:
            ref = weakref.ref(self)
            native.set_middleware([m._engine_middleware(ref) for m in middleware])

    @property
    def actor_options(self) -> set:
        """The option names actors may declare, given this broker's middleware."""
        options = set()
        for m in self.middleware:
            options |= set(m.actor_options)
        return options

    def add_middleware(self, middleware: Middleware, *, before=None, after=None) -> None:
        """Add ``middleware``, optionally before or after the first
        middleware of a given type."""
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

    def emit_before(self, signal: str, *args, **kwargs) -> None:
        """Call ``before_<signal>`` on every middleware, in order."""
        if self._emit_natively("before_" + signal, args, kwargs):
            return
        for m in self.middleware:
            getattr(m, "before_" + signal)(self, *args, **kwargs)

    def emit_after(self, signal: str, *args, **kwargs) -> None:
        """Call ``after_<signal>`` on every middleware, in reverse order."""
        if self._emit_natively("after_" + signal, args, kwargs):
            return
        for m in reversed(self.middleware):
            try:
                getattr(m, "after_" + signal)(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in after_%s of %r.", signal, m, exc_info=True)

    def _emit_natively(self, hook: str, args, kwargs) -> bool:
        # Process lifecycle signals run through the engine so native and
        # Python middleware see them alike.
        if hook in ("after_process_boot", "before_process_stop", "after_process_stop") and not args:
            self._native.emit(hook)
            return True
        return False

    # ---- actors and queues

    def declare_actor(self, actor: "Actor") -> None:
        """Declare an actor (and its queue) on this broker."""
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

    def get_actor(self, actor_name: str) -> "Actor":
        """Look up an actor by name; raises ``ActorNotFound``."""
        try:
            return self.actors[actor_name]
        except KeyError:
            raise ActorNotFound(actor_name) from None

    def get_declared_actors(self) -> set:
        """The names of all declared actors."""
        return set(self.actors)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue (and its delay queue)."""
        self._native.declare_queue(queue_name)

    def get_declared_queues(self) -> set:
        """The names of all declared queues."""
        return set(self._native.get_declared_queues())

    def get_declared_delay_queues(self) -> set:
        """The names of all declared delay queues."""
        return set(self._native.get_declared_delay_queues())

    # ---- producing and housekeeping

    def enqueue(self, message: "Message", *, delay: Optional[int] = None) -> "Message":
        """Enqueue ``message``, delayed by ``delay`` ms if given (or by its
        ``delay`` option). Returns the message as stored."""
        return self._native.enqueue(message, delay)

    def enqueue_all(self, messages, *, delay: Optional[int] = None) -> list:
        """Enqueue several messages in one batch (one round trip on network
        brokers), each through the enqueue hooks. Returns them as stored."""
        if type(self).enqueue is not Broker.enqueue:
            # A subclass customised enqueue: honour it for every message.
            return [self.enqueue(message, delay=delay) for message in messages]
        return self._native.enqueue_all(list(messages), delay)

    def get_results_backend(self):
        """The backend of this broker's Results middleware; raises
        ``RuntimeError`` when there is none."""
        for m in self.middleware:
            backend = getattr(m, "backend", None)
            if backend is not None and type(m).__name__ == "Results":
                return backend
        raise RuntimeError("The broker doesn't have a results backend.")

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000):
        """Not available from Python: the engine's Worker consumes queues."""
        if queue_name not in self.get_declared_queues() | self.get_declared_delay_queues():
            raise QueueNotFound(queue_name)
        raise NotImplementedError("Use dramatiq.Worker to consume messages.")

    def flush(self, queue_name: str) -> None:
        """Drop all the messages of a queue (and its delay queue)."""
        self._native.flush(queue_name)

    def flush_all(self) -> None:
        """Drop all messages from all queues."""
        self._native.flush_all()

    def join(self, queue_name: str, *, timeout: Optional[int] = None) -> None:
        """Wait until a queue has been processed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release this broker's resources."""
        self._native.close()


class Consumer:
    """Iterator over messages of one queue (the engine's Worker consumes
    natively; this class exists for API compatibility)."""

    def __iter__(self):
        return self

    def __next__(self):
        raise NotImplementedError

    def ack(self, message) -> None:
        raise NotImplementedError

    def nack(self, message) -> None:
        raise NotImplementedError

    def requeue(self, messages) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MessageProxy:
    """A message being processed: its fields, plus ``fail()``/``failed``
    and the exception it raised. Attribute reads go to the message."""

    def __init__(self, native, message: "Message" = None) -> None:
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
        """Attach an exception to this message."""
        self._stuffed = exception

    def clear_exception(self) -> None:
        """Drop the attached exception."""
        self._stuffed = None

    @property
    def options(self) -> dict:
        return self._message.options

    def __getattr__(self, name: str):
        return getattr(self._message, name)

    def __str__(self) -> str:
        return str(self._message)

    def __repr__(self) -> str:
        return f"<{self.__class__.__qualname__} {self._message!r}>"

    def __eq__(self, other) -> bool:
        if isinstance(other, MessageProxy):
            return self._message == other._message
        return self._message == other

    def __hash__(self) -> int:
        return hash(self._message.message_id)
