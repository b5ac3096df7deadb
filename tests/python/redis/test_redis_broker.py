"""RedisBroker through the public API, and the Redis key layout that
upstream Dramatiq 2.2.1 uses (DESIGN.md section 5), observed with redis-py.

Every test runs its own redis-server (``redis_server`` fixture).
"""

import json
import threading
import time
import uuid

import pytest
import redis

import dramatiq
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.errors import QueueJoinTimeout

from redis_support import RedisServer, wait_until

LONG = 30.0  # seconds; generous bound for anything that should happen "soon"


class Calls:
    """Thread-safe record of actor calls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, item):
        with self.lock:
            self.items.append(item)

    def __len__(self):
        with self.lock:
            return len(self.items)

    def snapshot(self):
        with self.lock:
            return list(self.items)


def hash_messages(client, key):
    """{redis message id: decoded JSON} of a ``.msgs`` hash."""
    return {k.decode(): json.loads(v) for k, v in client.hgetall(key).items()}


def list_ids(client, key):
    return [x.decode() for x in client.lrange(key, 0, -1)]


def all_keys(client):
    return sorted(k.decode() for k in client.keys("*"))


def make_message(queue_name, actor_name, *args, **kwargs):
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs=kwargs,
        options={},
        message_id=str(uuid.uuid4()),
        message_timestamp=int(time.time() * 1000),
    )


def start_worker(broker, **kwargs):
    kwargs.setdefault("worker_timeout", 100)
    kwargs.setdefault("worker_threads", 8)
    worker = dramatiq.Worker(broker, **kwargs)
    worker.start()
    return worker


# -- sending and processing ---------------------------------------------------------------------


def test_sent_messages_are_processed_by_a_worker(redis_broker, redis_worker, redis_client):
    calls = Calls()

    @dramatiq.actor
    def add(x, y):
        calls.add(x + y)

    for i in range(20):
        add.send(i, 1)

    wait_until(lambda: len(calls) == 20, timeout=LONG, message="20 messages processed")
    redis_broker.join("default", timeout=int(LONG * 1000))
    assert sorted(calls.snapshot()) == list(range(1, 21))
    # Everything was acked: nothing left in the queue, its hash or an ack set.
    assert redis_client.llen("dramatiq:default") == 0
    assert redis_client.hlen("dramatiq:default.msgs") == 0
    for key in redis_client.keys("dramatiq:__acks__.*"):
        assert redis_client.scard(key) == 0


def test_enqueued_message_is_stored_as_upstream_lays_it_out(redis_broker, redis_client):
    @dramatiq.actor(queue_name="layout")
    def do_work(text, *, flag=False):
        pass

    sent = do_work.send("h\u00e9llo", flag=True)

    redis_id = sent.options["redis_message_id"]
    assert str(uuid.UUID(redis_id)) == redis_id
    assert redis_id != sent.message_id  # a fresh id per enqueue, not the message id

    # ns:q is a list of redis message ids, ns:q.msgs maps them to the encoded message.
    assert list_ids(redis_client, "dramatiq:layout") == [redis_id]
    stored = redis_client.hget("dramatiq:layout.msgs", redis_id)
    expected = {
        "queue_name": "layout",
        "actor_name": "do_work",
        "args": ["h\u00e9llo"],
        "kwargs": {"flag": True},
        "options": {"redis_message_id": redis_id},
        "message_id": sent.message_id,
        "message_timestamp": sent.message_timestamp,
    }
    # Byte for byte what upstream's JSONEncoder writes (compact, key order, \u escapes).
    assert stored == json.dumps(expected, separators=(",", ":")).encode()
    assert dramatiq.Message.decode(stored).message_id == sent.message_id


def test_each_enqueue_gets_its_own_redis_message_id(redis_broker, redis_client):
    redis_broker.declare_queue("q")
    message = make_message("q", "whatever", 1)

    first = redis_broker.enqueue(message)
    second = redis_broker.enqueue(message)

    ids = list_ids(redis_client, "dramatiq:q")
    assert ids == [first.options["redis_message_id"], second.options["redis_message_id"]]
    assert ids[0] != ids[1]
    stored = hash_messages(redis_client, "dramatiq:q.msgs")
    assert {m["message_id"] for m in stored.values()} == {message.message_id}


def test_a_delayed_message_waits_in_the_delay_queue_until_its_eta(redis_broker, redis_client):
    runs = Calls()

    @dramatiq.actor(queue_name="later")
    def remember(value):
        runs.add((value, time.time() * 1000))

    before = int(time.time() * 1000)
    sent = remember.send_with_options(args=("x",), delay=1000)

    # What send returns, and what is stored: queue "later.DQ", options.eta.
    assert sent.queue_name == "later.DQ"
    eta = sent.options["eta"]
    assert eta >= before + 1000
    redis_id = sent.options["redis_message_id"]
    assert list_ids(redis_client, "dramatiq:later.DQ") == [redis_id]
    stored = hash_messages(redis_client, "dramatiq:later.DQ.msgs")[redis_id]
    assert stored["queue_name"] == "later.DQ"
    assert stored["options"]["eta"] == eta
    assert redis_client.llen("dramatiq:later") == 0
    assert not redis_client.exists("dramatiq:later.msgs")

    worker = start_worker(redis_broker)
    try:
        wait_until(lambda: len(runs) == 1, timeout=LONG, message="the delayed message")
        redis_broker.join("later", timeout=int(LONG * 1000))
    finally:
        worker.stop()

    [(value, ran_at)] = runs.snapshot()
    assert value == "x"
    assert ran_at >= eta - 1  # never before its eta (1 ms for rounding)
    assert redis_client.hlen("dramatiq:later.DQ.msgs") == 0
    assert redis_client.hlen("dramatiq:later.msgs") == 0


def test_retries_then_success(redis_broker, redis_worker):
    attempts = Calls()
    done = threading.Event()

    @dramatiq.actor(max_retries=3, min_backoff=50, max_backoff=100)
    def flaky():
        attempts.add(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        done.set()

    flaky.send()

    assert done.wait(LONG)
    redis_broker.join("default", timeout=int(LONG * 1000))
    assert len(attempts) == 3


def test_exhausted_retries_dead_letter_the_message(redis_broker, redis_worker, redis_client):
    attempts = Calls()

    @dramatiq.actor(queue_name="doomed", max_retries=1, min_backoff=50, max_backoff=100)
    def always_fails(n):
        attempts.add(n)
        raise RuntimeError("boom")

    before = int(time.time() * 1000)
    sent = always_fails.send(7)

    wait_until(lambda: redis_client.zcard("dramatiq:doomed.XQ") == 1, timeout=LONG, message="a dead letter")
    redis_broker.join("doomed", timeout=int(LONG * 1000))
    assert attempts.snapshot() == [7, 7]  # first try + one retry

    [(xq_id, score)] = redis_client.zrange("dramatiq:doomed.XQ", 0, -1, withscores=True)
    assert before <= score <= time.time() * 1000 + 1
    dead = hash_messages(redis_client, "dramatiq:doomed.XQ.msgs")
    assert list(dead) == [xq_id.decode()]
    assert dead[xq_id.decode()]["message_id"] == sent.message_id
    assert dead[xq_id.decode()]["actor_name"] == "always_fails"
    assert redis_client.hlen("dramatiq:doomed.msgs") == 0
    assert redis_client.hlen("dramatiq:doomed.DQ.msgs") == 0
    # There is no dead-letter queue for the delay queue.
    assert not redis_client.keys("*.DQ.XQ*")


def test_a_failing_delayed_message_dead_letters_into_the_queues_xq(redis_broker, redis_worker, redis_client):
    @dramatiq.actor(queue_name="dq_fail", max_retries=0)
    def fails():
        raise RuntimeError("boom")

    sent = fails.send_with_options(delay=50)

    wait_until(lambda: redis_client.zcard("dramatiq:dq_fail.XQ") == 1, timeout=LONG, message="a dead letter")
    [dead] = hash_messages(redis_client, "dramatiq:dq_fail.XQ.msgs").values()
    assert dead["message_id"] == sent.message_id
    assert not redis_client.keys("*.DQ.XQ*")


# -- join, flush, declared queues -----------------------------------------------------------------


def test_join_times_out_when_nothing_consumes(redis_broker):
    @dramatiq.actor(queue_name="nobody")
    def ignored():
        pass

    redis_broker.join("nobody", timeout=100)  # empty: returns at once
    ignored.send()
    with pytest.raises(QueueJoinTimeout):
        redis_broker.join("nobody", timeout=200)


def test_join_counts_delayed_messages(redis_broker):
    @dramatiq.actor(queue_name="nobody")
    def ignored():
        pass

    ignored.send_with_options(delay=60_000)
    with pytest.raises(QueueJoinTimeout):
        redis_broker.join("nobody", timeout=200)


def test_flush_empties_one_queue_and_its_delay_and_dead_letter_keys(redis_broker, redis_client):
    @dramatiq.actor(queue_name="a")
    def in_a():
        pass

    @dramatiq.actor(queue_name="b")
    def in_b():
        pass

    in_a.send()
    in_a.send_with_options(delay=60_000)
    in_b.send()
    in_b.send_with_options(delay=60_000)
    # A dead letter, laid out as a worker's nack leaves it.
    redis_client.zadd("dramatiq:a.XQ", {"dead-id": int(time.time() * 1000)})
    redis_client.hset("dramatiq:a.XQ.msgs", "dead-id", b"{}")

    redis_broker.flush("a")

    for key in ("a", "a.msgs", "a.DQ", "a.DQ.msgs", "a.XQ", "a.XQ.msgs"):
        assert not redis_client.exists("dramatiq:" + key), key
    assert redis_client.llen("dramatiq:b") == 1
    assert redis_client.llen("dramatiq:b.DQ") == 1

    redis_broker.flush_all()
    assert not redis_client.keys("dramatiq:b*")
    redis_broker.join("a", timeout=100)
    redis_broker.join("b", timeout=100)


def test_declared_queues_namespace_and_queues(redis_broker):
    assert redis_broker.namespace == "dramatiq"

    @dramatiq.actor(queue_name="first")
    def one():
        pass

    @dramatiq.actor(queue_name="second")
    def two():
        pass

    assert redis_broker.get_declared_queues() == {"first", "second"}
    assert redis_broker.get_declared_delay_queues() == {"first.DQ", "second.DQ"}
    assert set(redis_broker.queues) == {"first", "second"}
    assert "first" in redis_broker.queues

    redis_broker.declare_queue("third")
    assert redis_broker.get_declared_queues() == {"first", "second", "third"}
    # A copy: changing it does not change the broker.
    redis_broker.get_declared_queues().add("nope")
    assert "nope" not in redis_broker.get_declared_queues()


def test_client_is_a_redis_client_on_the_same_server(redis_broker, redis_client):
    @dramatiq.actor
    def noop():
        pass

    noop.send()
    assert redis_broker.client.ping()
    assert redis_broker.client.hlen("dramatiq:default.msgs") == 1
    assert redis_broker.client.llen("dramatiq:default") == 1


# -- worker bookkeeping in Redis ------------------------------------------------------------------


def test_in_flight_messages_are_in_the_workers_ack_set_and_heartbeats_are_kept(
    redis_broker, redis_worker, redis_client
):
    started = threading.Event()
    release = threading.Event()

    @dramatiq.actor(queue_name="held")
    def hold():
        started.set()
        release.wait(LONG)

    sent = hold.send()
    try:
        assert started.wait(LONG)
        redis_id = sent.options["redis_message_id"]
        ack_keys = [k.decode() for k in redis_client.keys("dramatiq:__acks__.*.held")]
        holders = [k for k in ack_keys if redis_client.sismember(k, redis_id)]
        assert len(holders) == 1, ack_keys
        worker_id = holders[0][len("dramatiq:__acks__.") : -len(".held")]
        # The worker that holds it has a recent heartbeat.
        heartbeat = redis_client.zscore("dramatiq:__heartbeats__", worker_id)
        assert heartbeat is not None
        assert heartbeat >= int(time.time() * 1000) - 60_000
        # Still stored until it is acked.
        assert redis_client.hexists("dramatiq:held.msgs", redis_id)
    finally:
        release.set()

    redis_broker.join("held", timeout=int(LONG * 1000))
    assert not redis_client.hexists("dramatiq:held.msgs", redis_id)
    assert not redis_client.sismember(holders[0], redis_id)


def test_stopping_a_worker_puts_unstarted_messages_back(redis_broker, redis_client):
    processed = Calls()

    @dramatiq.actor(queue_name="slow")
    def slow(i):
        time.sleep(0.1)
        processed.add(i)

    sent = [slow.send(i) for i in range(12)]
    worker = start_worker(redis_broker, worker_threads=1)
    wait_until(lambda: len(processed) >= 1, timeout=LONG, message="a first message")
    worker.stop()

    done = set(processed.snapshot())
    waiting = set(list_ids(redis_client, "dramatiq:slow"))
    assert len(done) < 12
    for i, message in enumerate(sent):
        assert i in done or message.options["redis_message_id"] in waiting, i
    # Nothing is left held by the stopped worker.
    for key in redis_client.keys("dramatiq:__acks__.*"):
        assert redis_client.scard(key) == 0

    worker = start_worker(redis_broker)
    try:
        wait_until(lambda: set(processed.snapshot()) == set(range(12)), timeout=LONG, message="all 12")
    finally:
        worker.stop()


def test_maintenance_returns_a_dead_workers_messages_and_drops_old_dead_letters(redis_server, redis_client):
    # State a worker that died long ago leaves behind, written by hand.
    now = int(time.time() * 1000)
    message = make_message("maint", "recover", 42)
    data = message.copy(options={"redis_message_id": "orphan-id"}).encode()
    redis_client.hset("dramatiq:maint.msgs", "orphan-id", data)
    redis_client.sadd("dramatiq:__acks__.dead-worker.maint", "orphan-id")
    redis_client.zadd("dramatiq:__heartbeats__", {"dead-worker": now - 600_000})
    redis_client.zadd("dramatiq:maint.XQ", {"old-dead": now - 600_000})
    redis_client.hset("dramatiq:maint.XQ.msgs", "old-dead", b"{}")

    broker = RedisBroker(
        url=redis_server.url, heartbeat_timeout=1000, dead_message_ttl=60_000, maintenance_chance=1_000_000
    )
    dramatiq.set_broker(broker)
    seen = Calls()

    @dramatiq.actor(queue_name="maint")
    def recover(n):
        seen.add(n)

    worker = start_worker(broker)
    try:
        wait_until(lambda: len(seen) == 1, timeout=LONG, message="the orphaned message")
        broker.join("maint", timeout=int(LONG * 1000))
        assert seen.snapshot() == [42]
        assert not redis_client.exists("dramatiq:__acks__.dead-worker.maint")
        assert redis_client.zscore("dramatiq:__heartbeats__", "dead-worker") is None
        assert redis_client.zcard("dramatiq:maint.XQ") == 0
        assert redis_client.hlen("dramatiq:maint.XQ.msgs") == 0
    finally:
        worker.stop()
        broker.flush_all()
        broker.close()


def test_messages_fetched_under_an_abandoned_broker_id_go_back_to_their_queue(redis_broker, redis_client):
    # More ids than one Lua unpack() takes (8,000), through upstream's
    # do_enqueue/do_fetch; then the broker takes another id, as a new
    # process would, and maintenance returns what the old id held.
    queue_name = "abandoned"
    redis_broker.declare_queue(queue_name)
    ids = ["message-%d" % i for i in range(17_000)]
    for message_id in ids:
        redis_broker.do_enqueue(queue_name, message_id, b"message-data")
    fetched = []
    while len(fetched) < len(ids):
        batch = redis_broker.do_fetch(queue_name, 1000)
        assert batch, "the queue ran out before every message was fetched"
        fetched.extend(batch)
    assert fetched == [b"message-data"] * len(ids)
    old_id = redis_broker.broker_id
    old_acks = "dramatiq:__acks__.%s.%s" % (old_id, queue_name)
    assert {m.decode() for m in redis_client.smembers(old_acks)} == set(ids)
    assert redis_client.llen("dramatiq:" + queue_name) == 0

    with pytest.raises(ValueError):
        redis_broker.broker_id = ""
    redis_broker.broker_id = "some-other-id"
    assert redis_broker.broker_id == "some-other-id"
    # The old id stopped heartbeating a second ago.
    redis_client.zadd("dramatiq:__heartbeats__", {old_id: int(time.time() * 1000) - 1000})
    redis_broker.heartbeat_timeout = 500
    redis_broker.maintenance_chance = MAINTENANCE_SCALE
    redis_broker.do_qsize(queue_name)

    assert not redis_client.exists(old_acks)
    assert not redis_client.exists("dramatiq:__acks__.some-other-id." + queue_name)
    queued = redis_client.lrange("dramatiq:" + queue_name, 0, -1)
    assert sorted(m.decode() for m in queued) == sorted(ids)


def test_maintenance_settings_change_while_the_broker_runs(redis_broker, redis_client):
    # A dead letter that is young for the default TTL: kept until the TTL is 0.
    now = int(time.time() * 1000)
    redis_client.zadd("dramatiq:late.XQ", {"recent-dead": now - 1000})
    redis_client.hset("dramatiq:late.XQ.msgs", "recent-dead", b"{}")
    redis_broker.maintenance_chance = MAINTENANCE_SCALE
    assert redis_broker.do_qsize("late") == 0  # a script call: runs maintenance
    assert redis_client.zcard("dramatiq:late.XQ") == 1

    redis_broker.dead_message_ttl = 0
    redis_broker.heartbeat_timeout = 5000
    assert (redis_broker.dead_message_ttl, redis_broker.heartbeat_timeout) == (0, 5000)
    redis_broker.do_qsize("late")
    assert redis_client.zcard("dramatiq:late.XQ") == 0
    assert redis_client.hlen("dramatiq:late.XQ.msgs") == 0


def test_do_qsize_counts_as_upstreams(redis_broker, redis_worker):
    started, release = threading.Event(), threading.Event()
    sizes = []

    @dramatiq.actor(queue_name="sized")
    def held():
        started.set()
        release.wait(LONG)

    @dramatiq.actor(queue_name="sized")
    def waiting():
        pass

    assert redis_broker.do_qsize("sized") == 0
    held.send()
    assert started.wait(LONG)
    waiting.send_with_options(delay=3_600_000)
    # held: in its hash and in this broker's ack set; the delayed one: in the
    # delay queue's hash (and its ack set once this worker's consumer holds it).
    wait_until(lambda: redis_broker.do_qsize("sized") == 4, timeout=LONG, message="the delayed message fetched")
    sizes.append(redis_broker.do_qsize("sized.DQ"))
    release.set()
    wait_until(lambda: redis_broker.do_qsize("sized") == 2, timeout=LONG, message="held acked")
    assert sizes == [4]


# -- connection options ---------------------------------------------------------------------------


def process_one(broker, queue_name="conn"):
    """Declare an actor on ``broker``, send a message, run a worker until
    it is processed; returns the value the actor saw."""
    dramatiq.set_broker(broker)
    seen = []
    done = threading.Event()

    @dramatiq.actor(queue_name=queue_name, broker=broker)
    def record(value):
        seen.append(value)
        done.set()

    record.send("ping")
    worker = start_worker(broker)
    try:
        assert done.wait(LONG)
        broker.join(queue_name, timeout=int(LONG * 1000))
    finally:
        worker.stop()
    return seen


def test_custom_namespace(redis_server, redis_client):
    broker = RedisBroker(url=redis_server.url, namespace="custom-ns")
    try:
        assert broker.namespace == "custom-ns"

        @dramatiq.actor(queue_name="conn", broker=broker)
        def idle():
            pass

        idle.send()
        assert redis_client.llen("custom-ns:conn") == 1
        assert redis_client.hlen("custom-ns:conn.msgs") == 1
        assert not redis_client.keys("dramatiq:*")
        broker.flush_all()
        assert process_one(broker) == ["ping"]
        assert not redis_client.keys("dramatiq:*")
    finally:
        broker.close()


def test_url_with_a_database_number(redis_server):
    broker = RedisBroker(url="redis://127.0.0.1:%d/3" % redis_server.port)
    db0, db3 = redis_server.client(0), redis_server.client(3)
    try:

        @dramatiq.actor(queue_name="conn", broker=broker)
        def idle():
            pass

        idle.send()
        assert db3.llen("dramatiq:conn") == 1
        assert db0.keys("*") == []
        broker.flush_all()
        assert process_one(broker) == ["ping"]
        assert db0.keys("*") == []
    finally:
        broker.close()
        db0.close()
        db3.close()


def test_host_port_db_keyword_arguments(redis_server):
    broker = RedisBroker(host="127.0.0.1", port=redis_server.port, db=2)
    db0, db2 = redis_server.client(0), redis_server.client(2)
    try:

        @dramatiq.actor(queue_name="conn", broker=broker)
        def idle():
            pass

        idle.send()
        assert db2.llen("dramatiq:conn") == 1
        assert db0.keys("*") == []
        broker.flush_all()
        assert process_one(broker) == ["ping"]
    finally:
        broker.close()
        db0.close()
        db2.close()


def test_unix_socket_url():
    with RedisServer(unix_socket=True) as server:
        broker = RedisBroker(url="unix://%s?db=1" % server.unix_path)
        db1 = server.client(1)
        try:

            @dramatiq.actor(queue_name="conn", broker=broker)
            def idle():
                pass

            idle.send()
            assert db1.llen("dramatiq:conn") == 1
            broker.flush_all()
            assert process_one(broker) == ["ping"]
        finally:
            broker.close()
            db1.close()


@pytest.fixture
def password_server():
    with RedisServer(password="s3cret-pw") as server:
        yield server


def test_password_in_the_url(password_server):
    assert password_server.url.startswith("redis://:s3cret-pw@127.0.0.1:")
    broker = RedisBroker(url=password_server.url)
    try:
        assert process_one(broker) == ["ping"]
    finally:
        broker.close()


def test_password_keyword_argument(password_server):
    broker = RedisBroker(host="127.0.0.1", port=password_server.port, password="s3cret-pw")
    try:
        assert process_one(broker) == ["ping"]
    finally:
        broker.close()


@pytest.mark.parametrize("how", ["url", "keyword"])
def test_acl_user_and_password(redis_server, how):
    with redis_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "worker", "on", ">w0rker-pw", "~*", "&*", "+@all")
    if how == "url":
        broker = RedisBroker(url="redis://worker:w0rker-pw@127.0.0.1:%d/0" % redis_server.port)
    else:
        broker = RedisBroker(host="127.0.0.1", port=redis_server.port, username="worker", password="w0rker-pw")
    try:
        assert process_one(broker) == ["ping"]
    finally:
        broker.close()


def test_wrong_acl_password_is_a_clear_error(redis_server):
    with redis_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "worker", "on", ">w0rker-pw", "~*", "&*", "+@all")
    broker = RedisBroker(url="redis://worker:nope@127.0.0.1:%d/0" % redis_server.port)
    broker.declare_queue("conn")
    with pytest.raises(connection_error_types()) as excinfo:
        broker.enqueue(make_message("conn", "whatever"))
    text = str(excinfo.value).lower()
    assert "wrongpass" in text or "password" in text, text
    broker.close()


def connection_error_types():
    types = [dramatiq.errors.BrokerConnectionError, redis.exceptions.ConnectionError]
    return tuple(types)


@pytest.mark.parametrize("how", ["url", "keyword", "missing"])
def test_a_wrong_password_is_a_clear_error(password_server, how):
    port = password_server.port
    # Upstream raises at the first command; a broker may also refuse at construction.
    with pytest.raises(connection_error_types()) as excinfo:
        if how == "url":
            broker = RedisBroker(url="redis://:wrong@127.0.0.1:%d/0" % port)
        elif how == "keyword":
            broker = RedisBroker(host="127.0.0.1", port=port, password="wrong")
        else:
            broker = RedisBroker(url="redis://127.0.0.1:%d/0" % port)
        broker.declare_queue("conn")
        broker.enqueue(make_message("conn", "whatever"))
    text = str(excinfo.value).lower()
    assert any(word in text for word in ("password", "auth", "noauth", "wrongpass")), text
    with password_server.client() as client:
        assert client.keys("*") == []


def test_connection_refused_is_a_connection_error():
    with RedisServer() as server:
        port = server.port
    # The server is gone; nothing listens on its port now.
    with pytest.raises(connection_error_types()):
        broker = RedisBroker(url="redis://127.0.0.1:%d/0" % port)
        broker.declare_queue("conn")
        broker.enqueue(make_message("conn", "whatever"))


def test_client_argument_supplies_the_connection(redis_server):
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=2)
    broker = RedisBroker(client=client)
    try:
        assert broker.client is client
        assert process_one(broker) == ["ping"]
        # Our broker talked to the client's server and database.
        assert client.exists("dramatiq:__heartbeats__")
    finally:
        broker.close()
        client.close()


def test_a_client_wins_over_a_url_and_other_parameters(redis_server):
    # As upstream: given a client, the broker uses it and nothing else.
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=3)
    broker = RedisBroker(client=client, url="redis://127.0.0.1:1/0", port=1, colour="blue")
    try:
        assert process_one(broker) == ["ping"]
        assert client.exists("dramatiq:__heartbeats__")
    finally:
        broker.close()
        client.close()


@pytest.mark.superset
def test_ping_reports_whether_the_server_answers():
    with RedisServer() as server:
        broker = RedisBroker(url=server.url)
        broker.ping()
        server.stop()
        with pytest.raises(dramatiq.errors.BrokerConnectionError):
            broker.ping()
        broker.close()


def test_unset_settings_are_the_engines_defaults(redis_server):
    from dramatiq.brokers import redis as redis_module

    broker = RedisBroker(url=redis_server.url)
    try:
        assert (broker.heartbeat_timeout, broker.dead_message_ttl, broker.maintenance_chance) == (
            60000,
            86400000 * 7,
            1000,
        )
        assert (
            redis_module.DEFAULT_HEARTBEAT_TIMEOUT,
            redis_module.DEFAULT_DEAD_MESSAGE_TTL,
            redis_module.DEFAULT_MAINTENANCE_CHANCE,
        ) == (60000, 86400000 * 7, 1000)
    finally:
        broker.close()
    given = RedisBroker(url=redis_server.url, heartbeat_timeout=1000, dead_message_ttl=5, maintenance_chance=7)
    try:
        assert (given.heartbeat_timeout, given.dead_message_ttl, given.maintenance_chance) == (1000, 5, 7)
    finally:
        given.close()


def test_a_cancellation_from_another_process_reaches_the_worker(redis_broker, another_redis_broker):
    # The canceller is another broker object on the same server, as
    # another process's would be (tests/python/cancellation_scenarios.py).
    from cancellation_scenarios import running_and_pending_are_cancelled

    running_and_pending_are_cancelled(redis_broker, another_redis_broker)


def test_queue_counts_by_state_seen_from_another_process(redis_broker, another_redis_broker):
    from queue_counts_scenarios import counts_by_state

    counts_by_state(redis_broker, another_redis_broker)


def test_worker_records_seen_from_another_process(redis_broker, another_redis_broker):
    from worker_record_scenarios import records_follow_the_worker

    records_follow_the_worker(redis_broker, another_redis_broker)


def test_dead_letters_listed_requeued_and_deleted_from_another_process(redis_broker, another_redis_broker):
    from dead_letter_scenarios import dead_letters_listed_requeued_and_deleted

    dead_letters_listed_requeued_and_deleted(redis_broker, another_redis_broker)
