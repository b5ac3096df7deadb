"""Interop with upstream Dramatiq 2.2.1 over one Redis server.

"Ours" is whatever ``dramatiq`` the test interpreter imports (run under
upstream's interpreter, these tests run upstream against upstream and so
check the harness itself).  Upstream runs in child processes of the
``upstream_python`` interpreter.  Both sides declare the same actors
from ``interop_app.py``; actors record their work in Redis lists, so the
test sees what each process did.

Each direction covers plain, delayed, retried (fails once, then
succeeds) and dead-lettered (always fails, max_retries=0) messages.
"""

import json
import os
import subprocess


import dramatiq
from dramatiq.common import dq_name

import interop_app
from redis_support import ChildProcess, subprocess_env, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = 60.0
QUEUE = interop_app.QUEUE


def child_env(upstream):
    return subprocess_env(upstream=upstream, extra_path=[HERE])


def run_sender(python, url, specs, *, upstream, tmp_path):
    """Send ``specs`` from a child process; returns what it sent."""
    proc = subprocess.run(
        [python, os.path.join(HERE, "interop_app.py"), "send", url, json.dumps(specs)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(upstream),
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_child_worker(python, url, tag, *, upstream, tmp_path, threads=4, broker_options=None):
    env = child_env(upstream)
    if broker_options:
        env["INTEROP_BROKER_OPTIONS"] = json.dumps(broker_options)
    return ChildProcess(
        [python, os.path.join(HERE, "interop_app.py"), "worker", url, tag, str(threads)],
        env=env,
        cwd=tmp_path,
        log_dir=tmp_path,
        name="worker-" + tag,
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


def dead_letters(client):
    """{message_id: decoded message} of the interop queue's dead letters."""
    stored = client.hgetall("dramatiq:%s.XQ.msgs" % QUEUE)
    ids = {x for x in client.zrange("dramatiq:%s.XQ" % QUEUE, 0, -1)}
    assert set(stored) == ids
    return {m["message_id"]: m for m in (json.loads(v) for v in stored.values())}


def workload(prefix, count=10):
    """Plain, delayed, flaky and doomed messages (keys start with ``prefix``)."""
    specs = [["record", prefix + "plain", i, None] for i in range(count)]
    specs += [["record", prefix + "delayed", i, 300] for i in range(3)]
    specs += [["flaky", prefix + "flaky", i, None] for i in range(3)]
    specs += [["doomed", prefix + "doomed", i, None] for i in range(2)]
    return specs


def wait_for_workload(client, prefix, count=10, child=None):
    def done():
        if child is not None:
            assert child.alive(), child.describe()
        return (
            len(results(client, prefix + "plain")) >= count
            and len(results(client, prefix + "delayed")) >= 3
            and len(results(client, prefix + "flaky")) >= 3
            and len(attempts(client, prefix + "doomed")) >= 2
            and len(dead_letters(client)) >= 2
        )

    wait_until(done, timeout=LONG, message="the %r workload" % prefix)


def check_workload(client, prefix, sent, *, tags, count=10):
    """Everything in ``sent`` was processed once, by processes tagged ``tags``."""
    by_key = {}
    for (short, key, i, delay), message in zip(workload(prefix, count), sent):
        by_key.setdefault(key, []).append((i, message))

    plain = results(client, prefix + "plain")
    assert sorted(r["i"] for r in plain) == list(range(count))

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
    dead = dead_letters(client)
    assert set(dead) == doomed_ids
    for message in dead.values():
        assert message["actor_name"] == interop_app.ACTOR_NAMES["doomed"]

    everything = plain + delayed + flaky + attempts(client, prefix + "doomed")
    assert {r["tag"] for r in everything} <= set(tags)
    # Nothing is left behind in the queues.
    for key in (QUEUE, QUEUE + ".DQ"):
        assert client.hlen("dramatiq:%s.msgs" % key) == 0, key


# -- (a) upstream producer -> our worker ------------------------------------------------------


def test_upstream_producer_to_our_worker(
    upstream_python, redis_server, redis_client, redis_broker, redis_worker, tmp_path
):
    interop_app.declare(redis_broker, redis_server.url, "ours")

    sent = run_sender(upstream_python, redis_server.url, workload("a-"), upstream=True, tmp_path=tmp_path)

    wait_for_workload(redis_client, "a-")
    redis_broker.join(QUEUE, timeout=int(LONG * 1000))
    check_workload(redis_client, "a-", sent, tags={"ours"})


# -- (b) our producer -> upstream worker ------------------------------------------------------


def test_our_producer_to_upstream_worker(upstream_python, redis_server, redis_client, redis_broker, tmp_path):
    child = start_child_worker(upstream_python, redis_server.url, "upstream", upstream=True, tmp_path=tmp_path)
    try:
        wait_ready(redis_client, "upstream", child)
        actors = interop_app.declare(redis_broker, redis_server.url, "ours")
        sent = interop_app.send_all(actors, workload("b-"))
        wait_for_workload(redis_client, "b-", child=child)
        assert child.terminate() == 0, child.describe()
    finally:
        child.kill()
    check_workload(redis_client, "b-", sent, tags={"upstream"})


# -- (c) upstream and our workers on one queue at once ----------------------------------------


def test_upstream_and_our_workers_share_a_queue(
    upstream_python, redis_server, redis_client, redis_broker, tmp_path
):
    child = start_child_worker(upstream_python, redis_server.url, "upstream", upstream=True, tmp_path=tmp_path)
    # Two threads, so that the slow messages below cannot all be taken by
    # our worker before the upstream one looks at the queue.
    worker = dramatiq.Worker(redis_broker, worker_timeout=100, worker_threads=2)
    try:
        wait_ready(redis_client, "upstream", child)
        actors = interop_app.declare(redis_broker, redis_server.url, "ours")
        worker.start()

        # Half the work from our producer, half from an upstream producer.
        count, slow = 100, 12
        ours = interop_app.send_all(actors, workload("c-", count))
        ours_slow = interop_app.send_all(actors, [["slow", "c-slow", i, None] for i in range(slow)])
        theirs = run_sender(
            upstream_python, redis_server.url, workload("d-", count), upstream=True, tmp_path=tmp_path
        )
        theirs_slow = run_sender(
            upstream_python,
            redis_server.url,
            [["slow", "d-slow", i, None] for i in range(slow)],
            upstream=True,
            tmp_path=tmp_path,
        )
        assert len(ours_slow) == len(theirs_slow) == slow

        wait_for_workload(redis_client, "c-", count, child=child)
        wait_for_workload(redis_client, "d-", count, child=child)
        for key in ("c-slow", "d-slow"):
            wait_until(lambda: len(results(redis_client, key)) >= slow, timeout=LONG, message=key)
        redis_broker.join(QUEUE, timeout=int(LONG * 1000))
        assert child.terminate() == 0, child.describe()
    finally:
        worker.stop()
        child.kill()

    # Every message was processed exactly once.
    doomed_ids = {m["message_id"] for sent in (ours, theirs) for m in sent[-2:]}
    assert set(dead_letters(redis_client)) == doomed_ids
    for prefix in ("c-", "d-"):
        plain = results(redis_client, prefix + "plain")
        assert sorted(r["i"] for r in plain) == list(range(count))
        assert sorted(r["i"] for r in results(redis_client, prefix + "slow")) == list(range(slow))
        assert sorted(r["i"] for r in results(redis_client, prefix + "delayed")) == [0, 1, 2]
        assert sorted(r["i"] for r in results(redis_client, prefix + "flaky")) == [0, 1, 2]
        assert sorted(a["i"] for a in attempts(redis_client, prefix + "flaky")) == [0, 0, 1, 1, 2, 2]
        assert sorted(a["i"] for a in attempts(redis_client, prefix + "doomed")) == [0, 1]
    for key in (QUEUE, QUEUE + ".DQ"):
        assert redis_client.hlen("dramatiq:%s.msgs" % key) == 0, key

    # Both workers took part.
    tags = [r["tag"] for key in ("c-slow", "d-slow") for r in results(redis_client, key)]
    assert set(tags) == {"ours", "upstream"}, {t: tags.count(t) for t in set(tags)}
