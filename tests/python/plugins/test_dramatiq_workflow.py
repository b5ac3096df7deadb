"""dramatiq-workflow: a chain with a group inside (Chain(a, Group(b, c),
d)) on Redis, with the Redis rate-limiter backend for its barriers, runs
each step only once the one before it completed. (The plugin sets a float
``message_timestamp``, ``time.time() * 1000``.)"""

from plugin_scenarios import run_scenario

SCENARIO = """
import os, threading
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.rate_limits.backends import RedisBackend
from dramatiq_workflow import Chain, Group, Workflow, WorkflowMiddleware

url = os.environ["REDIS_URL"]
broker = RedisBroker(url=url)
broker.add_middleware(WorkflowMiddleware(RedisBackend(url=url)))
dramatiq.set_broker(broker)
steps = []
lock = threading.Lock()
finished = threading.Event()

@dramatiq.actor
def step(name):
    with lock:
        steps.append(name)
    if name == "d":
        finished.set()

broker.emit_after("process_boot")  # as the dramatiq command does: declares the plugin's no-op actor
worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
worker.start()
try:
    Workflow(Chain(step.message("a"), Group(step.message("b"), step.message("c")), step.message("d")),
             broker=broker).run()
    assert finished.wait(60), steps
    broker.join(step.queue_name, timeout=60000)
    worker.join()
finally:
    worker.stop()

assert steps[0] == "a" and sorted(steps[1:3]) == ["b", "c"] and steps[3] == "d", steps
assert len(steps) == 4, steps
print("SCENARIO OK")
"""


def test_chain_with_a_group_runs_in_order(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, env={"REDIS_URL": redis_server.url})
