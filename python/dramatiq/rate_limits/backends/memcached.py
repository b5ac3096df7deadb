"""MemcachedBackend: counters in memcached, shared with upstream Dramatiq."""

from __future__ import annotations

from ... import _engine
from ._native import NativeBackend

#: Behaviors a pylibmc pool's clients carry over to this backend.
_POOL_BEHAVIORS = ("tcp_nodelay", "tcp_keepalive", "connect_timeout", "send_timeout", "receive_timeout")


class MemcachedBackend(NativeBackend):
    """A backend on memcached (libmemcached, in the engine). Counters are
    stored as pylibmc stores Python ints, so upstream Dramatiq's
    pylibmc-based backend and this one share the same limits. Memcached
    cannot block: ``wait`` polls. Expiry is in whole seconds.

    Parameters:
      pool: a ``pylibmc.ClientPool``; its servers and protocol are used.
      pool_size(int): the most connections used at once.
      **parameters: what ``pylibmc.Client`` takes: ``servers`` (a list
        of "host", "host:port" or socket paths; default
        ``["127.0.0.1"]``), ``binary`` (bool), ``username`` and
        ``password`` (SASL), ``behaviors`` (a dict of integer behaviors).
    """

    def __init__(self, *, pool=None, pool_size=8, **parameters):
        if pool is not None:
            parameters = _pool_parameters(pool)
        servers = parameters.pop("servers", ["127.0.0.1"])
        if isinstance(servers, str):
            servers = [servers]
        binary = bool(parameters.pop("binary", False))
        username = parameters.pop("username", None)
        password = parameters.pop("password", None)
        behaviors = dict(parameters.pop("behaviors", None) or {})
        if parameters:
            raise TypeError("MemcachedBackend got unexpected parameters: %s" % ", ".join(sorted(parameters)))
        behaviors["cas"] = True
        for name, value in behaviors.items():
            if not isinstance(value, (bool, int)):
                raise ValueError("memcached behavior %r must be an integer, not %r" % (name, value))
        self._native = _engine.MemcachedRateLimiterBackend(
            list(servers), binary, pool_size, {name: int(value) for name, value in behaviors.items()},
            username, password,
        )
        self.pool = pool

    @property
    def servers(self):
        """The memcached servers."""
        return list(self._native.servers)

    def __repr__(self):
        return "MemcachedBackend(servers=%r, binary=%r)" % (self.servers, self._native.binary)


def _pool_parameters(pool) -> dict:
    with pool.reserve(block=True) as client:
        behaviors = client.behaviors
        return {
            "servers": list(client.addresses),
            "binary": bool(client.binary),
            "behaviors": {name: behaviors[name] for name in _POOL_BEHAVIORS if name in behaviors},
        }


MemcachedBackend._native_class = MemcachedBackend
