"""Bad RedisBroker configuration is refused when the broker is built."""

import pytest

from dramatiq.brokers.redis import RedisBroker


def test_unknown_connection_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="bogus"):
        RedisBroker(bogus=1)


def test_unknown_connection_parameter_beside_a_url_is_a_type_error():
    # Upstream hands every parameter to redis-py, which refuses the name
    # even though the URL decides the connection.
    with pytest.raises(TypeError, match="bogus"):
        RedisBroker(url="redis://127.0.0.1:6390/0", bogus=1)


def test_parameters_beside_a_url_are_accepted_and_the_url_wins():
    broker = RedisBroker(url="redis://127.0.0.1:6390/0", port="ignored", decode_responses=True)
    broker.close()


def test_url_with_an_unknown_scheme_is_a_value_error():
    with pytest.raises(ValueError, match="redis://"):
        RedisBroker(url="http://127.0.0.1:6379/0")


@pytest.mark.superset
@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "redis://127.0.0.1:notaport/0"},
        {"url": "redis://127.0.0.1:6379/notadb"},
        {"port": "notaport"},
        {"socket_timeout": "soon"},
        {"url": "rediss://127.0.0.1?ssl_cert_reqs=maybe"},
    ],
)
def test_malformed_values_are_value_errors_at_construction(kwargs):
    with pytest.raises(ValueError):
        RedisBroker(**kwargs)


def test_client_only_parameters_are_accepted():
    # redis-py options that tune its own client (the engine has its own).
    broker = RedisBroker(host="127.0.0.1", port=6390, decode_responses=True, health_check_interval=10)
    broker.close()
