"""The Middleware base class and middleware errors."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _engine

if TYPE_CHECKING:
    from ..actor import Actor
    from ..broker import Broker, MessageProxy
    from ..message import Message
    from ..worker import ConsumerThread, Worker, WorkerThread


class MiddlewareError(Exception):
    """Base class for middleware errors."""


class SkipMessage(MiddlewareError):
    """Raise from ``before_process_message`` to skip the message."""


class Middleware:
    """Base class for broker middleware. Override the hooks you need; the
    engine calls only the hooks a subclass overrides."""

    # Built-in middleware keep their engine object here.
    _native: Any = None

    @property
    def actor_options(self) -> set[str]:
        """The option names this middleware lets actors declare."""
        if self._native is not None:
            return set(self._native.actor_options)
        return set()

    @property
    def forks(self) -> list[Callable[[], int]]:
        """Functions the worker command runs in forked processes."""
        return []

    def _overridden_hooks(self) -> list:
        cls = type(self)
        # A built-in whose class sets `_native_hook_methods` defines hook
        # methods that forward to its engine object (what a hook emitted from
        # Python runs): only a subclass's own hooks count as overrides.
        base = next((c for c in cls.__mro__ if "_native_hook_methods" in vars(c)), Middleware)
        return [name for name in _HOOK_NAMES if getattr(cls, name) is not getattr(base, name)]

    def _engine_middleware(self, broker_ref: Callable):
        # Built-ins run natively unless a Python subclass overrides hooks;
        # then every hook goes through Python, and the ones it does not
        # override (or calls with super()) reach the built-in's from there.
        hooks = self._overridden_hooks()
        if self._native is not None and not hooks:
            return self._native
        if self._native is not None:
            hooks = list(_HOOK_NAMES)
        return _engine.PythonMiddleware(self, hooks, broker_ref)

    def __repr__(self) -> str:
        return "<%s>" % type(self).__name__

    if TYPE_CHECKING:
        # What type checkers see of the hooks; at run time they are made
        # below from the engine's list (tests/python/test_typing.py checks
        # that the two name the same hooks and parameters).
        def before_ack(self, broker: Broker, message: MessageProxy) -> None: ...
        def after_ack(self, broker: Broker, message: MessageProxy) -> None: ...
        def before_nack(self, broker: Broker, message: MessageProxy) -> None: ...
        def after_nack(self, broker: Broker, message: MessageProxy) -> None: ...
        def before_declare_actor(self, broker: Broker, actor: Actor[Any, Any]) -> None: ...
        def after_declare_actor(self, broker: Broker, actor: Actor[Any, Any]) -> None: ...
        def before_declare_queue(self, broker: Broker, queue_name: str) -> None: ...
        def after_declare_queue(self, broker: Broker, queue_name: str) -> None: ...
        def after_declare_delay_queue(self, broker: Broker, queue_name: str) -> None: ...
        def before_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None: ...
        def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None: ...
        def before_delay_message(self, broker: Broker, message: MessageProxy) -> None: ...
        def before_process_message(self, broker: Broker, message: MessageProxy) -> None: ...
        def after_process_message(self, broker: Broker, message: MessageProxy, *,
                                  result: Optional[Any] = None,
                                  exception: Optional[BaseException] = None) -> None: ...
        def after_skip_message(self, broker: Broker, message: MessageProxy) -> None: ...
        def after_process_boot(self, broker: Broker) -> None: ...
        def before_process_stop(self, broker: Broker) -> None: ...
        def after_process_stop(self, broker: Broker) -> None: ...
        def before_worker_boot(self, broker: Broker, worker: Worker) -> None: ...
        def after_worker_boot(self, broker: Broker, worker: Worker) -> None: ...
        def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None: ...
        def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None: ...
        def after_consumer_thread_boot(self, broker: Broker, thread: ConsumerThread) -> None: ...
        def before_consumer_thread_shutdown(self, broker: Broker, thread: ConsumerThread) -> None: ...
        def after_worker_thread_boot(self, broker: Broker, thread: WorkerThread) -> None: ...
        def before_worker_thread_shutdown(self, broker: Broker, thread: WorkerThread) -> None: ...


def _hook_method(name: str, positional: tuple, keyword: tuple, doc: str) -> Callable:
    """A do-nothing hook method with the engine's signature and docstring."""
    Parameter = inspect.Parameter
    signature = inspect.Signature(
        [Parameter("self", Parameter.POSITIONAL_OR_KEYWORD)]
        + [Parameter(p, Parameter.POSITIONAL_OR_KEYWORD) for p in positional]
        + [Parameter(k, Parameter.KEYWORD_ONLY, default=None) for k in keyword]
    )

    def hook(*args, **kwargs):
        # Calls with the wrong arguments fail as they would on a written-out method.
        signature.bind(*args, **kwargs)
        # A built-in's hook called from Python (broker.emit_after(...) from
        # a plugin, super() in a subclass) runs the engine's.
        self, broker = args[0], args[1] if len(args) > 1 else kwargs.get("broker")
        native_broker = getattr(broker, "_native", None)
        if self._native is not None and native_broker is not None:
            _engine.call_native_hook(self._native, name, native_broker, tuple(args[2:]),
                                     {k: v for k, v in kwargs.items() if k != "broker"})

    hook.__name__ = name
    hook.__qualname__ = "Middleware." + name
    hook.__module__ = Middleware.__module__
    hook.__doc__ = doc + "\n\nParameters:\n" + "".join(
        "  %s: %s\n" % (p, _HOOK_PARAMETER_DOCS[p]) for p in positional + keyword)
    hook.__signature__ = signature
    return hook


# What each hook parameter is, for the hooks' ``Parameters:`` sections.
_HOOK_PARAMETER_DOCS = {
    "broker": "the broker the middleware is attached to.",
    "message": "the message (a Message when enqueueing, else a MessageProxy).",
    "actor": "the Actor being declared.",
    "queue_name": "the name of the queue.",
    "delay": "the delay in milliseconds the message was sent with, or None.",
    "result": "what the actor returned, or None when it raised.",
    "exception": "the exception the actor (or a middleware) raised, or None.",
    "worker": "the Worker starting or stopping.",
    "thread": "the consumer or worker thread starting or stopping.",
}


# The hooks are defined once, in the engine (include/dramatiq/middleware_hooks.hpp),
# and given to Python by the extension module in upstream's order.
_HOOK_NAMES = tuple(name for name, *_ in _engine.MIDDLEWARE_HOOKS)
for _spec in _engine.MIDDLEWARE_HOOKS:
    setattr(Middleware, _spec[0], _hook_method(*_spec))
del _spec
