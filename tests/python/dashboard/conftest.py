"""The dashboard against a real broker (an SQLite file: the embedded
broker's, shared with other processes as a server would be), served by a
real uvicorn on a free loopback port for the stream and browser tests."""

import threading
import time
from pathlib import Path

import pytest

from server_process import free_port

ARTIFACTS = Path(__file__).resolve().parents[3] / "build-artifacts" / "dashboard"


@pytest.fixture
def sqlite_broker(tmp_path):
    import dramatiq
    from dramatiq.brokers.sqlite import SQLiteBroker

    broker = SQLiteBroker(path=str(tmp_path / "broker.sqlite3"))
    dramatiq.set_broker(broker)
    yield broker
    broker.close()


@pytest.fixture(scope="session")
def dashboard_rabbitmq_server():
    """A rabbitmq-server for the dashboard's tests, the session's."""
    import rabbitmq_support

    server = rabbitmq_support.started_or_failed(rabbitmq_support.RabbitmqServer())
    yield server
    server.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def server_broker(request):
    """A broker on a real server (a fresh redis-server, or the session's
    rabbitmq-server), installed as the global broker; flushed and closed after."""
    import dramatiq

    if request.param == "redis":
        import redis_support
        from dramatiq.brokers.redis import RedisBroker

        server = redis_support.RedisServer()
        server.start()
        request.addfinalizer(server.close)
        broker = RedisBroker(url=server.url)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        server = request.getfixturevalue("dashboard_rabbitmq_server")
        broker = RabbitmqBroker(url=server.url)
    dramatiq.set_broker(broker)
    yield broker
    try:
        broker.flush_all()
    finally:
        broker.close()


def drain(broker, queue_name="dash", timeout_ms=20_000):
    """Run what ``queue_name`` holds with a worker of one thread until the
    queue is done (``broker.join``), then stop the worker."""
    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join(queue_name, timeout=timeout_ms)
    finally:
        worker.stop()


def runs_until_cancelled(broker, name):
    """An actor on queue "dash" that loops until it is cancelled; returns
    it with its ``started`` and ``interrupted`` events."""
    import threading

    import dramatiq

    started, interrupted = threading.Event(), threading.Event()

    def body():
        started.set()
        try:
            while not interrupted.wait(0.01):  # Cancelled is raised in this thread meanwhile
                pass
        except dramatiq.Cancelled:
            interrupted.set()
            raise

    body.__name__ = name
    return dramatiq.actor(broker=broker, queue_name="dash")(body), started, interrupted


class LiveServer:
    """uvicorn serving ``app`` from a thread; ``url`` once it listens."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # uvicorn's own flag: set once the socket listens
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard's server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "the dashboard's server did not stop"


@pytest.fixture
def live_server():
    servers = []

    def serve(app):
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.__exit__(None, None, None)
