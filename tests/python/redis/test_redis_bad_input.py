"""Messages that a worker cannot run, pushed into a queue by hand the way
a producer writes them (HSET ``ns:q.msgs`` id data; RPUSH ``ns:q`` id),
between good messages.

Each bad message must end up dead-lettered in ``ns:q.XQ`` /
``ns:q.XQ.msgs`` (its stored bytes unchanged), a reason must be logged
by a ``dramatiq`` logger, and the worker must process the good messages
around it.

Upstream Dramatiq 2.2.1 dead-letters a message for an unknown actor (and
logs "Received message for undefined actor ..."), but a message it
cannot decode kills its consumer ("Consumer encountered an unexpected
error."), which restarts and leaves that message held in its ack set
forever: dead-lettering undecodable messages is dramatiq-cpp's
(``superset``).
"""

import json
import logging
import threading
import time
import uuid

import pytest

import dramatiq

from redis_support import wait_until

LONG = 30.0
QUEUE = "intake"


def unknown_actor_message(redis_id):
    message = dramatiq.Message(
        queue_name=QUEUE,
        actor_name="no_such_actor",
        args=(1,),
        kwargs={},
        options={"redis_message_id": redis_id},
        message_id=str(uuid.uuid4()),
        message_timestamp=int(time.time() * 1000),
    )
    return message.encode()


BAD_INPUTS = [
    pytest.param(
        lambda redis_id: b"\xff\xfe not json at all \x00\x81",
        ["decode"],
        id="garbage-bytes",
        marks=pytest.mark.superset,
    ),
    pytest.param(lambda redis_id: b"[1,2]", ["decode"], id="json-array", marks=pytest.mark.superset),
    pytest.param(
        lambda redis_id: json.dumps({"queue_name": QUEUE, "hello": "world"}).encode(),
        ["decode"],
        id="object-without-message-fields",
        marks=pytest.mark.superset,
    ),
    pytest.param(unknown_actor_message, ["no_such_actor"], id="unknown-actor"),
]


def reason_logged(records, words):
    """The dramatiq warnings/errors that mention one of ``words``."""
    found = []
    for record in records:
        if not record.name.startswith("dramatiq") or record.levelno < logging.WARNING:
            continue
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + repr(record.exc_info[1])
        if record.exc_text:
            text += " " + record.exc_text
        if any(word.lower() in text.lower() for word in words):
            found.append(record)
    return found


@pytest.mark.parametrize("make_data, words", BAD_INPUTS)
def test_bad_message_is_dead_lettered_with_a_logged_reason(
    redis_broker, redis_client, caplog, make_data, words
):
    caplog.set_level(logging.DEBUG)
    lock = threading.Lock()
    processed = []

    @dramatiq.actor(queue_name=QUEUE)
    def good(i):
        with lock:
            processed.append(i)

    for i in range(5):
        good.send(i)
    bad_id = str(uuid.uuid4())
    bad_data = make_data(bad_id)
    redis_client.hset("dramatiq:%s.msgs" % QUEUE, bad_id, bad_data)
    redis_client.rpush("dramatiq:%s" % QUEUE, bad_id)
    for i in range(5, 10):
        good.send(i)

    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        wait_until(
            lambda: redis_client.zscore("dramatiq:%s.XQ" % QUEUE, bad_id) is not None,
            timeout=LONG,
            message="the bad message in %s.XQ" % QUEUE,
        )
        wait_until(lambda: len(processed) == 10, timeout=LONG, message="the 10 good messages")
        redis_broker.join(QUEUE, timeout=int(LONG * 1000))
    finally:
        worker.stop()

    assert sorted(processed) == list(range(10))
    assert redis_client.hget("dramatiq:%s.XQ.msgs" % QUEUE, bad_id) == bad_data
    assert not redis_client.hexists("dramatiq:%s.msgs" % QUEUE, bad_id)
    for key in redis_client.keys("dramatiq:__acks__.*"):
        assert not redis_client.sismember(key, bad_id), key
    assert reason_logged(caplog.records, words), [
        (r.name, r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING
    ]
