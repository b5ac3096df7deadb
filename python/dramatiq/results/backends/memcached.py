"""MemcachedBackend: results in memcached, readable by upstream Dramatiq too."""

from __future__ import annotations

from ... import _engine
from ..._memcached import ClientPoolAttribute, memcached_settings
from ...encoder import JSONEncoder
from ..backend import NativeResultBackend


class MemcachedBackend(NativeResultBackend):
    """A result backend on memcached (libmemcached, in the engine). Results
    are stored as upstream's pylibmc-based backend stores them. Memcached
    cannot block: blocking waits poll (from 1 ms, up to every 50 ms).
    Expiry is in whole seconds.

    Parameters:
      namespace, encoder, use_namespace_prefix_keys: as ``ResultBackend``.
      pool: a ``pylibmc.ClientPool``; its servers and protocol are used.
        Without one, ``backend.pool`` is a pool built on first use (needs
        pylibmc) to the same servers, for your own use, as upstream's.
      pool_size: the most connections used at once.
      **parameters: what ``pylibmc.Client`` takes: ``servers`` (default
        ``["127.0.0.1"]``), ``binary``, ``username``, ``password``,
        ``behaviors``.
    """

    pool = ClientPoolAttribute()

    def __init__(self, *, namespace="dramatiq-results", encoder=None, use_namespace_prefix_keys=False,
                 pool=None, pool_size=8, **parameters):
        self._settings = memcached_settings(pool, pool_size, parameters, owner="MemcachedBackend")
        self.pool = pool
        super().__init__(namespace=namespace, encoder=encoder, use_namespace_prefix_keys=use_namespace_prefix_keys)

    def _make_native(self):
        return _engine.MemcachedResultBackend(
            *self._settings, self.namespace, self.use_namespace_prefix_keys, self.encoder, JSONEncoder
        )

    @property
    def servers(self) -> list:
        """The memcached servers."""
        return list(self._native.servers)
