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
        # A built-in whose class sets `_native_hook_methods` defines hook
        # methods that forward to its engine object (what a hook emitted from
        # Python runs): only a subclass's own hooks count as overrides.
        base = next((c for c in cls.__mro__ if "_native_hook_methods" in vars(c)), Middleware)
        return [name for name in _HOOK_NAMES if getattr(cls, name) is not getattr(base, name)]

    def _engine_middleware(self, broker_ref: Callable):
        # Built-ins run natively unless a Python subclass overrides hooks.
        hooks = self._overridden_hooks()
        if self._native is not None and not hooks:
            return self._native
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
