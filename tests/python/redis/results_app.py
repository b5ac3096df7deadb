"""Actors that store results in Redis, shared by the results interop tests.
The same file runs under the dramatiq under test and under upstream
Dramatiq 2.2.1, so both sides declare the same actors.

Command line (``python results_app.py ...``):

* ``worker URL TAG``: run a Worker with Results(RedisBackend(url=URL))
  until SIGTERM, then stop it cleanly. Sets ``ready:<TAG>`` once started.
* ``get URL JSON``: for each message (``{"queue_name", "actor_name",
  "message_id"}``) print, as one JSON list, ``{"value": ...}`` or
  ``{"failure": [type, msg]}`` read with this side's RedisBackend,
  blocking up to 30 s each.
"""

import json
import signal
import sys
import threading

import redis

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import ResultFailure, Results
from dramatiq.results.backends import RedisBackend

QUEUE = "results-interop"


def setup(url):
    """Install a RedisBroker with Results on ``url``; returns the actors."""
    backend = RedisBackend(url=url)
    broker = RedisBroker(url=url)
    broker.add_middleware(Results(backend=backend))
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name=QUEUE, actor_name="results_add", store_results=True)
    def add(x, y):
        return {"sum": x + y, "parts": [x, y]}

    @dramatiq.actor(queue_name=QUEUE, actor_name="results_fail", store_results=True, max_retries=0)
    def fail(text):
        raise ValueError(text)

    return broker, backend, add, fail


def main(argv):
    mode, url = argv[1], argv[2]
    broker, backend, _, _ = setup(url)
    if mode == "worker":
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        redis.Redis.from_url(url).set("ready:" + argv[3], 1)
        stop.wait()
        worker.stop()
        return
    out = []
    for fields in json.loads(argv[3]):
        message = dramatiq.Message(args=(), kwargs={}, options={}, message_timestamp=0, **fields)
        try:
            out.append({"value": backend.get_result(message, block=True, timeout=30000)})
        except ResultFailure as e:
            out.append({"failure": [e.orig_exc_type, e.orig_exc_msg]})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
