"""The dashboard's workers: GET /api/workers and the stream's workers
events, from the records running workers keep on the broker."""

import http.client
import threading
import time

import pytest
from starlette.testclient import TestClient

import dramatiq
from dramatiq.dashboard import create_app

from .test_dashboard_api import read_event

WAIT_S = 10


@pytest.fixture
def blocking_worker():
    """``start(broker)``: a worker running one message of an actor on queue
    "dash" that blocks until ``release`` is set; stopped after the test."""

    class Running:
        started = threading.Event()
        release = threading.Event()
        worker = None

        def start(self, broker):
            @dramatiq.actor(broker=broker, queue_name="dash")
            def blocks():
                self.started.set()
                assert self.release.wait(WAIT_S)

            self.worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
            self.worker.start()
            self.message = blocks.send()
            assert self.started.wait(WAIT_S)
            return self.message

        def stop(self):
            self.release.set()
            if self.worker is not None:
                self.worker.stop()
                self.worker = None

    running = Running()
    yield running
    running.stop()


def workers_until(client, ready):
    """GET /api/workers until ``ready(workers)`` (records come every second)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = client.get("/api/workers")
        assert answer.status_code == 200, answer.text
        workers = answer.json()["workers"]
        if ready(workers) or time.monotonic() > deadline:
            return workers
        time.sleep(0.05)


def check_workers_follow_the_worker(broker, blocking_worker):
    client = TestClient(create_app(broker, refresh=0.01))
    assert client.get("/api/workers").json()["workers"] == []
    message = blocking_worker.start(broker)
    workers = workers_until(client, lambda ws: ws and ws[0]["running"])
    [worker] = workers
    assert worker["worker_threads"] == 2 and "dash" in worker["queues"]
    [running] = worker["running"]
    assert (running["message_id"], running["actor_name"], running["queue_name"]) == (
        message.message_id, "blocks", "dash")
    # In flight: counted by the broker where it can (Redis, SQLite), summed
    # from what the workers hold where it cannot (RabbitMQ).
    assert client.get("/api/queues/dash").json()["in_flight"] == 1
    assert client.get("/api/queues").json()["queues"][0]["in_flight"] == 1
    blocking_worker.release.set()
    [worker] = workers_until(client, lambda ws: ws and ws[0]["processed"] == 1)
    assert worker["running"] == []
    blocking_worker.stop()
    # Gone at the next read (the app reads the records once per refresh).
    assert workers_until(client, lambda ws: ws == []) == []


def test_workers_are_listed_with_what_they_run(sqlite_broker, blocking_worker):
    check_workers_follow_the_worker(sqlite_broker, blocking_worker)


def test_workers_on_redis_and_rabbitmq(server_broker, blocking_worker):
    check_workers_follow_the_worker(server_broker, blocking_worker)


def test_a_broker_without_worker_records_is_a_501():
    from engineless_broker import EnginelessBroker

    answer = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"])).get("/api/workers")
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker keeps no worker records"}


def test_the_event_stream_tells_of_the_workers(sqlite_broker, live_server, blocking_worker):
    server = live_server(create_app(sqlite_broker, refresh=0.05))
    message = blocking_worker.start(sqlite_broker)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        for _ in range(500):
            name, data = read_event(response)
            if name == "workers" and data["workers"] and data["workers"][0]["running"]:
                assert data["workers"][0]["running"][0]["message_id"] == message.message_id
                break
        else:
            raise AssertionError("the stream never told of the running message")
    finally:
        connection.close()
