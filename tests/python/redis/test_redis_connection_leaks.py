"""Connections refused half-way through their handshake (the server wants
a password and gets a wrong one or none) give back their socket: the open
descriptors of this process and the server's connected clients stay flat
however often producers and consumers try again."""

import os

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import ConnectionFailed

from redis_support import RedisServer, wait_until

ATTEMPTS = 50
# Descriptors or server connections that come and go by themselves (the
# client asking INFO, say); a leak adds one per attempt.
SLACK = 2
QUEUES = 10  # a worker consumes each queue and its delay queue


@pytest.fixture
def password_server():
    with RedisServer(password="right-pw") as server:
        yield server


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def server_info(server, section, field):
    with server.client() as client:
        return client.info(section)[field]


def broker_url(server, password):
    auth = ":%s@" % password if password else ""
    return "redis://%s127.0.0.1:%d/0" % (auth, server.port)


@pytest.mark.parametrize("password", ["wrong-pw", None], ids=["wrong", "missing"])
def test_refused_producers_leave_no_connection_behind(password_server, password):
    broker = RedisBroker(url=broker_url(password_server, password))
    try:

        @dramatiq.actor(broker=broker, queue_name="leaks")
        def noop():
            pass

        fds_before = open_fds()
        clients_before = server_info(password_server, "clients", "connected_clients")
        for _ in range(ATTEMPTS):
            with pytest.raises(ConnectionFailed, match="Authentication failed"):
                noop.send()
        assert open_fds() <= fds_before + SLACK
        assert server_info(password_server, "clients", "connected_clients") <= clients_before + SLACK
    finally:
        broker.close()


@pytest.mark.parametrize("password", ["wrong-pw", None], ids=["wrong", "missing"])
def test_a_refused_worker_leaves_no_connection_behind(password_server, password):
    broker = RedisBroker(url=broker_url(password_server, password))
    for n in range(QUEUES):
        dramatiq.actor(lambda: None, broker=broker, actor_name="noop%d" % n, queue_name="leaks%d" % n)
    fds_before = open_fds()
    clients_before = server_info(password_server, "clients", "connected_clients")
    connections_before = server_info(password_server, "stats", "total_connections_received")
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        # Each consumer retries with a growing delay; the server counts
        # the attempts.
        wait_until(
            lambda: server_info(password_server, "stats", "total_connections_received")
            >= connections_before + ATTEMPTS,
            timeout=60,
            message="%d refused connection attempts" % ATTEMPTS,
        )
    finally:
        worker.stop()
        broker.close()
    assert open_fds() <= fds_before + SLACK
    assert server_info(password_server, "clients", "connected_clients") <= clients_before + SLACK
