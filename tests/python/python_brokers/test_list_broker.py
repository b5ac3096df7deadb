"""A broker written in Python (list_broker.py) run unchanged by the Worker:
its consumer is called by the worker's consumer threads, acks and nacks go
back to it with its own MessageProxy objects, and the engine's middleware
(Retries, Results, Python middleware) work on it as on any broker."""

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

import dramatiq
from dramatiq import Middleware, Worker
from dramatiq.message import Message
from dramatiq.results import ResultFailure, Results
from dramatiq.results.backends import StubBackend
from list_broker import ListBroker, ListMessageProxy

WAIT_MS = 30000


@pytest.fixture
def list_broker():
    broker = ListBroker()
    dramatiq.set_broker(broker)
    yield broker


@pytest.fixture
def list_worker(list_broker):
    worker = Worker(list_broker, worker_timeout=100, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()


def test_worker_runs_the_messages_of_a_broker_written_in_python(list_broker, list_worker):
    done = []

    @dramatiq.actor
    def record(i):
        done.append(i)

    sent = [record.send(i) for i in range(20)]
    list_broker.join(record.queue_name, timeout=WAIT_MS)
    list_worker.join()

    assert sorted(done) == list(range(20))
    # Every message was acked through the broker's consumer, once.
    assert sorted(list_broker.acked) == sorted(m.message_id for m in sent)
    # The worker consumed the queue and its delay queue with its timeout.
    opened = {(queue, timeout) for queue, _, timeout in list_broker.consumers_opened}
    assert {("default", 100), ("default.DQ", 100)} <= opened


def test_retries_go_through_the_brokers_delay_queue(list_broker, list_worker):
    attempts = []

    @dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=20)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")

    flaky.send()
    list_broker.join(flaky.queue_name, timeout=WAIT_MS)
    list_worker.join()

    assert len(attempts) == 3
    assert list_broker.dead_letters == []


def test_results_and_dead_letters_of_a_broker_written_in_python():
    backend = StubBackend()
    broker = ListBroker()
    broker.add_middleware(Results(backend=backend))
    dramatiq.set_broker(broker)

    @dramatiq.actor(store_results=True)
    def double(x):
        return x * 2

    @dramatiq.actor(store_results=True, max_retries=0)
    def fails():
        raise RuntimeError("boom")

    worker = Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        ok = double.send(21)
        bad = fails.send()
        assert ok.get_result(block=True, timeout=WAIT_MS) == 42
        with pytest.raises(ResultFailure) as failure:
            bad.get_result(block=True, timeout=WAIT_MS)
        assert "boom" in str(failure.value)
        broker.join(fails.queue_name, timeout=WAIT_MS)
    finally:
        worker.stop()

    # The failed message was nacked through the consumer, with the
    # broker's own proxy; the other acked.
    assert [m.message_id for m in broker.dead_letters] == [bad.message_id]
    assert isinstance(broker.dead_letters[0], ListMessageProxy)
    assert ok.message_id in broker.acked


def test_python_middleware_see_the_brokers_own_proxies(list_broker):
    seen = []

    class Watch(Middleware):
        def before_process_message(self, broker, message):
            seen.append(("process", type(message), broker))
            if message.args == ("reject",):
                message.fail()

        def after_ack(self, broker, message):
            seen.append(("ack", type(message), broker))

        def after_nack(self, broker, message):
            seen.append(("nack", type(message), broker))

    list_broker.add_middleware(Watch())

    @dramatiq.actor
    def work(arg):
        pass

    worker = Worker(list_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        work.send("keep")
        list_broker.join(work.queue_name, timeout=WAIT_MS)
        work.send("reject")
        list_broker.join(work.queue_name, timeout=WAIT_MS)
        worker.join()
    finally:
        worker.stop()

    assert [(what, kind) for what, kind, _ in seen] == [
        ("process", ListMessageProxy),
        ("ack", ListMessageProxy),
        ("process", ListMessageProxy),
        ("nack", ListMessageProxy),
    ]
    assert all(broker is list_broker for _, _, broker in seen)
    assert [m.args for m in list_broker.dead_letters] == [("reject",)]


def test_a_queue_declared_after_the_worker_started_is_consumed(list_broker, list_worker):
    done = []

    @dramatiq.actor(queue_name="later")
    def later():
        done.append(1)

    later.send()
    list_broker.join("later", timeout=WAIT_MS)
    list_worker.join()
    assert done == [1]


def test_messages_left_at_stop_are_requeued_through_the_consumer(list_broker):
    started = []

    @dramatiq.actor
    def slow(i):
        started.append(i)
        time.sleep(0.2)

    worker = Worker(list_broker, worker_timeout=100, worker_threads=1)
    worker.queue_prefetch = 4
    for i in range(4):
        slow.send(i)
    worker.start()
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()

    # What was fetched and not run went back to the broker's queue.
    assert len(started) + len(list_broker.messages["default"]) == 4
    assert len(list_broker.requeued) == len(list_broker.messages["default"])
    assert list_broker.unacked["default"] == 0


APP = '''
import logging
import os

import dramatiq
from dramatiq import Middleware
from dramatiq.results import Results
from dramatiq.results.backends.sqlite import SQLiteBackend
from list_broker import ListBroker

broker = ListBroker()
broker.add_middleware(Results(backend=SQLiteBackend(path=os.environ["RESULTS_PATH"])))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True, max_retries=3, min_backoff=10, max_backoff=20)
def flaky(x):
    message = dramatiq.middleware.CurrentMessage.get_current_message()
    if message.options.get("retries", 0) < 1:
        raise ValueError("the first attempt fails")
    return x * 2


class SendOnBoot(Middleware):
    # The broker lives in the worker process: the message is sent there.
    def after_worker_boot(self, broker, worker):
        message = flaky.send(21)
        path = os.environ["MESSAGE_PATH"]
        with open(path + ".tmp", "wb") as f:
            f.write(message.encode())
        os.rename(path + ".tmp", path)


broker.add_middleware(SendOnBoot())
'''


def test_the_worker_command_runs_a_broker_written_in_python(tmp_path):
    with open(tmp_path / "pybroker_app.py", "w") as f:
        f.write(textwrap.dedent(APP))
    results_path = str(tmp_path / "results.db")
    message_path = str(tmp_path / "message")
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(dramatiq.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), here, package_root, env.get("PYTHONPATH", "")])
    env.update(RESULTS_PATH=results_path, MESSAGE_PATH=message_path)
    with open(tmp_path / "stderr.log", "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "pybroker_app", "--processes", "1", "--threads", "2"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(message_path) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        log_text = (tmp_path / "stderr.log").read_text()
        assert os.path.exists(message_path), log_text
        with open(message_path, "rb") as f:
            message = Message.decode(f.read())

        from dramatiq.results.backends.sqlite import SQLiteBackend

        backend = SQLiteBackend(path=results_path)
        # Retried once (the first attempt raised), then its result stored.
        assert message.get_result(backend=backend, block=True, timeout=WAIT_MS) == 42
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    log_text = (tmp_path / "stderr.log").read_text()
    assert "the first attempt fails" in log_text, log_text
    assert child.returncode == 0, log_text


def test_a_failing_consume_is_retried_after_the_consumer_restart_delay(list_broker, caplog):
    # The worker takes dramatiq.worker.CONSUMER_RESTART_DELAY_SECS as it is
    # when made (upstream's tests patch it).
    from unittest.mock import patch

    from dramatiq.errors import ConnectionClosed

    done = []
    original_consume = list_broker.consume
    failures = []

    def consume(queue_name, prefetch=1, timeout=30000):
        if queue_name == "default" and not failures:
            failures.append(queue_name)
            raise ConnectionClosed("the server went away")
        return original_consume(queue_name, prefetch, timeout)

    list_broker.consume = consume

    @dramatiq.actor
    def record():
        done.append(1)

    record.send()
    caplog.set_level(logging.INFO)
    with patch.object(dramatiq.worker, "CONSUMER_RESTART_DELAY_SECS", new=0.001):
        worker = Worker(list_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        list_broker.join(record.queue_name, timeout=WAIT_MS)
        worker.join()
    finally:
        worker.stop()
    assert done == [1]
    assert "Consumer encountered a connection error: " in caplog.text
    assert "the server went away" in caplog.text
    assert "Restarting consumer in 0.00 seconds." in caplog.text
