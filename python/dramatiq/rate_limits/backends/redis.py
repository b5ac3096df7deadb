"""RedisBackend: counters in Redis, shared with upstream Dramatiq."""

from __future__ import annotations

from ... import _engine
from ..._redis import engine_connection, redis_py_client
from ._native import NativeBackend


class RedisBackend(NativeBackend):
    """A backend on Redis. Counters are stored as upstream Dramatiq stores
    them (decimal strings under the limiter's keys, with an expiry), so
    upstream processes and ours share the same limits. Updates are atomic
    (Lua scripts); ``wait`` blocks on the server.

    Parameters:
      client: a redis-py client; its connection parameters are used (and
        ``url`` and the other parameters are not, as upstream).
      url(str): a connection URL (``redis://``, ``rediss://``, ``unix://``);
        it wins over connection parameters.
      **parameters: connection parameters as redis-py names them (host,
        port, db, username, password, ssl, socket_timeout, ...).
    """

    def __init__(self, *, client=None, url=None, **parameters):
        engine_url, parameters = engine_connection(client, url, parameters)
        self._native = _engine.RedisRateLimiterBackend(engine_url, parameters)
        self._client = client
        self._url = url
        self._parameters = parameters

    @property
    def client(self):
        """A redis-py client to the same server, for your own inspection
        (the engine never uses it). Needs the ``redis`` package."""
        if self._client is None:
            self._client = redis_py_client("RedisBackend", self._url, self._parameters)
        return self._client

    def __repr__(self):
        return "RedisBackend(%s)" % self._native.description


RedisBackend._native_class = RedisBackend
