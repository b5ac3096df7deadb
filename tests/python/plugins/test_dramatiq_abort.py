"""dramatiq-abort (Redis event backend): a running message is aborted (its
actor interrupted by the Abort exception the plugin raises in the worker
thread), and a pending one is cancelled (skipped, never run)."""

from plugin_scenarios import run_scenario

SCENARIO = """
import os, threading, time
import redis
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware
from dramatiq_abort import Abortable, abort
from dramatiq_abort.middleware import AbortMode
from dramatiq_abort.backends import RedisBackend

url = os.environ["REDIS_URL"]
broker = RedisBroker(url=url)
broker.add_middleware(Abortable(backend=RedisBackend(client=redis.Redis.from_url(url))))
outcomes = {}

class Outcomes(Middleware):
    def after_process_message(self, broker, message, *, result=None, exception=None):
        outcomes[message.message_id] = type(exception).__name__ if exception else "done"

    def after_skip_message(self, broker, message):
        outcomes[message.message_id] = "skipped"

broker.add_middleware(Outcomes())
dramatiq.set_broker(broker)
release_blocker = threading.Event()
long_started = threading.Event()
ran = []

@dramatiq.actor(max_retries=0)
def blocker():
    assert release_blocker.wait(60)

@dramatiq.actor(max_retries=0)
def pending_job():
    ran.append("pending_job")

@dramatiq.actor(max_retries=0)
def long_job():
    long_started.set()
    for _ in range(1200):  # Python bytecode runs: the async exception lands
        time.sleep(0.05)
    ran.append("long_job finished")

worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
worker.start()
try:
    first = blocker.send()
    pending = pending_job.send()
    abort(pending.message_id, mode=AbortMode.CANCEL)
    release_blocker.set()
    running = long_job.send()
    assert long_started.wait(60), "long_job never started"
    abort(running.message_id)
    deadline = time.monotonic() + 60
    while running.message_id not in outcomes and time.monotonic() < deadline:
        time.sleep(0.05)
    broker.join(long_job.queue_name, timeout=60000)
    worker.join()
finally:
    worker.stop()

assert outcomes.get(first.message_id) == "done", outcomes
assert outcomes.get(pending.message_id) == "skipped", outcomes
assert outcomes.get(running.message_id) == "Abort", outcomes
assert ran == [], ran
print("SCENARIO OK")
"""


def test_abort_running_and_cancel_pending(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, env={"REDIS_URL": redis_server.url})
