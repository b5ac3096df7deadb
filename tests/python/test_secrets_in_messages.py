"""No password in any log line or exception message: URLs and parameters
that carry one are shown with it replaced by ``***`` (docs/reliability.md).
Each test captures every log record, at every level, while a broker built
with the password fails, and searches the records, their tracebacks and
the exception raised."""

import logging
import os
import socket
import sys
import traceback

import pytest

import dramatiq
from dramatiq.brokers import check_url, from_url

sys.path.insert(0, os.path.dirname(__file__))
from redis_support import RedisServer  # noqa: E402

SECRET = "s3cr3t-Pa55"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_secret_hidden(caplog, error):
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    leaks = [text for text in texts if SECRET in text]
    assert not leaks, "the password appears in: %r" % leaks


@pytest.fixture(autouse=True)
def _capture_everything(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.mark.parametrize("url", [
    "amqpx://user:%s@host/vh" % SECRET,
    "redis:/:%s@host" % SECRET,
    "rediss//user:%s@host" % SECRET,
])
def test_an_unsupported_url_is_refused_without_its_password(caplog, url):
    with pytest.raises(ValueError) as info:
        check_url(url)
    assert "***" in str(info.value)
    assert_secret_hidden(caplog, info.value)
    with pytest.raises(ValueError) as info:
        from_url(url)
    assert_secret_hidden(caplog, info.value)


def test_rabbitmq_url_parameters_hide_the_password(caplog):
    from dramatiq.brokers.rabbitmq import URLParameters

    parameters = URLParameters("amqp://user:%s@127.0.0.1:%d/vh" % (SECRET, closed_port()))
    assert SECRET not in repr(parameters)
    with pytest.raises(ValueError) as info:
        URLParameters("http://user:%s@host" % SECRET)
    assert_secret_hidden(caplog, info.value)


def test_an_unreachable_redis_does_not_show_the_password(caplog):
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url="redis://user:%s@127.0.0.1:%d/0" % (SECRET, closed_port()))
    try:
        with pytest.raises(dramatiq.errors.BrokerConnectionError) as info:
            broker.enqueue(dramatiq.Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={}))
        assert_secret_hidden(caplog, info.value)
    finally:
        broker.close()


def test_a_refused_redis_password_is_not_shown(caplog):
    from dramatiq.brokers.redis import RedisBroker

    with RedisServer(password="the-right-one") as server:
        broker = RedisBroker(url="redis://:%s@127.0.0.1:%d/0" % (SECRET, server.port))
        try:
            with pytest.raises(dramatiq.errors.BrokerConnectionError) as info:
                broker.enqueue(dramatiq.Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={}))
            assert "Authentication failed" in str(info.value)
            assert_secret_hidden(caplog, info.value)
        finally:
            broker.close()


def test_an_unreachable_rabbitmq_does_not_show_the_password(caplog):
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url="amqp://user:%s@127.0.0.1:%d/vh" % (SECRET, closed_port()))
    try:
        with pytest.raises(dramatiq.errors.BrokerConnectionError) as info:
            broker.enqueue(dramatiq.Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={}))
        assert_secret_hidden(caplog, info.value)
    finally:
        broker.close()
