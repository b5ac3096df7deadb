"""The Middleware base class and middleware errors."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .. import _engine


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
        return [name for name in _HOOK_NAMES if getattr(cls, name) is not getattr(Middleware, name)]

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
    hook.__doc__ = doc
    hook.__signature__ = signature
    return hook


# The hooks are defined once, in the engine (include/dramatiq/middleware_hooks.hpp),
# and given to Python by the extension module in upstream's order.
_HOOK_NAMES = tuple(name for name, *_ in _engine.MIDDLEWARE_HOOKS)
for _spec in _engine.MIDDLEWARE_HOOKS:
    setattr(Middleware, _spec[0], _hook_method(*_spec))
del _spec
