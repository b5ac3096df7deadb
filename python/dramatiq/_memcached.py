"""Memcached connection settings from pylibmc-style arguments, shared by
the backends that store in memcached (rate limits, results)."""

from __future__ import annotations

#: Behaviors a pylibmc pool's clients carry over to our backends.
_POOL_BEHAVIORS = ("tcp_nodelay", "tcp_keepalive", "connect_timeout", "send_timeout", "receive_timeout")


def memcached_settings(pool, pool_size: int, parameters: dict, *, owner: str, behaviors: dict = None) -> tuple:
    """``(servers, binary, pool_size, behaviors, username, password)`` for
    the engine, from what ``pylibmc.Client`` takes (``servers``,
    ``binary``, ``username``, ``password``, ``behaviors``) or from a
    ``pylibmc.ClientPool``'s clients. ``behaviors`` are added on top (a
    backend's own needs, e.g. ``cas``). ``owner`` names the class in errors."""
    parameters = dict(parameters)
    if pool is not None:
        parameters = _pool_parameters(pool)
    servers = parameters.pop("servers", ["127.0.0.1"])
    if isinstance(servers, str):
        servers = [servers]
    binary = bool(parameters.pop("binary", False))
    username = parameters.pop("username", None)
    password = parameters.pop("password", None)
    merged = dict(parameters.pop("behaviors", None) or {})
    if parameters:
        raise TypeError("%s got unexpected parameters: %s" % (owner, ", ".join(sorted(parameters))))
    merged.update(behaviors or {})
    for name, value in merged.items():
        if not isinstance(value, (bool, int)):
            raise ValueError("memcached behavior %r must be an integer, not %r" % (name, value))
    return (list(servers), binary, pool_size, {name: int(value) for name, value in merged.items()},
            username, password)


def _pool_parameters(pool) -> dict:
    with pool.reserve(block=True) as client:
        behaviors = client.behaviors
        return {
            "servers": list(client.addresses),
            "binary": bool(client.binary),
            "behaviors": {name: behaviors[name] for name in _POOL_BEHAVIORS if name in behaviors},
        }


def pylibmc_pool(settings: tuple, owner: str):
    """A ``pylibmc.ClientPool`` to the servers of ``settings`` (what
    ``memcached_settings`` returned), for users' own inspection — upstream's
    backends expose one as ``backend.pool`` (e.g. ``pool.reserve()`` to
    ``flush_all``). The engine never uses it. Needs the ``pylibmc`` package."""
    try:
        import pylibmc
    except ImportError:
        raise ImportError(
            "%s.pool is a pylibmc.ClientPool, for your own use: install pylibmc "
            "(the backend itself does not need it)" % owner
        ) from None
    servers, binary, pool_size, behaviors, username, password = settings
    client = pylibmc.Client(servers, binary=binary, username=username, password=password,
                            behaviors=behaviors or None)
    return pylibmc.ClientPool(client, pool_size)


class ClientPoolAttribute:
    """``backend.pool``: the pool passed in, or one built on first use from
    the backend's settings (``pylibmc_pool``)."""

    def __set_name__(self, owner, name):
        self.owner = owner.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        pool = instance.__dict__.get("_pool")
        if pool is None:
            pool = instance.__dict__["_pool"] = pylibmc_pool(instance._settings, self.owner)
        return pool

    def __set__(self, instance, value):
        instance.__dict__["_pool"] = value
