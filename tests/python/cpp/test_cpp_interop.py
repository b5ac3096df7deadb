"""Python and C++ programs on the same queues (DESIGN.md, promise 4): a
Python producer's messages run by the C++ example worker, the C++ example
producer's messages run by a Python worker, results read across languages,
on Redis (a private redis-server) and on the embedded SQLite broker."""

import json
import signal
import subprocess

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.sqlite import SQLiteBroker
from dramatiq.results import Results, ResultFailure
from dramatiq.results.backends import RedisBackend, SQLiteBackend

import cpp_interop_app

WAIT = 30_000  # ms: bounds every result wait

# What examples/cpp/producer prints, whichever worker ran its messages.
PRODUCER_LINES = [
    "add(2, 3) = 5",
    "word_count = be:2 not:1 or:1 to:2",
    "scale = 3 -4",
    "pipeline = 13",
    "group = 2 4 6",
]


@pytest.fixture(params=["redis", "sqlite"])
def shared(request, tmp_path):
    """(url, broker with Results, dead-letter reader) on one backend."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        url = server.url
        broker = RedisBroker(url=url)
        broker.add_middleware(Results(backend=RedisBackend(url=url)))
        client = server.client()
        dramatiq.set_broker(broker)  # message.get_result() reads the global broker's backend

        def dead_letters():
            return [json.loads(data) for data in client.hvals("dramatiq:%s.XQ.msgs" % cpp_interop_app.QUEUE)]

        yield url, broker, dead_letters
        client.close()
    else:
        url = "sqlite:///%s" % (tmp_path / "broker.sqlite3")
        broker = SQLiteBroker(url=url)
        broker.add_middleware(Results(backend=SQLiteBackend(url=url)))
        dramatiq.set_broker(broker)

        def dead_letters():
            return [letter.message.asdict() for letter in broker.get_dead_letters(cpp_interop_app.QUEUE)]

        yield url, broker, dead_letters
    broker.close()


def start_cpp_worker(programs, url):
    worker = subprocess.Popen([str(programs / "worker"), url], stdout=subprocess.PIPE, text=True)
    # Printed once the worker consumes: no sleep stands in for it.
    assert worker.stdout.readline().strip() == "worker ready"
    return worker


def stop_cpp_worker(worker):
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert "worker stopped (signal %d)" % signal.SIGTERM in out


def run_producer(programs, url):
    done = subprocess.run([str(programs / "producer"), url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_python_producer_cpp_worker(cpp_programs, shared):
    url, broker, dead_letters = shared
    actors = cpp_interop_app.declare(broker)
    worker = start_cpp_worker(cpp_programs, url)
    try:
        assert actors["add"].send(2, 40).get_result(block=True, timeout=WAIT) == 42
        assert actors["word_count"].send("a b a").get_result(block=True, timeout=WAIT) == {"a": 2, "b": 1}
        assert actors["scale"].send([1.5, 2]).get_result(block=True, timeout=WAIT) == [3.0, 4.0]
        assert actors["scale"].send([1.0], 0.25).get_result(block=True, timeout=WAIT) == [0.25]
        group = dramatiq.group([actors["add"].message(i, i) for i in range(3)], broker=broker).run()
        assert list(group.get_results(block=True, timeout=WAIT)) == [0, 2, 4]

        # Arguments the C++ actor cannot take: retried once, then dead-lettered,
        # and the failure says which argument and what type.
        bad = actors["add"].send_with_options(args=("two", 3), max_retries=1, min_backoff=1, max_backoff=2)
        with pytest.raises(ResultFailure) as failure:
            bad.get_result(block=True, timeout=WAIT)
        assert failure.value.orig_exc_type == "dramatiq::ArgumentError"
        assert failure.value.orig_exc_msg == "actor 'add' argument 0: expected int, got str"
        broker.join(cpp_interop_app.QUEUE, timeout=WAIT)
        letters = dead_letters()
        assert [letter["message_id"] for letter in letters] == [bad.message_id]
        # As it was last enqueued: by the retry (the broker keeps the stored copy).
        assert letters[0]["options"]["retries"] == 1

        # The C++ producer against the C++ worker, on the same broker.
        assert run_producer(cpp_programs, url) == PRODUCER_LINES + [
            "bad = dramatiq::ArgumentError: actor 'add' argument 0: expected int, got str"
        ]
    finally:
        stop_cpp_worker(worker)


def test_cpp_producer_python_worker(cpp_programs, shared):
    url, broker, _ = shared
    cpp_interop_app.declare(broker)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        # Python's add("two", "three") is "twothree": the C++ side finds no int.
        assert run_producer(cpp_programs, url) == PRODUCER_LINES + [
            "bad = result is not an int: expected int, got str"
        ]
    finally:
        worker.stop()
