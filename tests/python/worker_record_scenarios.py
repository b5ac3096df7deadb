"""The scenario of ``Broker.get_worker_records``, run against every broker
that keeps them: a worker runs on one broker object while another lists the
records (as a dashboard in another process would)."""

import os
import threading
import time

import dramatiq

WAIT_S = 10


def wait_for_record(lister, ready):
    """The first record ``ready`` accepts, once one does (a worker puts a
    fresh one every second) or the bound passes (then None)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for record in lister.get_worker_records():
            if ready(record):
                return record
        time.sleep(0.02)
    return None


def records_follow_the_worker(broker, lister):
    started, release = threading.Event(), threading.Event()

    @dramatiq.actor(broker=broker, queue_name="recorded")
    def blocks():
        started.set()
        assert release.wait(WAIT_S)

    assert lister.get_worker_records() == []
    before = int(time.time() * 1000)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        message = blocks.send()
        assert started.wait(WAIT_S)
        busy = wait_for_record(lister, lambda record: record["running"])
        assert busy is not None
        assert busy["pid"] == os.getpid() and busy["hostname"]
        assert busy["worker_threads"] == 2
        assert busy["started_at"] >= before and busy["expires_at"] > busy["heartbeat_at"]
        assert "recorded" in busy["queues"] and busy["held"]["recorded"] == 1
        [running] = busy["running"]
        assert (running["message_id"], running["actor_name"], running["queue_name"]) == (
            message.message_id, "blocks", "recorded")
        assert running["started_at"] >= before
        assert running["thread"] in [thread.ident for thread in worker.workers]
        release.set()
        # The finished message's timings come in one record: the last one
        # before processed reaches 1, or the first one after.
        timings, seen = {"durations": [], "waits": []}, set()

        def idle_with_timings(record):
            if record["heartbeat_at"] not in seen:
                seen.add(record["heartbeat_at"])
                timings["durations"] += record["recent_durations"]
                timings["waits"] += record["recent_waits"]
            return record["processed"] == 1 and timings["durations"]

        idle = wait_for_record(lister, idle_with_timings)
        assert idle is not None and idle["worker_id"] == busy["worker_id"]
        assert idle["running"] == [] and idle["failed"] == 0
        # The first record after it finished carries its timings, in ms: it
        # ran for no longer than from its start to when the record was made.
        [ran], [waited] = timings["durations"], timings["waits"]
        assert 0 <= ran <= idle["heartbeat_at"] - running["started_at"]
        assert 0 <= waited <= running["started_at"] - message.message_timestamp
    finally:
        release.set()
        worker.stop()
    assert lister.get_worker_records() == []  # removed when it stopped
