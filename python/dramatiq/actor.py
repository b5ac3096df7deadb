"""Actors: functions that run asynchronously on workers."""

from __future__ import annotations

import time
from datetime import timedelta
from inspect import iscoroutinefunction
from typing import Any, Callable, Generic, Optional, TypeVar

try:
    from typing import ParamSpec
except ImportError:  # Python 3.9: a plain type variable stands in
    ParamSpec = TypeVar  # type: ignore[misc,assignment]

from . import _engine
from .asyncio import async_to_sync
from .broker import Broker, get_broker
from .logging import get_logger
from .message import Message

#: The parameters and the return type of an actor's function:
#: ``Actor[P, R]`` as upstream's Actor is generic in them.
P = ParamSpec("P")
R = TypeVar("R")


class Actor(Generic[P, R]):
    """A function bound to a broker and a queue. Call it to run it here;
    ``send`` it to run it on a worker."""

    def __init__(self, fn: Callable, *, broker: Broker, actor_name: str, queue_name: str,
                 priority: int, options: dict) -> None:
        if actor_name in broker.actors:
            raise ValueError(f"An actor named {actor_name!r} is already registered.")
        self.logger = get_logger(fn.__module__ or "_", actor_name)
        self.fn = fn
        self.broker = broker
        self.actor_name = actor_name
        self.queue_name = queue_name
        self.priority = priority
        self.options = options
        self.broker.declare_actor(self)

    def __setattr__(self, name: str, value: Any) -> None:
        # ``fn`` stays a plain attribute (upstream's tests read vars(actor)),
        # but assigning another function (plugins wrap it, as dramatiq-crontab
        # does for Sentry cron monitors) makes workers run that one from the
        # next message on.
        if name == "fn":
            value = async_to_sync(value) if iscoroutinefunction(value) else value
            object.__setattr__(self, name, value)
            broker = self.__dict__.get("broker")
            native = getattr(broker, "_native", None)
            if native is not None and broker.actors.get(self.actor_name) is self:
                native.set_actor_function(self.actor_name, value)
            return
        object.__setattr__(self, name, value)

    def message(self, *args, **kwargs) -> Message:
        """Build a message for this actor without sending it."""
        return self.message_with_options(args=args, kwargs=kwargs)

    def message_with_options(self, *, args: tuple = (), kwargs: Optional[dict] = None, **options) -> Message:
        """Build a message with processing options. ``queue_name=`` routes
        the message to another queue (declared on demand)."""
        for name in ("on_failure", "on_success"):
            callback = options.get(name)
            if isinstance(callback, Actor):
                options[name] = callback.actor_name
            elif not isinstance(callback, (type(None), str)):
                raise TypeError(name + " value must be an Actor")
        queue_name = options.pop("queue_name", None) or self.queue_name
        if queue_name != self.queue_name:
            if not _engine.is_valid_queue_name(queue_name):
                raise ValueError("Invalid queue name: %r" % queue_name)
            self.broker.declare_queue(queue_name)
        delay = options.get("delay")
        if isinstance(delay, timedelta):
            options["delay"] = int(delay.total_seconds() * 1000)
        return Message(queue_name=queue_name, actor_name=self.actor_name, args=args,
                       kwargs=kwargs or {}, options=options)

    def send(self, *args, **kwargs) -> Message:
        """Send a message to this actor."""
        return self.send_with_options(args=args, kwargs=kwargs)

    def send_with_options(self, *, args: tuple = (), kwargs: Optional[dict] = None, delay=None, **options) -> Message:
        """Send a message with processing options; ``delay`` is in ms or a timedelta."""
        if isinstance(delay, timedelta):
            delay = int(delay.total_seconds() * 1000)
        message = self.message_with_options(args=args, kwargs=kwargs, **options)
        return self.broker.enqueue(message, delay=delay)

    def __call__(self, *args, **kwargs):
        """Run the actor synchronously, here."""
        start = time.perf_counter()
        try:
            self.logger.debug("Received args=%r kwargs=%r.", args, kwargs)
            return self.fn(*args, **kwargs)
        finally:
            self.logger.debug("Completed after %.02fms.", (time.perf_counter() - start) * 1000)

    def __repr__(self) -> str:
        return "Actor(%r, queue_name=%r, actor_name=%r)" % (self.fn, self.queue_name, self.actor_name)

    def __str__(self) -> str:
        return "Actor(%s)" % self.actor_name


def actor(fn: Optional[Callable] = None, *, actor_class: Callable = Actor, actor_name: Optional[str] = None,
          queue_name: str = "default", priority: int = 0, broker: Optional[Broker] = None, **options: Any):
    """Declare an actor, bare (``@actor``) or with arguments (``@actor(...)``).

    Raises ``ValueError`` for an invalid queue name or an option no
    middleware of the broker knows."""

    def decorator(fn: Callable) -> Actor:
        nonlocal actor_name, broker
        actor_name = actor_name or fn.__name__
        broker = broker or get_broker()
        # The queue name and the options are checked by the engine when the
        # actor is declared (ValueError).
        return actor_class(fn, actor_name=actor_name, queue_name=queue_name, priority=priority,
                           broker=broker, options=options)

    if fn is None:
        return decorator
    return decorator(fn)
