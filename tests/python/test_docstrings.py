"""Every public function and method of the package documents its
parameters, as upstream's do: ``help()`` on our names is part of being a
drop-in. A docstring counts when it has a ``Parameters:`` section naming
each parameter (``*args``/``**options`` by their names); a method that
overrides a documented one may leave it to the base's docstring, which is
what ``help()`` and ``inspect.getdoc`` show for it."""

import importlib
import inspect
import pkgutil
import re

import dramatiq

# The worker command's internals (dramatiq.cli): its interface is
# ``dramatiq --help``, not these functions.
_NOT_API = {"dramatiq.cli", "dramatiq.__main__"}


def public_modules():
    names = ["dramatiq"]
    for info in pkgutil.walk_packages(dramatiq.__path__, "dramatiq."):
        if any(part.startswith("_") for part in info.name.split(".")) or info.name in _NOT_API:
            continue
        names.append(info.name)
    return [importlib.import_module(name) for name in sorted(names)]


def _parameters(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    return [name for name in signature.parameters if name not in ("self", "cls", "mcs", "metacls")]


def _undocumented(doc, parameters):
    if not parameters:
        return []
    if not doc or "Parameters:" not in doc:
        return ["Parameters:"]
    section = doc[doc.index("Parameters:"):]
    return [name for name in parameters if not re.search(r"\b%s\b" % re.escape(name), section)]


def public_callables():
    """(qualified name, parameters, docstring) of each public function,
    class constructor and method defined in a public module."""
    seen = set()
    for module in public_modules():
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            qualified = "%s.%s" % (module.__name__, name)
            if inspect.isclass(value):
                init = vars(value).get("__init__")
                if issubclass(value, BaseException) or getattr(init, "__module__", None) != module.__name__:
                    init_parameters = []
                else:
                    init_parameters = _parameters(value.__init__)
                class_doc = (inspect.getdoc(value) or "") + "\n" + (value.__init__.__doc__ or "")
                yield qualified, init_parameters, class_doc
                for attribute, member in vars(value).items():
                    if attribute.startswith("_"):
                        continue
                    function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if inspect.isfunction(function):
                        yield ("%s.%s" % (qualified, attribute), _parameters(function),
                               inspect.getdoc(getattr(value, attribute)) or "")
            elif inspect.isfunction(value):
                yield qualified, _parameters(value), inspect.getdoc(value) or ""


def test_the_walk_finds_the_api():
    names = {name for name, _, _ in public_callables()}
    for expected in ("dramatiq.actor.actor", "dramatiq.broker.Broker.enqueue", "dramatiq.message.Message.get_result",
                     "dramatiq.worker.Worker", "dramatiq.results.backend.ResultBackend.get_result",
                     "dramatiq.rate_limits.rate_limiter.RateLimiter.acquire",
                     "dramatiq.middleware.middleware.Middleware.after_process_message",
                     "dramatiq.brokers.redis.RedisBroker", "dramatiq.composition.group.wait"):
        assert expected in names


def test_every_public_callable_documents_its_parameters():
    missing = {}
    for name, parameters, doc in public_callables():
        undocumented = _undocumented(doc, parameters)
        if undocumented:
            missing[name] = undocumented
    assert missing == {}, "\n".join("%s: %s" % item for item in sorted(missing.items()))
