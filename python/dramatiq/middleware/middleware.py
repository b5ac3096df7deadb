"""The Middleware base class and middleware errors."""

from __future__ import annotations

from typing import Any, Callable


class MiddlewareError(Exception):
    """Base class for middleware errors."""


class SkipMessage(MiddlewareError):
    """Raise from ``before_process_message`` to skip the message."""


_HOOKS = (
    "before_ack", "after_ack", "before_nack", "after_nack",
    "before_declare_actor", "after_declare_actor",
    "before_declare_queue", "after_declare_queue", "after_declare_delay_queue",
    "before_enqueue", "after_enqueue", "before_delay_message",
    "before_process_message", "after_process_message", "after_skip_message",
    "after_process_boot", "before_process_stop", "after_process_stop",
    "before_worker_boot", "after_worker_boot", "before_worker_shutdown", "after_worker_shutdown",
    "after_consumer_thread_boot", "before_consumer_thread_shutdown",
    "after_worker_thread_boot", "before_worker_thread_shutdown",
)


class Middleware:
    """Base class for broker middleware. Override the hooks you need; the
    engine calls only the hooks a subclass overrides."""

    # Built-in middleware keep their engine object here.
    _native: Any = None

    @property
    def actor_options(self) -> set:
        """The option names this middleware lets actors declare."""
        if self._native is not None:
            return set(self._native.actor_options)
        return set()

    @property
    def forks(self) -> list:
        """Functions the worker command runs in forked processes."""
        return []

    def _overridden_hooks(self) -> list:
        cls = type(self)
        return [name for name in _HOOKS if getattr(cls, name) is not getattr(Middleware, name)]

    def _engine_middleware(self, broker_ref: Callable):
        # Built-ins run natively unless a Python subclass overrides hooks.
        from .. import _engine

        hooks = self._overridden_hooks()
        if self._native is not None and not hooks:
            return self._native
        return _engine.PythonMiddleware(self, hooks, broker_ref)

    def before_ack(self, broker, message): """Called before a message is acknowledged."""
    def after_ack(self, broker, message): """Called after a message is acknowledged."""
    def before_nack(self, broker, message): """Called before a message is rejected."""
    def after_nack(self, broker, message): """Called after a message is rejected."""
    def before_declare_actor(self, broker, actor): """Called before an actor is declared."""
    def after_declare_actor(self, broker, actor): """Called after an actor has been declared."""
    def before_declare_queue(self, broker, queue_name): """Called before a queue is declared."""
    def after_declare_queue(self, broker, queue_name): """Called after a queue has been declared."""
    def after_declare_delay_queue(self, broker, queue_name): """Called after a delay queue has been declared."""
    def before_enqueue(self, broker, message, delay): """Called before a message is enqueued."""
    def after_enqueue(self, broker, message, delay): """Called after a message has been enqueued."""
    def before_delay_message(self, broker, message): """Called before a message is put on the worker's delay queue."""
    def before_process_message(self, broker, message): """Called before a message is processed."""
    def after_process_message(self, broker, message, *, result=None, exception=None): """Called after a message has been processed."""
    def after_skip_message(self, broker, message): """Called instead of after_process_message for skipped messages."""
    def after_process_boot(self, broker): """Called immediately after a worker process boots."""
    def before_process_stop(self, broker): """Called before a worker process stops."""
    def after_process_stop(self, broker): """Called after a worker process stops."""
    def before_worker_boot(self, broker, worker): """Called before the worker starts."""
    def after_worker_boot(self, broker, worker): """Called after the worker starts."""
    def before_worker_shutdown(self, broker, worker): """Called before the worker shuts down."""
    def after_worker_shutdown(self, broker, worker): """Called after the worker shuts down."""
    def after_consumer_thread_boot(self, broker, thread): """Called from a consumer thread after it starts."""
    def before_consumer_thread_shutdown(self, broker, thread): """Called from a consumer thread before it stops."""
    def after_worker_thread_boot(self, broker, thread): """Called from a worker thread after it starts."""
    def before_worker_thread_shutdown(self, broker, thread): """Called from a worker thread before it stops."""

    def __repr__(self) -> str:
        return "<%s>" % type(self).__name__
