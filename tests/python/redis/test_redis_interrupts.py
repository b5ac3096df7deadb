"""Ctrl-C interrupts RedisBroker.join (it used to poll until the queue
drained, ignoring SIGINT)."""

from interrupt_support import interrupt_when_blocked

JOIN_SCRIPT = """
import os
import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["TEST_REDIS_URL"], namespace="interrupts")
dramatiq.set_broker(broker)

@dramatiq.actor
def never_processed():
    pass

never_processed.send()  # no worker: the queue never drains
print("READY", flush=True)
try:
    broker.join(never_processed.queue_name, interval=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_redis_broker_join(redis_server):
    done = interrupt_when_blocked(JOIN_SCRIPT, env={"TEST_REDIS_URL": redis_server.url})
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr
