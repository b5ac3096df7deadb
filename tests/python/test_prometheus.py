"""The Prometheus middleware in-process: a real Worker on a StubBroker
counts, and the module's HTTP handler serves what it counted."""

import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

import dramatiq
from dramatiq.middleware import prometheus
from dramatiq.middleware.prometheus import Prometheus

import redis_support
from prometheus_support import Metrics, scrape

BUCKETS = ["5.0", "10.0", "25.0", "50.0", "75.0", "100.0", "250.0", "500.0", "750.0", "1000.0",
           "2500.0", "5000.0", "7500.0", "10000.0", "30000.0", "60000.0", "600000.0", "900000.0", "+Inf"]


@pytest.fixture
def prom_db(tmp_path, monkeypatch):
    path = tmp_path / "prom-db"
    path.mkdir()
    monkeypatch.setattr(prometheus, "DB_PATH", str(path))
    return path


@pytest.fixture
def metrics_url(prom_db):
    server = ThreadingHTTPServer(("127.0.0.1", 0), prometheus._metrics_handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/metrics" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_worker_counts_are_served(stub_broker, prom_db, metrics_url):
    stub_broker.add_middleware(Prometheus())
    attempts = {}

    @dramatiq.actor
    def ok(i):
        pass

    @dramatiq.actor(max_retries=3, min_backoff=1, max_backoff=2)
    def flaky(i):
        attempts[i] = attempts.get(i, 0) + 1
        if attempts[i] == 1:
            raise RuntimeError("first attempt fails")

    @dramatiq.actor(queue_name="other", max_retries=1, min_backoff=1, max_backoff=2)
    def doomed():
        raise RuntimeError("always fails")

    stub_broker.emit_after("process_boot")
    worker = dramatiq.Worker(stub_broker, worker_timeout=50, worker_threads=4)
    worker.start()
    try:
        for i in range(5):
            ok.send(i)
        ok.send_with_options(args=(5,), delay=10)
        flaky.send(1)
        flaky.send(2)
        doomed.send()

        # The counts land when hooks finish, just after join returns: wait
        # for them (bounded), then check every metric.
        def settled():
            metrics = Metrics(scrape(metrics_url)[1])
            return metrics if (
                metrics.get("dramatiq_messages_total", queue_name="default", actor_name="ok") == 6
                and metrics.get("dramatiq_messages_total", queue_name="default", actor_name="flaky") == 4
                and metrics.get("dramatiq_message_rejects_total", queue_name="other", actor_name="doomed") == 1
            ) else None

        metrics = redis_support.wait_until(settled, timeout=30, message="the counts to settle")
        content_type, _ = scrape(metrics_url)
        assert content_type.startswith("text/plain; version=0.0.4")

        def get(name, queue_name, actor_name):
            return metrics.get(name, queue_name=queue_name, actor_name=actor_name)

        assert get("dramatiq_messages_total", "other", "doomed") == 2
        assert get("dramatiq_message_errors_total", "default", "flaky") == 2
        assert get("dramatiq_message_errors_total", "other", "doomed") == 2
        assert get("dramatiq_message_errors_total", "default", "ok") is None  # never errored: not shown
        # Retries count on the way to the delay queue and again on the way
        # back to the queue (as upstream counts them).
        assert get("dramatiq_message_retries_total", "default.DQ", "flaky") == 2
        assert get("dramatiq_message_retries_total", "default", "flaky") == 2
        assert get("dramatiq_message_retries_total", "other.DQ", "doomed") == 1
        assert get("dramatiq_message_rejects_total", "default", "flaky") is None
        assert get("dramatiq_messages_inprogress", "default", "ok") == 0
        # Histogram: one observation per processed message, cumulative buckets.
        assert get("dramatiq_message_duration_milliseconds_count", "default", "ok") == 6
        assert get("dramatiq_message_duration_milliseconds_count", "default", "flaky") == 4
        assert get("dramatiq_message_duration_milliseconds_sum", "default", "ok") >= 0
        buckets = [metrics.get("dramatiq_message_duration_milliseconds_bucket", queue_name="default",
                               actor_name="ok", le=le) for le in BUCKETS]
        assert buckets == sorted(buckets) and buckets[-1] == 6
        assert metrics.families["dramatiq_message_duration_milliseconds"].type == "histogram"
        assert metrics.families["dramatiq_messages"].documentation == "The total number of messages processed."
        # The delayed message was held, then moved to its queue.
        assert metrics.get("dramatiq_delayed_messages_inprogress", queue_name="default.DQ",
                           actor_name="ok", pid=str(os.getpid())) == 0
    finally:
        worker.stop()

    # Once the worker has shut down, the process's gauges are gone; the
    # counts remain.
    metrics = Metrics(scrape(metrics_url)[1])
    assert not metrics.matching("dramatiq_messages_inprogress")
    assert not metrics.matching("dramatiq_delayed_messages_inprogress")
    assert metrics.get("dramatiq_messages_total", queue_name="default", actor_name="ok") == 6


def test_forks_run_the_exposition_server():
    assert Prometheus().forks == [prometheus._run_exposition_server]


def test_settings_come_from_the_environment(tmp_path):
    db = tmp_path / "db" / "nested"
    env = redis_support.subprocess_env(upstream=False, dramatiq_prom_db=str(db),
                                       dramatiq_prom_host="127.0.0.1", dramatiq_prom_port="9876")
    code = ("from dramatiq.middleware import prometheus as p; "
            "print(p.DB_PATH, p.HTTP_HOST, p.HTTP_PORT)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(db), "127.0.0.1", "9876"]
    assert db.is_dir()  # created on import, as upstream does
