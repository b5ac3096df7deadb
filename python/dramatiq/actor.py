"""Actors: functions that run asynchronously on workers."""

from __future__ import annotations

import time
from datetime import timedelta
from inspect import iscoroutinefunction
from typing import Any, Awaitable, Callable, Generic, Optional, Protocol, TypeVar, Union, overload

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
    ``send`` it to run it on a worker.

    Parameters:
      fn: the function (a coroutine function runs on the worker's event
        loop, see the AsyncIO middleware).
      broker: the broker the actor is declared on.
      actor_name: the name messages address the actor by.
      queue_name: the queue its messages go to.
      priority: lower runs first among messages waiting in one worker.
      options: options for the broker's middleware (``max_retries``,
        ``time_limit``, ...); ValueError for one no middleware knows.
    """

    def __init__(self, fn: Union[Callable[P, Awaitable[R]], Callable[P, R]], *, broker: Broker,
                 actor_name: str, queue_name: str, priority: int, options: dict[str, Any]) -> None:
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

    def message(self, *args: P.args, **kwargs: P.kwargs) -> Message[R]:
        """Build a message for this actor without sending it.

        Parameters:
          args: the actor's positional arguments.
          kwargs: the actor's keyword arguments.
        """
        return self.message_with_options(args=args, kwargs=kwargs)

    def message_with_options(self, *, args: tuple = (), kwargs: Optional[dict[str, Any]] = None,
                             **options) -> Message[R]:
        """Build a message with processing options, without sending it.

        Parameters:
          args: the actor's positional arguments.
          kwargs: the actor's keyword arguments.
          options: processing options for this message, overriding the
            actor's; ``queue_name=`` routes it to another queue (declared on
            demand), ``on_success``/``on_failure`` take an actor or its name.
        """
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

    def send(self, *args: P.args, **kwargs: P.kwargs) -> Message[R]:
        """Send a message to this actor.

        Parameters:
          args: the actor's positional arguments.
          kwargs: the actor's keyword arguments.
        """
        return self.send_with_options(args=args, kwargs=kwargs)

    def send_with_options(self, *, args: tuple = (), kwargs: Optional[dict[str, Any]] = None,
                          delay: Optional[Union[timedelta, int]] = None, **options) -> Message[R]:
        """Send a message with processing options.

        Parameters:
          args: the actor's positional arguments.
          kwargs: the actor's keyword arguments.
          delay: how long to wait before the message may be processed, in
            milliseconds or as a timedelta.
          options: processing options for this message (see
            ``message_with_options``).
        """
        if isinstance(delay, timedelta):
            delay = int(delay.total_seconds() * 1000)
        message = self.message_with_options(args=args, kwargs=kwargs, **options)
        return self.broker.enqueue(message, delay=delay)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
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


class ActorDecorator(Protocol):
    """What ``actor(...)`` called with options returns: apply it to a
    function (plain or ``async``) to get its ``Actor``."""

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Actor[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Actor[P, R]: ...

    def __call__(self, fn: Union[Callable[P, Awaitable[R]], Callable[P, R]]) -> Actor[P, R]: ...


@overload
def actor(fn: Callable[P, Awaitable[R]]) -> Actor[P, R]: ...


@overload
def actor(fn: Callable[P, R]) -> Actor[P, R]: ...


@overload
def actor(*, queue_name: str = "default", priority: int = 0, actor_name: Optional[str] = None,
          broker: Optional[Broker] = None, actor_class: Callable[..., Actor[Any, Any]] = Actor,
          **options: Any) -> ActorDecorator: ...


def actor(fn: Optional[Callable[P, Union[Awaitable[R], R]]] = None, *,
          actor_class: Callable[..., Actor[P, R]] = Actor, actor_name: Optional[str] = None,
          queue_name: str = "default", priority: int = 0, broker: Optional[Broker] = None,
          **options: Any) -> Union[Actor[P, R], Callable[..., Any]]:
    """Declare an actor, bare (``@actor``) or with arguments (``@actor(...)``).

    Raises ``ValueError`` for an invalid queue name or an option no
    middleware of the broker knows.

    Parameters:
      fn: the function, when used bare.
      actor_class: the class to build, ``Actor`` or a subclass.
      actor_name: the actor's name; by default the function's name.
      queue_name: the queue its messages go to.
      priority: lower runs first among messages waiting in one worker.
      broker: the broker to declare it on; by default the global broker.
      options: options for the broker's middleware (``max_retries``, ...).
    """

    def decorator(fn: Callable[..., Union[Awaitable[R], R]]) -> Actor[P, R]:
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
