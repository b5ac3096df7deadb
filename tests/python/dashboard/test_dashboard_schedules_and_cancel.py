"""The dashboard's schedules (GET /api/schedules) and cancelling a message
(POST /api/messages/{id}/cancel)."""

import datetime
import time

from starlette.testclient import TestClient

import dramatiq
from dramatiq.dashboard import create_app
from dramatiq.schedules import Scheduler

from .conftest import drain, runs_until_cancelled


def test_schedules_are_listed_with_their_last_and_next_runs(sqlite_broker):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", periodic="* * * * *")
    def every_minute():
        pass

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def report(kind):
        pass

    dramatiq.schedule(report, cron="0 6 * * 1", args=["weekly"], name="weekly-report", timezone="Europe/Paris")
    client = TestClient(create_app(sqlite_broker))
    before = int(time.time() * 1000)
    listed = {s["name"]: s for s in client.get("/api/schedules").json()["schedules"]}
    assert set(listed) == {"every_minute", "weekly-report"}
    minute = listed["every_minute"]
    assert (minute["actor_name"], minute["cron"], minute["timezone"], minute["missed"]) == (
        "every_minute", "* * * * *", "UTC", "skip")
    assert minute["last_run"] is None and before < minute["next_run"] <= before + 60_000
    weekly = listed["weekly-report"]
    assert (weekly["actor_name"], weekly["timezone"]) == ("report", "Europe/Paris")
    assert datetime.datetime.fromtimestamp(weekly["next_run"] / 1000, datetime.timezone.utc).weekday() == 0

    # A tick run shows as the last run.
    tick = (int(time.time()) // 60) * 60
    scheduler = Scheduler(sqlite_broker)
    scheduler.run_due(tick - 1)  # before the minute: it reads the broker's last ticks (none)
    assert [outcome["enqueued"] for outcome in scheduler.run_due(tick + 1) if outcome["name"] == "every_minute"] == [True]
    listed = {s["name"]: s for s in client.get("/api/schedules").json()["schedules"]}
    assert listed["every_minute"]["last_run"] == tick * 1000


def test_no_schedule_is_an_empty_list(sqlite_broker):
    assert TestClient(create_app(sqlite_broker)).get("/api/schedules").json()["schedules"] == []


def test_a_broker_that_cannot_record_ticks_has_no_schedules_page_data():
    from engineless_broker import EnginelessBroker

    answer = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"])).get("/api/schedules")
    assert answer.status_code == 501
    assert "cannot enqueue periodic ticks yet" in answer.json()["error"]


def test_a_message_cancelled_from_the_dashboard_never_runs(sqlite_broker):
    ran = []

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def pending(n):
        ran.append(n)

    doomed, spared = pending.send(1), pending.send(2)
    client = TestClient(create_app(sqlite_broker))
    answer = client.post("/api/messages/%s/cancel" % doomed.message_id)
    assert answer.status_code == 200 and answer.json() == {"cancelled": doomed.message_id}
    drain(sqlite_broker)
    assert ran == [2]


def test_a_running_message_cancelled_from_the_dashboard_is_interrupted(sqlite_broker):
    long_running, started, interrupted = runs_until_cancelled(sqlite_broker, "long_running")
    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = long_running.send()
        assert started.wait(10)
        answer = TestClient(create_app(sqlite_broker)).post("/api/messages/%s/cancel" % message.message_id)
        assert answer.status_code == 200
        assert interrupted.wait(10)
    finally:
        worker.stop()


def test_a_cancel_with_a_malformed_id_is_a_400(sqlite_broker):
    client = TestClient(create_app(sqlite_broker))
    for message_id in ["a%20b", "x" * 201, "%00", "%C3%BC", "%20", "a;b", "a%0Ab"]:
        answer = client.post("/api/messages/%s/cancel" % message_id)
        assert answer.status_code == 400, message_id
        assert answer.json() == {"error": "a message id is 1 to 200 letters, digits and . _ : -"}, message_id
    assert client.post("/api/messages/a%2Fb/cancel").status_code == 404  # not a path of the API
    assert client.get("/api/messages/abc/cancel").status_code == 405


def test_read_only_refuses_to_cancel(sqlite_broker):
    answer = TestClient(create_app(sqlite_broker, read_only=True)).post("/api/messages/abc/cancel")
    assert answer.status_code == 403 and answer.json() == {"error": "the dashboard is read-only"}


def test_a_broker_that_cannot_cancel_is_a_501():
    from engineless_broker import EnginelessBroker

    answer = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"])).post("/api/messages/abc/cancel")
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker cannot cancel messages yet"}


def test_cancel_and_schedules_on_redis_and_rabbitmq(server_broker):
    ran = []

    @dramatiq.actor(broker=server_broker, queue_name="dash", periodic="0 * * * *")
    def hourly():
        pass

    @dramatiq.actor(broker=server_broker, queue_name="dash")
    def pending(n):
        ran.append(n)

    client = TestClient(create_app(server_broker))
    [listed] = client.get("/api/schedules").json()["schedules"]
    assert (listed["name"], listed["cron"]) == ("hourly", "0 * * * *") and listed["next_run"] % 3_600_000 == 0
    doomed = pending.send(1)
    pending.send(2)
    assert client.post("/api/messages/%s/cancel" % doomed.message_id).status_code == 200
    drain(server_broker)
    assert ran == [2]
