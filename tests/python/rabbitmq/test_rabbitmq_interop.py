"""Interop with upstream Dramatiq 2.2.1 (pika) over one rabbitmq-server.

"Ours" is whatever ``dramatiq`` the test interpreter imports; upstream
runs in child processes of the ``upstream_python`` interpreter. Both
sides declare the same actors from ``rabbitmq_interop_app.py`` (max_priority 10)
and record their work in a Redis server, so the test sees what each
process did. Each direction covers plain, delayed, retried (fails once,
then succeeds), prioritised and dead-lettered messages.
"""

import json
import os
import subprocess

import dramatiq
from dramatiq.common import dq_name

import rabbitmq_interop_app
from rabbitmq_support import close_broker
from redis_support import ChildProcess, subprocess_env, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = 60.0
QUEUE = rabbitmq_interop_app.QUEUE


def child_env(upstream):
    return subprocess_env(upstream=upstream, extra_path=[HERE])


def run_sender(python, url, redis_url, specs, *, upstream, tmp_path):
    """Send ``specs`` from a child process; returns what it sent."""
    proc = subprocess.run(
        [python, os.path.join(HERE, "rabbitmq_interop_app.py"), "send", url, redis_url, json.dumps(specs)],
        capture_output=True, text=True, timeout=120, env=child_env(upstream), cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_child_worker(python, url, redis_url, tag, *, upstream, tmp_path, threads=4):
    return ChildProcess(
        [python, os.path.join(HERE, "rabbitmq_interop_app.py"), "worker", url, redis_url, tag, str(threads)],
        env=child_env(upstream), cwd=tmp_path, log_dir=tmp_path, name="worker-" + tag,
    )


def wait_ready(client, tag, child):
    def ready():
        assert child.alive(), child.describe()
        return client.exists("ready:" + tag)

    wait_until(ready, timeout=LONG, message="worker %r to start" % tag)


def results(client, key):
    return [json.loads(x) for x in client.lrange("results:" + key, 0, -1)]


def attempts(client, key):
    return [json.loads(x) for x in client.lrange("attempts:" + key, 0, -1)]


def workload(prefix, count=10):
    specs = [["record", prefix + "plain", i, None] for i in range(count)]
    specs += [["record", prefix + "prio", i, None, i % 10] for i in range(5)]
    specs += [["record", prefix + "delayed", i, 300] for i in range(3)]
    specs += [["flaky", prefix + "flaky", i, None] for i in range(3)]
    specs += [["doomed", prefix + "doomed", i, None] for i in range(2)]
    return specs


def dead_letter_ids(broker):
    """message_ids of the interop queue's dead letters (read with pika, put back)."""
    channel = broker.channel
    ids = []
    while True:
        method, _, body = channel.basic_get(QUEUE + ".XQ", auto_ack=False)
        if method is None:
            break
        ids.append(json.loads(body)["message_id"])
    channel.basic_recover(requeue=True)
    del broker.channel
    return ids


def wait_for_workload(client, broker, prefix, count=10, child=None):
    def done():
        if child is not None:
            assert child.alive(), child.describe()
        return (
            len(results(client, prefix + "plain")) >= count
            and len(results(client, prefix + "prio")) >= 5
            and len(results(client, prefix + "delayed")) >= 3
            and len(results(client, prefix + "flaky")) >= 3
            and len(attempts(client, prefix + "doomed")) >= 2
            and broker.get_queue_message_counts(QUEUE)[2] >= 2
        )

    wait_until(done, timeout=LONG, message="the %r workload" % prefix)


def check_workload(client, broker, prefix, sent, *, tags, count=10):
    """Everything in ``sent`` was processed once, by processes tagged ``tags``."""
    by_key = {}
    for spec, message in zip(workload(prefix, count), sent):
        by_key.setdefault(spec[1], []).append((spec[2], message))

    plain = results(client, prefix + "plain")
    assert sorted(r["i"] for r in plain) == list(range(count))
    prio = results(client, prefix + "prio")
    assert sorted(r["i"] for r in prio) == list(range(5))

    delayed = results(client, prefix + "delayed")
    assert sorted(r["i"] for r in delayed) == [0, 1, 2]
    for i, message in by_key[prefix + "delayed"]:
        assert message["queue_name"] == dq_name(QUEUE)
        [ran] = [r for r in delayed if r["i"] == i]
        assert ran["t"] >= message["eta"] - 1, "a delayed message ran before its eta"

    flaky = results(client, prefix + "flaky")
    assert sorted(r["i"] for r in flaky) == [0, 1, 2]
    assert sorted(a["i"] for a in attempts(client, prefix + "flaky")) == [0, 0, 1, 1, 2, 2]

    assert sorted(a["i"] for a in attempts(client, prefix + "doomed")) == [0, 1]
    doomed_ids = {message["message_id"] for _, message in by_key[prefix + "doomed"]}
    assert set(dead_letter_ids(broker)) == doomed_ids

    everything = plain + prio + delayed + flaky + attempts(client, prefix + "doomed")
    assert {r["tag"] for r in everything} <= set(tags)
    ready, delayed_count, _ = broker.get_queue_message_counts(QUEUE)
    assert (ready, delayed_count) == (0, 0)


def make_our_broker(rabbitmq_server):
    broker = rabbitmq_interop_app.make_broker(rabbitmq_server.url)
    return broker


def test_upstream_producer_to_our_worker(upstream_python, rabbitmq_server, recorder, tmp_path):
    redis_server, client = recorder
    broker = make_our_broker(rabbitmq_server)
    rabbitmq_interop_app.declare(broker, redis_server.url, "ours")
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        sent = run_sender(upstream_python, rabbitmq_server.url, redis_server.url, workload("a-"),
                          upstream=True, tmp_path=tmp_path)
        wait_for_workload(client, broker, "a-")
        broker.join(QUEUE, min_successes=3, idle_time=50, timeout=int(LONG * 1000))
    finally:
        worker.stop()
    try:
        check_workload(client, broker, "a-", sent, tags={"ours"})
    finally:
        close_broker(broker, rabbitmq_server)


def test_our_producer_to_upstream_worker(upstream_python, rabbitmq_server, recorder, tmp_path):
    redis_server, client = recorder
    broker = make_our_broker(rabbitmq_server)
    child = start_child_worker(upstream_python, rabbitmq_server.url, redis_server.url, "upstream",
                               upstream=True, tmp_path=tmp_path)
    try:
        wait_ready(client, "upstream", child)
        actors = rabbitmq_interop_app.declare(broker, redis_server.url, "ours")
        sent = rabbitmq_interop_app.send_all(actors, workload("b-"))
        wait_for_workload(client, broker, "b-", child=child)
        assert child.terminate() == 0, child.describe()
        check_workload(client, broker, "b-", sent, tags={"upstream"})
    finally:
        child.kill()
        close_broker(broker, rabbitmq_server)


def test_upstream_and_our_workers_share_a_queue(upstream_python, rabbitmq_server, recorder, tmp_path):
    redis_server, client = recorder
    broker = make_our_broker(rabbitmq_server)
    child = start_child_worker(upstream_python, rabbitmq_server.url, redis_server.url, "upstream",
                               upstream=True, tmp_path=tmp_path)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    try:
        wait_ready(client, "upstream", child)
        actors = rabbitmq_interop_app.declare(broker, redis_server.url, "ours")
        worker.start()
        count, slow = 100, 12
        rabbitmq_interop_app.send_all(actors, [["record", "c-plain", i, None] for i in range(count)])
        rabbitmq_interop_app.send_all(actors, [["slow", "c-slow", i, None] for i in range(slow)])
        run_sender(upstream_python, rabbitmq_server.url, redis_server.url,
                   [["record", "d-plain", i, None] for i in range(count)], upstream=True, tmp_path=tmp_path)

        def done():
            assert child.alive(), child.describe()
            return (len(results(client, "c-plain")) >= count and len(results(client, "d-plain")) >= count
                    and len(results(client, "c-slow")) >= slow)

        wait_until(done, timeout=LONG, message="the shared workload")
        broker.join(QUEUE, min_successes=3, idle_time=50, timeout=int(LONG * 1000))
        assert child.terminate() == 0, child.describe()
    finally:
        worker.stop()
        child.kill()
    try:
        # Each message processed exactly once, and both workers took part.
        for key, n in (("c-plain", count), ("d-plain", count), ("c-slow", slow)):
            assert sorted(r["i"] for r in results(client, key)) == list(range(n)), key
        tags = {r["tag"] for key in ("c-plain", "d-plain", "c-slow") for r in results(client, key)}
        assert tags == {"ours", "upstream"}
    finally:
        close_broker(broker, rabbitmq_server)


def test_queues_are_declared_exactly_as_upstream_declares_them(upstream_python, rabbitmq_server, tmp_path):
    """Upstream declares one queue and we another; the server reports the
    same durability and arguments (types included) for both."""
    script = (
        "import sys; from dramatiq.brokers.rabbitmq import RabbitmqBroker\n"
        "RabbitmqBroker(url=sys.argv[1], max_priority=10).declare_queue('decl-up', ensure=True)\n"
    )
    proc = subprocess.run([upstream_python, "-c", script, rabbitmq_server.url], capture_output=True, text=True,
                          timeout=120, env=child_env(True), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    ours = RabbitmqBroker(url=rabbitmq_server.url, max_priority=10)
    ours.declare_queue("decl-ours", ensure=True)
    try:
        queues = rabbitmq_server.list_queues()

        def normalised(name, suffix):
            durable, arguments = queues[name + suffix]
            arguments = dict(arguments)
            if "x-dead-letter-routing-key" in arguments:
                kind, value = arguments["x-dead-letter-routing-key"]
                arguments["x-dead-letter-routing-key"] = (kind, value.replace(name, "<q>"))
            return durable, arguments

        for suffix in ("", ".DQ", ".XQ"):
            assert normalised("decl-ours", suffix) == normalised("decl-up", suffix), suffix
        # And upstream's and our declarations agree with each other on one queue.
        ours.declare_queue("decl-up", ensure=True)
    finally:
        ours.declare_queue("decl-up")
        close_broker(ours, rabbitmq_server)
