"""The embedded SQLiteBroker in one process: what users of the other
brokers expect of it (queues, delays, priorities, retries, dead letters,
pipelines, join, flush), bad input, and files it must refuse."""

import sqlite3
import threading
import time

import pytest

import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker

from interrupt_support import interrupt_when_blocked
from sqlite_support import rows

WAIT_MS = 20_000


def test_messages_are_processed_and_acked(sqlite_broker, sqlite_worker, db_path):
    seen = []

    @dramatiq.actor
    def collect(i):
        seen.append(i)

    for i in range(100):
        collect.send(i)
    sqlite_broker.join(collect.queue_name, timeout=WAIT_MS)
    sqlite_worker.join()
    assert sorted(seen) == list(range(100))
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages") == [(0,)]
    assert sqlite_broker.get_queue_message_counts("default") == (0, 0, 0)


def test_a_delayed_message_waits_on_its_queue_until_due(sqlite_broker, db_path):
    @dramatiq.actor
    def later():
        pass

    message = later.send_with_options(delay=60_000)
    assert message.queue_name == "default"
    assert message.options["eta"] >= message.message_timestamp + 60_000
    assert sqlite_broker.get_declared_delay_queues() == set()
    assert sqlite_broker.get_queue_message_counts("default") == (0, 1, 0)
    assert rows(db_path, "SELECT due FROM dramatiq_messages") == [(message.options["eta"],)]


def test_delayed_messages_run_once_due(sqlite_broker, sqlite_worker):
    ran = threading.Event()

    @dramatiq.actor
    def soon():
        ran.set()

    soon.send_with_options(delay=100)
    assert ran.wait(WAIT_MS / 1000)
    sqlite_broker.join(soon.queue_name, timeout=WAIT_MS)


def test_broker_priority_orders_the_queue(sqlite_broker):
    order = []

    @dramatiq.actor
    def task(i):
        order.append(i)

    task.send(0)
    task.send_with_options(args=(1,), broker_priority=9)
    task.send(2)
    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        sqlite_broker.join("default", timeout=WAIT_MS)
    finally:
        worker.stop()
    assert order == [1, 0, 2]


def test_retries_then_dead_letters_and_requeue(sqlite_broker, sqlite_worker):
    attempts = []

    @dramatiq.actor(max_retries=2, min_backoff=1, max_backoff=5)
    def fails(x):
        attempts.append(x)
        raise ValueError("no %s" % x)

    message = fails.send(7)
    sqlite_broker.join(fails.queue_name, timeout=WAIT_MS)
    assert attempts == [7, 7, 7]
    letters = sqlite_broker.get_dead_letters("default")
    assert [letter.message_id for letter in letters] == [message.message_id]
    assert letters[0].message.args == (7,)
    assert sqlite_broker.get_queue_message_counts("default") == (0, 0, 1)

    assert sqlite_broker.requeue_dead_letters("default") == 1
    sqlite_broker.join(fails.queue_name, timeout=WAIT_MS)
    assert len(attempts) >= 4  # it ran again (and failed again into the dead letters)
    assert sqlite_broker.delete_dead_letters("default") == 1
    assert sqlite_broker.get_dead_letters("default") == []


def test_join_fail_fast_raises_the_dead_letters_exception(sqlite_broker, sqlite_worker):
    @dramatiq.actor(max_retries=0)
    def broken():
        raise RuntimeError("broken")

    broken.send()
    # The failure was recorded with the dead letter, so any process's join sees it.
    with pytest.raises(RuntimeError, match="broken"):
        sqlite_broker.join(broken.queue_name, timeout=WAIT_MS, fail_fast=True)
    letter, = sqlite_broker.get_dead_letters("default")
    assert letter.failure == "RuntimeError: broken"
    assert "raise RuntimeError" in letter.traceback


def test_pipelines_and_groups(sqlite_broker, sqlite_worker):
    results = []

    @dramatiq.actor
    def add(x, y=0):
        return x + y

    @dramatiq.actor
    def keep(x):
        results.append(x)

    dramatiq.pipeline([add.message(1, 2), add.message(3), keep.message()]).run()
    dramatiq.group([keep.message(i) for i in range(10)]).run()
    sqlite_broker.join("default", timeout=WAIT_MS)
    assert sorted(results) == sorted([6] + list(range(10)))


def test_a_group_becomes_messages_all_at_once(sqlite_broker, db_path, caplog):
    # A trigger makes the database refuse the fifth row: none of the group
    # may be in while it refuses, all of it once it takes them.
    @dramatiq.actor
    def task(i):
        pass

    task.send(-1)  # declares the queue
    assert sqlite_broker.get_queue_message_counts("default")[0] == 1
    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TRIGGER refuse_five BEFORE INSERT ON dramatiq_messages "
        "WHEN (SELECT count(*) FROM dramatiq_messages) >= 5 BEGIN SELECT RAISE(ABORT, 'full'); END"
    )
    connection.commit()
    dramatiq.group([task.message(i) for i in range(10)]).run()
    assert sqlite_broker.get_queue_message_counts("default")[0] == 1
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages") == [(1,)]
    assert any("Could not move spooled messages" in r.getMessage() and "full" in r.getMessage()
               for r in caplog.records)
    connection.execute("DROP TRIGGER refuse_five")
    connection.commit()
    connection.close()
    # The move is tried again once a while has passed since it failed.
    deadline = time.monotonic() + WAIT_MS / 1000
    while sqlite_broker.get_queue_message_counts("default")[0] != 11 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sqlite_broker.get_queue_message_counts("default")[0] == 11


def test_undecodable_rows_and_unknown_actors_are_dead_lettered(sqlite_broker, sqlite_worker, db_path, caplog):
    seen = []

    @dramatiq.actor
    def known(x):
        seen.append(x)

    known.send(1)
    sqlite_broker.join("default", timeout=WAIT_MS)
    connection = sqlite3.connect(db_path)
    connection.execute(
        "INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) VALUES "
        "('default', 0, 0, 'junk', x'ff00'), ('default', 0, 0, 'list', '[1]')"
    )
    connection.commit()
    connection.close()
    dramatiq.get_broker().enqueue(dramatiq.Message(
        queue_name="default", actor_name="nobody", args=(), kwargs={}, options={}))
    known.send(2)
    sqlite_broker.join("default", timeout=WAIT_MS)
    assert seen == [1, 2]
    assert sqlite_broker.get_queue_message_counts("default") == (0, 0, 3)
    letters = sqlite_broker.get_dead_letters("default")
    assert letters[0].message == b"\xff\x00"  # kept as bytes: it never decoded
    text = caplog.text
    assert "undecodable" in text and "nobody" in text


def test_flush_drops_waiting_delayed_and_dead_messages(sqlite_broker, db_path):
    @dramatiq.actor
    def task():
        pass

    task.send()
    task.send_with_options(delay=60_000)
    sqlite_broker.flush("default")
    assert sqlite_broker.get_queue_message_counts("default") == (0, 0, 0)
    task.send()
    sqlite_broker.flush_all()
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages") == [(0,)]


def test_a_file_of_another_application_is_refused(tmp_path):
    path = str(tmp_path / "app.db")
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    with pytest.raises(dramatiq.ConnectionFailed, match="another application"):
        SQLiteBroker(path)


def test_a_corrupt_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 500)
    with pytest.raises(dramatiq.ConnectionFailed, match="not a database"):
        SQLiteBroker(str(path))
    assert path.read_bytes() == b"this is not a database" * 500


def test_urls_and_their_options(tmp_path):
    path = str(tmp_path / "q.db")
    broker = SQLiteBroker(url="sqlite://" + path + "?durable=1&heartbeat_timeout=5000")
    try:
        assert broker.path == path
        assert broker.durable is True
        assert broker.heartbeat_timeout == 5000
    finally:
        broker.close()
    with pytest.raises(ValueError, match="unknown sqlite URL option 'durible'"):
        SQLiteBroker(url="sqlite://" + path + "?durible=1")
    with pytest.raises(ValueError, match="Unsupported broker URL"):
        dramatiq.brokers.from_url("mysql://localhost/db")
    # Schemes ignore case, as urllib (and so redis-py and pika) read them.
    upper = dramatiq.brokers.from_url("SQLite://" + path)
    try:
        assert isinstance(upper, SQLiteBroker) and upper.path == path
    finally:
        upper.close()


def test_two_brokers_on_one_file_share_queues(db_path):
    producer, consumer_side = SQLiteBroker(db_path), SQLiteBroker(db_path)
    try:
        got = []
        dramatiq.set_broker(consumer_side)

        @dramatiq.actor
        def shared(i):
            got.append(i)

        producer.declare_actor(shared)
        for i in range(20):
            producer.enqueue(shared.message(i))
        worker = dramatiq.Worker(consumer_side, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            producer.join("default", timeout=WAIT_MS)
        finally:
            worker.stop()
        assert sorted(got) == list(range(20))
    finally:
        producer.close()
        consumer_side.close()


def test_help_documents_the_parameters():
    assert "Parameters:" in SQLiteBroker.__doc__
    for name in ("get_dead_letters", "requeue_dead_letters", "delete_dead_letters", "join", "flush",
                 "get_queue_message_counts"):
        assert "Parameters:" in getattr(SQLiteBroker, name).__doc__, name


LOCKED_SEND_SCRIPT = """
import sqlite3, sys
import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker

path = sys.argv[1]
broker = SQLiteBroker(path, durable=True, busy_timeout=60000)
dramatiq.set_broker(broker)

@dramatiq.actor
def job():
    pass

# Another connection holds the file's write lock, as a long transaction of
# another program would: a durable send waits for it.
holder = sqlite3.connect(path, isolation_level=None)
holder.execute("BEGIN IMMEDIATE")
print("READY", flush=True)
try:
    job.send()
    print("SENT", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
holder.execute("ROLLBACK")
holder.close()
job.send()
count = sqlite3.connect(path).execute("SELECT count(*) FROM dramatiq_messages").fetchone()[0]
print("QUEUED", count, flush=True)
"""


def test_sigint_interrupts_a_send_waiting_for_the_files_lock(db_path):
    # Without the interruption the send would wait 6 x 60 s for the lock.
    done = interrupt_when_blocked(LOCKED_SEND_SCRIPT.replace("sys.argv[1]", repr(db_path)))
    assert done.stdout.split() == ["INTERRUPTED", "QUEUED", "1"], done.stderr
    assert done.returncode == 0, done.stderr


def test_a_cancellation_from_another_process_reaches_the_worker(sqlite_broker, another_sqlite_broker):
    # The canceller is another broker object on the same file, as another
    # process's would be (tests/python/cancellation_scenarios.py).
    from cancellation_scenarios import running_and_pending_are_cancelled

    running_and_pending_are_cancelled(sqlite_broker, another_sqlite_broker)


def test_queue_counts_by_state_seen_from_another_process(sqlite_broker, another_sqlite_broker):
    from queue_counts_scenarios import counts_by_state

    counts_by_state(sqlite_broker, another_sqlite_broker)


def test_worker_records_seen_from_another_process(sqlite_broker, another_sqlite_broker):
    from worker_record_scenarios import records_follow_the_worker

    records_follow_the_worker(sqlite_broker, another_sqlite_broker)


def test_dead_letters_listed_requeued_and_deleted_from_another_process(sqlite_broker, another_sqlite_broker):
    from dead_letter_scenarios import dead_letters_listed_requeued_and_deleted

    dead_letters_listed_requeued_and_deleted(sqlite_broker, another_sqlite_broker)
