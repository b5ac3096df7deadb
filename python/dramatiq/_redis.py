"""Redis connection settings shared by everything that talks to Redis
(broker, result backend, rate-limiter backend): the engine's connections
take redis-py's parameter names; ``.client`` properties give users a
redis-py client to the same server."""

from __future__ import annotations

from typing import Optional

#: redis-py connection keywords that mean something to the engine too.
_SHARED_KEYWORDS = {"host", "port", "db", "username", "password", "path", "client_name", "socket_timeout",
                    "socket_connect_timeout", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
                    "ssl_check_hostname"}


def engine_connection(client, url: Optional[str], parameters: dict) -> tuple:
    """The engine's ``(url, parameters)``. A redis-py ``client`` decides the
    connection when one is given, as upstream: ``url`` and ``parameters``
    are then unused."""
    if client is None:
        return url, parameters
    return None, client_parameters(client)


def client_parameters(client) -> dict:
    """The connection parameters of a redis-py client."""
    pool = client.connection_pool
    parameters = {key: value for key, value in pool.connection_kwargs.items() if key in _SHARED_KEYWORDS}
    if "SSL" in getattr(pool, "connection_class", type(None)).__name__:
        parameters["ssl"] = True
    return parameters


def redis_py_client(owner: str, url: Optional[str], parameters: dict):
    """A redis-py client to the same server (for users' own inspection;
    the engine never uses it). ``owner`` names the class in errors."""
    try:
        import redis
    except ImportError:
        raise AttributeError("%s.client needs the 'redis' package (pip install redis)" % owner) from None
    if url:
        return redis.Redis.from_url(url)
    parameters = dict(parameters)
    if "path" in parameters:
        parameters["unix_socket_path"] = parameters.pop("path")
    return redis.Redis(**parameters)
