"""The embedded broker across real processes on one file: producers in
several processes and the ``dramatiq`` command's worker processes, worker
processes SIGKILLed mid-run, a producer killed mid-transaction, and the
files and disks it must fail on clearly."""

import collections
import os
import signal
import sys
import time

import pytest

import redis_support
from dramatiq.brokers.sqlite import SQLiteBroker
from sqlite_support import WAIT, done_ids, lines, rows, start_command, start_python, write_app

PRODUCER = """
import sys
import app
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else {start}, {stop}):
    app.record.send(i, {pause})
print("sent")
"""


def queued(db_path, queue_name="default"):
    # What a worker would find: sends still in their producers' spool files
    # are moved into the queues by the broker's read.
    broker = SQLiteBroker(path=str(db_path))
    try:
        waiting, delayed, _ = broker.get_queue_message_counts(queue_name)
        return waiting + delayed
    finally:
        broker.close()


def wait_until(predicate, what, *children, timeout=WAIT):
    try:
        return redis_support.wait_until(predicate, timeout=timeout, message=what)
    except AssertionError as e:
        raise AssertionError(str(e) + "".join("\n" + c.describe() for c in children)) from None


def stop(child, sig=signal.SIGTERM):
    child.process.send_signal(sig)
    try:
        return child.process.wait(WAIT)
    except Exception:
        child.kill()
        raise AssertionError("did not exit after %s:\n%s" % (sig.name, child.describe()))


def ready_pids(child):
    import re

    found = re.findall(r"\[PID (\d+)\] \[MainThread\] \[dramatiq\.WorkerProcess\((\d+)\)\] \[INFO\] "
                       r"Worker process is ready for action\.", child.stderr())
    return {int(worker_id): int(pid) for pid, worker_id in found}


def test_four_producer_processes_and_a_two_process_worker_share_one_file(tmp_path, db_path):
    write_app(tmp_path)
    worker = start_command(tmp_path, db_path, "-p", "2", "-t", "4")
    producers = [start_python(tmp_path, db_path, PRODUCER.format(start=n * 500, stop=(n + 1) * 500, pause=0))
                 for n in range(4)]
    try:
        for producer in producers:
            assert producer.process.wait(WAIT) == 0, producer.describe()
            assert producer.stdout().strip() == "sent"
        wait_until(lambda: len(done_ids(tmp_path)) >= 2000, "2000 messages processed", worker)
        assert stop(worker) == 0, worker.describe()
    finally:
        worker.kill()
    ids = done_ids(tmp_path)
    assert sorted(ids) == list(range(2000))  # every message, each once
    assert len({pid for _, pid in lines(tmp_path)}) == 2  # both worker processes took part
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages") == [(0,)]
    assert "Using the embedded broker" not in worker.stderr()  # the URL chose it


def test_sigkilled_worker_processes_lose_nothing(tmp_path, db_path):
    write_app(tmp_path)
    total = 3000
    producer = start_python(tmp_path, db_path, PRODUCER.format(start=0, stop=total, pause=2))
    assert producer.process.wait(WAIT) == 0, producer.describe()
    kills = 0
    for _ in range(3):
        worker = start_command(tmp_path, db_path, "-p", "2", "-t", "4")
        try:
            before = len(done_ids(tmp_path))
            wait_until(lambda: len(ready_pids(worker)) == 2, "2 worker processes ready", worker)
            wait_until(lambda: len(done_ids(tmp_path)) >= before + 200, "200 more messages processed", worker)
            os.kill(ready_pids(worker)[0], signal.SIGKILL)
            kills += 1
            # The supervisor sees a worker die and stops the other one.
            worker.process.wait(WAIT)
        finally:
            worker.kill()
    worker = start_command(tmp_path, db_path, "-p", "2", "-t", "8")
    try:
        wait_until(lambda: len(set(done_ids(tmp_path))) >= total, "every message processed", worker)
        assert stop(worker) == 0, worker.describe()
    finally:
        worker.kill()
    ids = done_ids(tmp_path)
    assert set(ids) == set(range(total))  # none lost
    duplicates = sum(n - 1 for n in collections.Counter(ids).values())
    # At-least-once: only what a killed process was running can run twice.
    assert duplicates <= kills * 8, duplicates
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages") == [(0,)]


def test_a_killed_worker_processes_messages_return_while_the_others_keep_running(tmp_path, db_path):
    # One worker process holds every message (a prefetch window of 50 and a
    # slow actor); SIGKILLed, its leases come back to the queue for the
    # other worker command, which never stopped.
    write_app(tmp_path)
    producer = start_python(tmp_path, db_path, PRODUCER.format(start=0, stop=60, pause=200))
    assert producer.process.wait(WAIT) == 0, producer.describe()
    victim = redis_support.ChildProcess(
        [sys.executable, "-c", """
import os, sys, time, dramatiq, app
worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=1)
worker.queue_prefetch = 50
worker.start()
print("started", flush=True)
time.sleep(600)
"""], env=start_python.__globals__["env_for"](tmp_path, db_path), cwd=tmp_path, log_dir=tmp_path, name="victim")
    try:
        wait_until(lambda: rows(db_path, "SELECT count(*) FROM dramatiq_messages WHERE holder IS NOT NULL")[0][0] >= 50,
                   "the victim leased 50 messages", victim)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(WAIT)
    finally:
        victim.kill()
    survivor = start_command(tmp_path, db_path, "-p", "1", "-t", "8")
    try:
        wait_until(lambda: len(set(done_ids(tmp_path))) >= 60, "all 60 processed", survivor)
        assert stop(survivor) == 0, survivor.describe()
    finally:
        survivor.kill()
    assert set(done_ids(tmp_path)) == set(range(60))
    assert "is gone" in survivor.stderr()  # the survivor said whose leases it returned


def test_a_producer_killed_mid_transaction_leaves_no_partial_batch(tmp_path, db_path):
    write_app(tmp_path)
    producer = start_python(tmp_path, db_path, """
import dramatiq, app
print("ready", flush=True)
while True:
    dramatiq.group([app.record.message(i) for i in range(2000)]).run()
""")
    try:
        wait_until(lambda: "ready" in producer.stdout() and queued(db_path) >= 6000,
                   "three batches sent", producer)
        producer.process.send_signal(signal.SIGKILL)
        producer.process.wait(WAIT)
    finally:
        producer.kill()
    count = queued(db_path)
    assert count % 2000 == 0, count
    assert rows(db_path, "SELECT count(*) FROM dramatiq_messages")[0][0] == count
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]


def test_get_broker_defaults_to_the_embedded_broker(tmp_path):
    code = """
import dramatiq
broker = dramatiq.get_broker()
print(type(broker).__name__, broker.path)
"""
    env = start_python.__globals__["env_for"](tmp_path, "unused", XDG_DATA_HOME=str(tmp_path / "data"))
    del env["DRAMATIQ_BROKER_URL"]
    child = redis_support.ChildProcess([sys.executable, "-c", code], env=env, cwd=tmp_path, log_dir=tmp_path)
    assert child.process.wait(WAIT) == 0, child.describe()
    assert child.stdout().split() == ["SQLiteBroker", str(tmp_path / "data" / "dramatiq" / "broker.sqlite3")]

    env["DRAMATIQ_BROKER_URL"] = "stub://"
    child = redis_support.ChildProcess([sys.executable, "-c", code.replace(", broker.path", "")], env=env,
                                       cwd=tmp_path, log_dir=tmp_path)
    assert child.process.wait(WAIT) == 0, child.describe()
    assert child.stdout().split() == ["StubBroker"]


def test_the_worker_command_logs_the_embedded_broker_it_uses(tmp_path):
    write_app(tmp_path)
    env = start_python.__globals__["env_for"](tmp_path, "unused", XDG_DATA_HOME=str(tmp_path / "data"))
    del env["DRAMATIQ_BROKER_URL"]
    worker = redis_support.ChildProcess([sys.executable, "-m", "dramatiq", "app", "-p", "1", "-t", "1"],
                                        env=env, cwd=tmp_path, log_dir=tmp_path, name="dramatiq")
    try:
        wait_until(lambda: "Worker process is ready for action." in worker.stderr(), "the worker booted", worker)
        assert stop(worker) == 0, worker.describe()
    finally:
        worker.kill()
    assert "Using the embedded broker at %s" % (tmp_path / "data" / "dramatiq" / "broker.sqlite3") in worker.stderr()


def test_a_bad_broker_url_stops_the_command_with_a_clear_error(tmp_path):
    write_app(tmp_path)
    child = redis_support.ChildProcess(
        [sys.executable, "-m", "dramatiq", "--broker-url", "mysql://localhost", "app"],
        env=start_python.__globals__["env_for"](tmp_path, "x"), cwd=tmp_path, log_dir=tmp_path, name="bad")
    assert child.process.wait(WAIT) != 0
    assert "Unsupported broker URL 'mysql://localhost'" in child.stderr()


def test_a_full_disk_fails_the_send_clearly_and_keeps_what_was_committed(tmp_path, db_path):
    # A file-size limit stands in for a full disk: writes past it fail.
    write_app(tmp_path)
    child = start_python(tmp_path, db_path, """
import resource, signal, sys
import dramatiq, app
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
app.record.send(-1)  # create the file first
resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
sent = 0
try:
    for i in range(1_000_000):
        app.record.send(i, 0)
        sent += 1
except Exception as e:
    print("error", type(e).__name__, sent, str(e).replace(chr(10), " "), flush=True)
else:
    print("no error", sent)
""")
    assert child.process.wait(WAIT) == 0, child.describe()
    out = child.stdout().split()
    assert out[0] == "error", child.describe()
    assert out[1] in ("ConnectionClosed", "ConnectionFailed"), child.describe()
    sent = int(out[2])
    assert "embedded broker's database" in child.stdout()
    # Everything whose send returned is there, and the file is sound.
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert queued(db_path) == sent + 1


def test_a_read_only_directory_is_a_clear_error(tmp_path):
    # Under a directory every user can reach (tmp_path's parents may not be).
    import pathlib
    import shutil
    import tempfile

    base = pathlib.Path(tempfile.mkdtemp(prefix="dramatiq-readonly-"))
    base.chmod(0o755)
    directory = base / "readonly"
    directory.mkdir()
    directory.chmod(0o555)
    code = """
import os, sys
import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker
if os.getuid() == 0:
    os.setgid(65534); os.setuid(65534)  # root ignores permissions: drop them
try:
    SQLiteBroker(sys.argv[1])
except dramatiq.ConnectionFailed as e:
    print("ConnectionFailed", e)
"""
    child = redis_support.ChildProcess([sys.executable, "-c", code, str(directory / "q.db")],
                                       env=start_python.__globals__["env_for"](tmp_path, "x"),
                                       cwd="/", log_dir=tmp_path, name="readonly")
    try:
        assert child.process.wait(WAIT) == 0, child.describe()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert child.stdout().startswith("ConnectionFailed"), child.describe()
    assert str(directory / "q.db") in child.stdout()
