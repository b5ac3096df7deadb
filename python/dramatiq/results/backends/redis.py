"""RedisBackend: results in Redis, readable by upstream Dramatiq too."""

from __future__ import annotations

from ... import _engine
from ..._redis import engine_connection, redis_py_client
from ...encoder import JSONEncoder
from ..backend import NativeResultBackend


class RedisBackend(NativeResultBackend):
    """A result backend on Redis (the engine's own client). Blocking waits
    block on the server and return as soon as the result is stored.

    Parameters:
      namespace, encoder, use_namespace_prefix_keys: as ``ResultBackend``.
      client: a redis-py client; its connection parameters are used (and
        ``url`` and the other parameters are not, as upstream).
      url: a connection URL (``redis://``, ``rediss://``, ``unix://``);
        it wins over connection parameters.
      **parameters: connection parameters, named as redis-py names them.
    """

    def __init__(self, *, namespace="dramatiq-results", encoder=None, use_namespace_prefix_keys=False,
                 client=None, url=None, **parameters):
        self._engine_url, parameters = engine_connection(client, url, parameters)
        self.url = url
        self._parameters = parameters
        self._client = client
        super().__init__(namespace=namespace, encoder=encoder, use_namespace_prefix_keys=use_namespace_prefix_keys)

    def _make_native(self):
        return _engine.RedisResultBackend(
            self._engine_url, self._parameters, self.namespace, self.use_namespace_prefix_keys, self.encoder,
            JSONEncoder,
        )

    @property
    def client(self):
        """A redis-py client to the same server, for your own inspection
        (the engine never uses it). Needs the ``redis`` package."""
        if self._client is None:
            self._client = redis_py_client("RedisBackend", self.url, self._parameters)
        return self._client
