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
