"""MemcachedBackend: counters in memcached, shared with upstream Dramatiq."""

from __future__ import annotations

from ... import _engine
from ..._memcached import ClientPoolAttribute, memcached_settings
from ._native import NativeBackend


class MemcachedBackend(NativeBackend):
    """A backend on memcached (libmemcached, in the engine). Counters are
    stored as pylibmc stores Python ints, so upstream Dramatiq's
    pylibmc-based backend and this one share the same limits. Memcached
    cannot block: ``wait`` polls. Expiry is in whole seconds.

    Parameters:
      pool: a ``pylibmc.ClientPool``; its servers and protocol are used.
        Without one, ``backend.pool`` is a pool built on first use (needs
        pylibmc) to the same servers, for your own use, as upstream's.
      pool_size(int): the most connections used at once.
      **parameters: what ``pylibmc.Client`` takes: ``servers`` (a list
        of "host", "host:port" or socket paths; default
        ``["127.0.0.1"]``), ``binary`` (bool), ``username`` and
        ``password`` (SASL), ``behaviors`` (a dict of integer behaviors).
    """

    pool = ClientPoolAttribute()

    def __init__(self, *, pool=None, pool_size=8, **parameters):
        settings = memcached_settings(pool, pool_size, parameters, owner="MemcachedBackend", behaviors={"cas": True})
        self._settings = settings
        self._native = _engine.MemcachedRateLimiterBackend(*settings)
        self.pool = pool

    @property
    def servers(self):
        """The memcached servers."""
        return list(self._native.servers)

    def __repr__(self):
        return "MemcachedBackend(servers=%r, binary=%r)" % (self.servers, self._native.binary)


MemcachedBackend._native_class = MemcachedBackend
