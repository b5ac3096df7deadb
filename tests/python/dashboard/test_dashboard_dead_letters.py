"""The dashboard's dead-letter API: listing a queue's dead letters,
requeueing and deleting them, bad input, read-only mode."""

import pytest
from starlette.testclient import TestClient

import dramatiq
from dramatiq.dashboard import create_app

from .conftest import drain


@pytest.fixture
def failing(sqlite_broker):
    """An actor on queue "dash" that fails while ``failing.on`` holds, and a
    ``kill(n)`` that runs it until ``n`` messages are dead letters."""

    class Failing:
        on = True
        ran = []

        def kill(self, *values):
            messages = [self.actor.send(value) for value in values]
            drain(sqlite_broker)
            return messages

        def run_what_is_queued(self):
            self.on = False
            drain(sqlite_broker)

    state = Failing()

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", max_retries=0)
    def doomed(n, *, tag="x"):
        if state.on:
            raise ValueError("no %s" % n)
        state.ran.append(n)

    state.actor = doomed
    return state


def listing(client, queue="dash"):
    answer = client.get("/api/queues/%s/dead" % queue)
    assert answer.status_code == 200, answer.text
    return answer.json()["dead_letters"]


def test_dead_letters_are_listed_with_their_message_and_failure(sqlite_broker, failing):
    (message,) = failing.kill(7)
    letters = listing(TestClient(create_app(sqlite_broker)))
    assert len(letters) == 1
    letter = letters[0]
    assert letter["message_id"] == message.message_id
    assert (letter["actor_name"], letter["args"], letter["kwargs"]) == ("doomed", [7], {})
    assert letter["retries"] == 0
    assert letter["failure"] == "ValueError: no 7"
    assert "ValueError: no 7" in letter["traceback"]
    assert isinstance(letter["dead_at"], int) and isinstance(letter["id"], str)
    assert isinstance(letter["options"], dict)


def test_a_listing_limit_must_be_a_whole_number_in_range(sqlite_broker, failing):
    failing.kill(1, 2, 3)
    client = TestClient(create_app(sqlite_broker))
    assert len(client.get("/api/queues/dash/dead?limit=2").json()["dead_letters"]) == 2
    for limit in ["0", "-1", "abc", "1001", "1e3", "", "2.5", "²", "٣", "9" * 40]:
        answer = client.get("/api/queues/dash/dead", params={"limit": limit})
        assert answer.status_code == 400, limit
        assert answer.json() == {"error": "limit must be a whole number from 1 to 1000"}
    missing = client.get("/api/queues/nowhere/dead")
    assert missing.status_code == 404 and "no queue named 'nowhere'" in missing.json()["error"]


def test_a_requeued_dead_letter_runs_again(sqlite_broker, failing):
    first, second = failing.kill(1, 2)
    client = TestClient(create_app(sqlite_broker))
    ids = {letter["message_id"]: letter["id"] for letter in listing(client)}
    answer = client.post("/api/queues/dash/dead/requeue", json={"ids": [ids[first.message_id]]})
    assert answer.status_code == 200 and answer.json() == {"queue": "dash", "requeued": 1}
    failing.run_what_is_queued()
    assert failing.ran == [1]
    assert [letter["message_id"] for letter in listing(client)] == [second.message_id]
    assert client.post("/api/queues/dash/dead/requeue", json={"all": True}).json()["requeued"] == 1
    failing.run_what_is_queued()
    assert sorted(failing.ran) == [1, 2]
    assert listing(client) == []


def test_dead_letters_are_deleted_one_by_one_or_all(sqlite_broker, failing):
    first, second, third = failing.kill(1, 2, 3)
    client = TestClient(create_app(sqlite_broker))
    ids = {letter["message_id"]: letter["id"] for letter in listing(client)}
    answer = client.post("/api/queues/dash/dead/delete", json={"ids": [ids[second.message_id]]})
    assert answer.status_code == 200 and answer.json() == {"queue": "dash", "deleted": 1}
    assert [letter["message_id"] for letter in listing(client)] == [first.message_id, third.message_id]
    assert client.post("/api/queues/dash/dead/delete", json={"all": True}).json() == {"queue": "dash", "deleted": 2}
    assert listing(client) == []
    assert client.get("/api/queues/dash").json()["dead"] == 0


def test_an_action_on_ids_that_name_no_dead_letter_is_a_404(sqlite_broker, failing):
    failing.kill(1)
    client = TestClient(create_app(sqlite_broker))
    for verb in ["requeue", "delete"]:
        for ids in [["no-such-letter"], ["999999"], ["1; DROP TABLE dramatiq_messages"], ["%00"]]:
            answer = client.post("/api/queues/dash/dead/" + verb, json={"ids": ids})
            assert answer.status_code == 404, (verb, ids)
            assert answer.json() == {"error": "no dead letter of queue 'dash' has any of these ids"}
    assert len(listing(client)) == 1  # nothing moved


def test_an_action_with_a_malformed_body_is_a_400(sqlite_broker, failing):
    failing.kill(1)
    client = TestClient(create_app(sqlite_broker))
    for verb in ["requeue", "delete"]:
        path = "/api/queues/dash/dead/" + verb
        not_json = client.post(path, content=b"ids=1", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and "must be JSON" in not_json.json()["error"]
        for body in [{}, [], "all", {"ids": ["1"], "all": True}, {"all": False}, {"all": 1}, {"ids": []},
                     {"ids": "1"}, {"ids": [1]}, {"ids": [""]}, {"ids": [None]}, {"ids": ["1"] * 1001}]:
            answer = client.post(path, json=body)
            assert answer.status_code == 400, (verb, body)
            assert answer.json()["error"], (verb, body)
        assert client.get(path).status_code == 405
        assert client.post("/api/queues/nowhere/dead/" + verb, json={"all": True}).status_code == 404
    assert len(listing(client)) == 1  # nothing moved


def test_read_only_refuses_every_action_but_still_lists(sqlite_broker, failing):
    failing.kill(1)
    client = TestClient(create_app(sqlite_broker, read_only=True))
    for verb in ["requeue", "delete"]:
        answer = client.post("/api/queues/dash/dead/" + verb, json={"all": True})
        assert answer.status_code == 403 and answer.json() == {"error": "the dashboard is read-only"}
    assert len(listing(client)) == 1


def test_a_broker_without_dead_letters_is_a_501():
    from engineless_broker import EnginelessBroker

    client = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"]))
    answer = client.get("/api/queues/default/dead")
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker cannot list its dead letters"}
    answer = client.post("/api/queues/default/dead/requeue", json={"all": True})
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker cannot requeue its dead letters"}


def test_the_queue_page_is_served_for_a_known_queue_only(sqlite_broker, failing):
    client = TestClient(create_app(sqlite_broker))
    page = client.get("/queues/dash")
    assert page.status_code == 200 and "Dead letters" in page.text
    assert client.get("/queues/nowhere").status_code == 404


def test_dead_letters_through_the_api_on_redis_and_rabbitmq(server_broker):
    ran = []
    failing = [True]

    @dramatiq.actor(broker=server_broker, queue_name="dash", max_retries=0)
    def flaky(n):
        if failing[0]:
            raise ValueError("no %s" % n)
        ran.append(n)

    messages = [flaky.send(n) for n in range(3)]
    drain(server_broker)
    client = TestClient(create_app(server_broker))
    letters = listing(client)
    assert sorted(letter["message_id"] for letter in letters) == sorted(m.message_id for m in messages)
    assert {letter["actor_name"] for letter in letters} == {"flaky"}
    assert client.get("/api/queues/dash").json()["dead"] == 3
    by_message = {letter["message_id"]: letter["id"] for letter in letters}

    failing[0] = False
    answer = client.post("/api/queues/dash/dead/requeue", json={"ids": [by_message[messages[0].message_id]]})
    assert answer.json() == {"queue": "dash", "requeued": 1}
    drain(server_broker)
    assert ran == [0]
    answer = client.post("/api/queues/dash/dead/delete", json={"ids": [by_message[messages[1].message_id]]})
    assert answer.json() == {"queue": "dash", "deleted": 1}
    assert [letter["message_id"] for letter in listing(client)] == [messages[2].message_id]
    unknown = client.post("/api/queues/dash/dead/requeue", json={"ids": ["no-such-letter"]})
    assert unknown.status_code == 404
    assert client.post("/api/queues/dash/dead/requeue", json={"all": True}).json()["requeued"] == 1
    drain(server_broker)
    assert sorted(ran) == [0, 2]
    assert listing(client) == []


def test_waiting_messages_are_listed_ready_then_delayed(sqlite_broker):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def later(n, *, label="x"):
        pass

    ready = [later.send(n) for n in range(3)]
    delayed = later.send_with_options(args=(9,), kwargs={"label": "y"}, delay=60_000)
    client = TestClient(create_app(sqlite_broker))
    answer = client.get("/api/queues/dash/messages")
    assert answer.status_code == 200
    listed = answer.json()["messages"]
    assert [m["message_id"] for m in listed] == [m.message_id for m in ready] + [delayed.message_id]
    assert [m["delayed"] for m in listed] == [False, False, False, True]
    assert (listed[0]["actor_name"], listed[0]["args"], listed[0]["kwargs"]) == ("later", [0], {})
    assert listed[3]["kwargs"] == {"label": "y"} and listed[3]["eta"] > listed[3]["enqueued_at"]
    assert listed[0]["eta"] is None and listed[0]["enqueued_at"] == ready[0].message_timestamp
    assert len(client.get("/api/queues/dash/messages?limit=2").json()["messages"]) == 2
    for limit in ["0", "1001", "x", "²"]:
        assert client.get("/api/queues/dash/messages", params={"limit": limit}).status_code == 400
    assert client.get("/api/queues/nowhere/messages").status_code == 404


def test_waiting_messages_on_redis_and_rabbitmq(server_broker):
    @dramatiq.actor(broker=server_broker, queue_name="dash")
    def later(n):
        pass

    ready = [later.send(n) for n in range(2)]
    delayed = later.send_with_options(args=(9,), delay=60_000)
    listed = TestClient(create_app(server_broker)).get("/api/queues/dash/messages").json()["messages"]
    assert [(m["message_id"], m["delayed"]) for m in listed] == [
        (ready[0].message_id, False), (ready[1].message_id, False), (delayed.message_id, True)]


def test_a_broker_that_cannot_list_messages_is_a_501():
    from engineless_broker import EnginelessBroker

    answer = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"])).get("/api/queues/default/messages")
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker cannot list its queues' messages"}
