"""Broker implementations, and brokers named by URL."""

from __future__ import annotations

import os
from typing import Optional

from .. import _engine

#: The environment variable ``dramatiq.get_broker()`` reads when no broker
#: was set (and the ``dramatiq`` command's ``--broker-url`` sets).
BROKER_URL_VARIABLE = "DRAMATIQ_BROKER_URL"

#: The URL schemes ``from_url`` knows: the engine's list (one place for the
#: C++ API's ``dramatiq::connect`` and for Python).
_SCHEMES = tuple(_engine.BROKER_URL_SCHEMES)


def check_url(url: str) -> str:
    """Return the lower-cased scheme of a broker URL.

    Parameters:
      url: a broker URL (see ``from_url``).

    Raises ``ValueError`` for a URL of no known scheme."""
    return _engine.broker_url_scheme(url)


def from_url(url: str, *, middleware: Optional[list] = None):
    """Build the broker a URL names.

    Parameters:
      url: ``sqlite:///path`` (the embedded broker), ``redis://``,
        ``rediss://`` or ``unix://`` (RedisBroker), ``amqp://`` or
        ``amqps://`` (RabbitmqBroker), ``stub://`` (an in-process StubBroker).
      middleware: the middleware list (default: the default middleware).

    Raises ``ValueError`` for a URL of no known scheme.
    """
    scheme = check_url(url)
    if scheme == "sqlite":
        from .sqlite import SQLiteBroker

        return SQLiteBroker(url=url, middleware=middleware)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBroker

        return RedisBroker(url=url, middleware=middleware)
    if scheme in ("amqp", "amqps"):
        from .rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=middleware)
    from .stub import StubBroker

    return StubBroker(middleware=middleware)


def default_broker():
    """The broker ``dramatiq.get_broker()`` creates when none was set: the
    one ``$DRAMATIQ_BROKER_URL`` names, otherwise the embedded broker at
    ``dramatiq.brokers.sqlite.DEFAULT_PATH``."""
    url = os.environ.get(BROKER_URL_VARIABLE)
    if url:
        return from_url(url)
    from ..logging import get_logger
    from .sqlite import DEFAULT_PATH, SQLiteBroker

    broker = SQLiteBroker(DEFAULT_PATH)
    get_logger(__name__).info(
        "Using the embedded broker at %s (set %s to use another).", DEFAULT_PATH, BROKER_URL_VARIABLE
    )
    return broker
