"""The dashboard's throughput and latency: what the app samples from the
workers' records (dramatiq.dashboard.app._Throughput) and GET /api/throughput."""

import time

from starlette.testclient import TestClient

import dramatiq
from dramatiq.dashboard import create_app
from dramatiq.dashboard.app import _Throughput

WAIT_S = 10


class RecordsAsRead:
    """Stands in for the app's snapshot reader: hands over the records a
    test sets, as the broker would have listed them."""

    def __init__(self):
        self.workers = []
        self.at = 1000.0

    def read_workers(self):
        return {"workers": list(self.workers), "at": self.at}


def record(worker_id, heartbeat_at, processed, failed=0, skipped=0, durations=(), waits=(), retried=0):
    return {"worker_id": worker_id, "heartbeat_at": heartbeat_at, "processed": processed, "failed": failed,
            "retried": retried, "skipped": skipped, "recent_durations": list(durations), "recent_waits": list(waits)}


def test_rates_come_from_each_workers_two_latest_records_and_are_summed():
    records = RecordsAsRead()
    sampler = _Throughput(records, refresh=1.0)
    records.workers = [record("a", 1_000, 0), record("b", 1_000, 5)]
    sampler.sample()
    records.workers = [record("a", 2_000, 10, failed=2, retried=1, durations=[5, 7, 9], waits=[1, 2, 3]),
                       record("b", 3_000, 25, skipped=4, durations=[100])]
    sampler.sample()
    first, second = sampler.since(3600)
    assert (first["processed"], first["duration_p50"]) == (0, None)  # one record each: no rate yet
    # a: 10 in 1 s; b: 20 in 2 s. The timings are the new records' together.
    assert (second["workers"], second["processed"], second["failed"], second["skipped"]) == (2, 20, 2, 2)
    assert second["retried"] == 1
    assert (second["duration_p50"], second["duration_p99"]) == (7, 100)
    assert (second["wait_p50"], second["wait_p99"]) == (2, 3)
    # A record read again adds no timings; its worker's rate stays until its next record.
    sampler.sample()
    third = sampler.since(3600)[-1]
    assert (third["processed"], third["duration_p50"]) == (20, None)
    # A worker no longer listed no longer counts.
    records.workers = [record("b", 4_000, 25)]
    sampler.sample()
    assert sampler.since(3600)[-1]["processed"] == 0 and sampler.since(3600)[-1]["workers"] == 1


def test_the_points_kept_are_an_hours_worth():
    records = RecordsAsRead()
    sampler = _Throughput(records, refresh=60.0)
    for minute in range(120):
        records.at = minute * 60.0
        sampler.sample()
    points = sampler.since(3600)
    assert len(points) == 61 and points[0]["at"] == 59 * 60.0
    assert len(sampler.since(600)) == 11


def test_throughput_is_sampled_from_running_workers(sqlite_broker):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def quick(n):
        pass

    worker = dramatiq.Worker(sqlite_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        with TestClient(create_app(sqlite_broker, refresh=0.05)) as client:  # the lifespan starts sampling
            deadline = time.monotonic() + WAIT_S
            busy = None
            while busy is None and time.monotonic() < deadline:
                for n in range(20):
                    quick.send(n)
                answer = client.get("/api/throughput?minutes=1")
                assert answer.status_code == 200
                busy = next((p for p in answer.json()["points"]
                             if p["processed"] > 0 and p["duration_p50"] is not None), None)
            assert busy is not None, "no point ever showed the messages processed"
            assert busy["workers"] == 1 and busy["failed"] == 0
            assert 0 <= busy["duration_p50"] <= busy["duration_p99"]
            assert 0 <= busy["wait_p50"] <= busy["wait_p99"]
    finally:
        worker.stop()


def test_a_minutes_value_out_of_range_is_a_400(sqlite_broker):
    client = TestClient(create_app(sqlite_broker))
    for minutes in ["0", "61", "-1", "x", "", "1.5", "²", "9" * 40]:
        answer = client.get("/api/throughput", params={"minutes": minutes})
        assert answer.status_code == 400, minutes
        assert answer.json() == {"error": "minutes must be a whole number from 1 to 60"}


def test_a_broker_without_worker_records_has_no_throughput():
    from engineless_broker import EnginelessBroker

    answer = TestClient(create_app(EnginelessBroker(), queues=lambda: ["default"])).get("/api/throughput")
    assert answer.status_code == 501
    assert answer.json() == {"error": "EnginelessBroker keeps no worker records"}


def test_chartjs_is_served_from_the_package(sqlite_broker):
    client = TestClient(create_app(sqlite_broker))
    script = client.get("/static/vendor/chart.min.js")
    assert script.status_code == 200 and "Chart.js v3.9.1" in script.text[:200]
    assert client.get("/static/vendor/nothing.js").status_code == 404
    assert client.get("/static/queues.html").status_code == 404  # only the vendored files are static
