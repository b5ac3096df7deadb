"""The dashboard's JSON API and event stream (dramatiq.dashboard.create_app)."""

import http.client
import json

import pytest
from starlette.testclient import TestClient

import dramatiq
from dramatiq.dashboard import create_app


def declare_actor(broker, queue_name="dash"):
    @dramatiq.actor(broker=broker, queue_name=queue_name)
    def work():
        pass

    return work


def test_queues_lists_the_counts_of_every_declared_queue(sqlite_broker):
    work = declare_actor(sqlite_broker)
    for _ in range(3):
        work.send()
    work.send_with_options(delay=60_000)
    client = TestClient(create_app(sqlite_broker, refresh=0.01))
    answer = client.get("/api/queues")
    assert answer.status_code == 200
    queues = {q["name"]: q for q in answer.json()["queues"]}
    assert queues["dash"] == {"name": "dash", "ready": 3, "delayed": 1, "in_flight": 0, "dead": 0}


def test_one_queue_and_an_unknown_queue(sqlite_broker):
    declare_actor(sqlite_broker)
    client = TestClient(create_app(sqlite_broker))
    assert client.get("/api/queues/dash").json() == {"name": "dash", "ready": 0, "delayed": 0, "in_flight": 0,
                                                      "dead": 0}
    missing = client.get("/api/queues/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no queue named 'nowhere' (known: dash)"
    # Names that are not plain words are answered the same way, never a 500.
    for name in ["%00", "..%2F..", "a" * 5000, "%E2%9C%93"]:
        answer = client.get("/api/queues/" + name)
        assert answer.status_code == 404, name
        assert answer.json()["error"], name


def test_an_unknown_path_or_method_is_a_4xx_with_a_message(sqlite_broker):
    client = TestClient(create_app(sqlite_broker))
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = client.delete("/api/queues")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}


def test_the_host_apps_authorization_hook_decides(sqlite_broker):
    declare_actor(sqlite_broker)
    asked = []

    def authorize(request):
        asked.append(request.url.path)
        return request.headers.get("x-user") == "admin"

    client = TestClient(create_app(sqlite_broker, authorize=authorize))
    refused = client.get("/api/queues")
    assert refused.status_code == 403 and refused.json() == {"error": "not authorized"}
    assert client.get("/", headers={"x-user": "someone"}).status_code == 403
    assert client.get("/api/queues", headers={"x-user": "admin"}).status_code == 200
    assert asked == ["/api/queues", "/", "/api/queues"]


def test_a_broker_that_cannot_be_reached_is_a_503(tmp_path):
    from dramatiq.brokers.redis import RedisBroker
    from server_process import free_port

    broker = RedisBroker(url="redis://127.0.0.1:%d/0" % free_port())  # nothing listens there
    try:
        declare_actor(broker)
        answer = TestClient(create_app(broker)).get("/api/queues")
        assert answer.status_code == 503
        assert answer.json()["error"].startswith("the broker cannot be reached")
    finally:
        broker.close()


def test_a_refresh_that_is_not_positive_is_refused(sqlite_broker):
    with pytest.raises(ValueError, match="refresh must be positive"):
        create_app(sqlite_broker, refresh=0)


def read_event(response):
    """The next server-sent event of `response`: (name, data)."""
    name = data = None
    while True:
        line = response.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: "):])
        elif line == "" and name is not None:
            return name, data


def test_the_event_stream_follows_the_counts(sqlite_broker, live_server):
    work = declare_actor(sqlite_broker)
    server = live_server(create_app(sqlite_broker, refresh=0.05))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type").startswith("text/event-stream")
        name, data = read_event(response)
        assert name == "queues"
        assert {q["name"]: q["ready"] for q in data["queues"]}["dash"] == 0
        for _ in range(2):
            work.send()
        # Each event is a fresh read: the sends show within a few events.
        for _ in range(200):
            name, data = read_event(response)
            if name == "queues" and {q["name"]: q["ready"] for q in data["queues"]}["dash"] == 2:
                break
        else:
            raise AssertionError("the stream never showed the two messages sent")
    finally:
        connection.close()
