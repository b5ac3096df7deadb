"""The Prometheus middleware under the real ``dramatiq`` command: two
worker processes count, the exposition server (a middleware fork) serves
their merged metrics on a free loopback port."""

import os
import signal
import socket
import urllib.error

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.prometheus import render_metrics

from cli_support import stop, wait_until, write_app

import redis_support
from prometheus_support import Metrics, scrape  # tests/python, on sys.path via cli_support

APP = '''
import os
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.prometheus import Prometheus

broker = RedisBroker(url=os.environ["REDIS_URL"])
broker.add_middleware(Prometheus())
dramatiq.set_broker(broker)


@dramatiq.actor
def rendezvous(i, parties):
    # Holds its worker thread until `parties` messages run at once: with
    # 2 processes x 4 threads and 8 parties, both processes must run some
    # (16 are sent: a process prefetches at most 8).
    broker.client.rpush("started", i)
    deadline = time.monotonic() + 30
    while broker.client.llen("started") < parties and time.monotonic() < deadline:
        time.sleep(0.01)
    broker.client.rpush("done", "%d %d" % (i, os.getpid()))


@dramatiq.actor
def ok(i):
    pass


@dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=20)
def flaky(i):
    if broker.client.incr("flaky-%d" % i) == 1:
        raise RuntimeError("the first attempt fails")


@dramatiq.actor(queue_name="other", max_retries=1, min_backoff=10, max_backoff=20)
def doomed():
    raise RuntimeError("always fails")
'''


def send(redis_url, actor_name, args_list, queue_name="default"):
    broker = RedisBroker(url=redis_url)
    try:
        broker.declare_queue(queue_name)
        for args in args_list:
            broker.enqueue(dramatiq.Message(queue_name=queue_name, actor_name=actor_name,
                                            args=args, kwargs={}, options={}))
    finally:
        broker.close()


def test_two_worker_processes_are_scraped_as_one(command, redis_server, redis_client, tmp_path, monkeypatch):
    db = tmp_path / "prom-db"
    port = redis_support.free_port()
    monkeypatch.setenv("dramatiq_prom_db", str(db))
    monkeypatch.setenv("dramatiq_prom_host", "127.0.0.1")
    monkeypatch.setenv("dramatiq_prom_port", str(port))
    url = "http://127.0.0.1:%d/" % port
    write_app(tmp_path, APP)

    send(redis_server.url, "rendezvous", [(i, 8) for i in range(16)])
    send(redis_server.url, "ok", [(i,) for i in range(30)])
    send(redis_server.url, "flaky", [(i,) for i in range(3)])
    send(redis_server.url, "doomed", [()], queue_name="other")
    child = command.start("app", "-p", "2", "-t", "4")

    last = ["(nothing scraped)"]

    def expected_counts():
        try:
            metrics = Metrics(scrape(url)[1])
        except (urllib.error.URLError, ConnectionError) as e:
            last[0] = repr(e)
            return None  # the exposition server is not listening yet
        last[0] = metrics.text
        def total(actor, queue="default"):
            return metrics.get("dramatiq_messages_total", queue_name=queue, actor_name=actor)
        done = (total("rendezvous") == 16 and total("ok") == 30 and total("flaky") == 6
                and metrics.get("dramatiq_message_rejects_total", queue_name="other", actor_name="doomed") == 1)
        return metrics if done else None

    try:
        metrics = wait_until(expected_counts, "every message counted in the scraped metrics", child)
    except AssertionError as e:
        raise AssertionError("last scrape:\n%s\n%s" % (last[0], e)) from None

    # Both processes ran rendezvous messages; the scrape adds them up.
    pids = {line.split()[1] for line in redis_client.lrange("done", 0, -1)}
    assert len(pids) == 2, pids
    assert len([f for f in os.listdir(db) if f.endswith(".dramatiq-metrics")]) == 2

    def get(name, actor, queue="default", **labels):
        return metrics.get(name, queue_name=queue, actor_name=actor, **labels)

    assert get("dramatiq_messages_total", "doomed", "other") == 2
    assert get("dramatiq_message_errors_total", "flaky") == 3
    assert get("dramatiq_message_errors_total", "doomed", "other") == 2
    assert get("dramatiq_message_errors_total", "ok") is None
    # Each retry counts when it goes to the delay queue and when it comes back.
    assert get("dramatiq_message_retries_total", "flaky", "default.DQ") == 3
    assert get("dramatiq_message_retries_total", "flaky") == 3
    assert get("dramatiq_message_retries_total", "doomed", "other.DQ") == 1
    assert get("dramatiq_message_retries_total", "doomed", "other") == 1
    assert get("dramatiq_message_rejects_total", "flaky") is None
    for actor, count in [("rendezvous", 16), ("ok", 30), ("flaky", 6)]:
        assert get("dramatiq_message_duration_milliseconds_count", actor) == count
        assert get("dramatiq_message_duration_milliseconds_bucket", actor, le="+Inf") == count
        assert get("dramatiq_messages_inprogress", actor) == 0
    assert get("dramatiq_message_duration_milliseconds_count", "doomed", "other") == 2
    # Retried messages were held in memory by a worker, then moved on.
    held = metrics.matching("dramatiq_delayed_messages_inprogress", queue_name="default.DQ", actor_name="flaky")
    assert held and all(value == 0 for value in held.values())
    assert {dict(labels)["pid"] for labels in held} <= pids

    assert stop(child, signal.SIGTERM) == 0, child.describe()
    # The worker processes marked themselves shut down: no gauges, the
    # counts remain for the next exposition server.
    after = Metrics(render_metrics(str(db)).decode())
    assert not after.matching("dramatiq_messages_inprogress")
    assert after.get("dramatiq_messages_total", queue_name="default", actor_name="ok") == 30
    assert "Fork process 'dramatiq.middleware.prometheus:_run_exposition_server' is ready" in child.stderr()
    assert "did not stop" not in child.stderr()  # the exposition server stopped on SIGTERM


def test_a_busy_port_is_a_logged_error_and_workers_keep_working(
        command, redis_server, redis_client, tmp_path, monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("dramatiq_prom_db", str(tmp_path / "prom-db"))
        monkeypatch.setenv("dramatiq_prom_host", "127.0.0.1")
        monkeypatch.setenv("dramatiq_prom_port", str(port))
        write_app(tmp_path, APP)
        child = command.start("app", "-p", "1", "-t", "2")
        wait_until(lambda: "Cannot serve metrics on 127.0.0.1:%d" % port in child.stderr(),
                   "the exposition server's error", child)
        send(redis_server.url, "rendezvous", [(0, 1)])
        wait_until(lambda: redis_client.llen("done") == 1, "a message processed", child)
        assert stop(child) == 0, child.describe()


def test_the_exposition_server_stops_when_the_supervisor_is_killed(
        command, redis_server, tmp_path, monkeypatch):
    port = redis_support.free_port()
    monkeypatch.setenv("dramatiq_prom_db", str(tmp_path / "prom-db"))
    monkeypatch.setenv("dramatiq_prom_host", "127.0.0.1")
    monkeypatch.setenv("dramatiq_prom_port", str(port))
    write_app(tmp_path, APP)
    child = command.start("app", "-p", "1", "-t", "1")

    def serving():
        try:
            return scrape("http://127.0.0.1:%d/" % port)
        except (urllib.error.URLError, ConnectionError):
            return None

    wait_until(serving, "the exposition server to answer", child)
    child.kill()  # SIGKILL: the supervisor cannot stop its fork processes

    def port_free():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            return probe.connect_ex(("127.0.0.1", port)) != 0

    wait_until(port_free, "the orphaned exposition server to exit", child)
