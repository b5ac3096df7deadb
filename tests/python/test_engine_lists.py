"""Lists the engine owns and Python reads from it: the default middleware
(include/dramatiq/default_middleware.hpp) and the broker URL schemes
(include/dramatiq/connect.hpp), the same for C++'s dramatiq::connect."""

import pytest

from dramatiq import _engine
from dramatiq.brokers import check_url
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import default_middleware

DEFAULTS = ["AgeLimit", "TimeLimit", "ShutdownNotifications", "Callbacks", "Pipelines", "Retries"]


def test_default_middleware_is_the_engines_list():
    assert list(_engine.DEFAULT_MIDDLEWARE) == DEFAULTS
    assert [m.__name__ for m in default_middleware] == DEFAULTS
    broker = StubBroker()
    assert [type(m).__name__ for m in broker.middleware] == DEFAULTS


def test_broker_url_schemes_are_checked_by_the_engine():
    assert check_url("REDIS://localhost:6379") == "redis"
    assert check_url("sqlite:///tmp/x.sqlite3") == "sqlite"
    with pytest.raises(ValueError, match=r"Unsupported broker URL 'mysql://h': expected one of sqlite://, redis://"):
        check_url("mysql://h")
    assert _engine.broker_url_scheme("stub://") == "stub"
