"""Ctrl-C interrupts the blocking calls that wait on Redis: RedisBroker.join
(it used to poll until the queue drained, ignoring SIGINT), a send to a
server that does not answer, a blocking get_result, a barrier wait."""

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


SEND_SCRIPT = """
import os
import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["TEST_REDIS_URL"], namespace="interrupts")
dramatiq.set_broker(broker)

@dramatiq.actor
def never_processed():
    pass

never_processed.send()  # connected: the pause below holds the next reply
import redis
redis.Redis.from_url(os.environ["TEST_REDIS_URL"]).execute_command("CLIENT", "PAUSE", "60000", "WRITE")
print("READY", flush=True)
try:
    never_processed.send()  # the server answers in 60 s
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_a_send_to_a_server_that_does_not_answer(redis_server, redis_client):
    # A paused server (CLIENT PAUSE) stands for one that hangs: the
    # producer's connection is up, its command is sent, no reply comes.
    try:
        done = interrupt_when_blocked(SEND_SCRIPT, env={"TEST_REDIS_URL": redis_server.url})
    finally:
        redis_client.execute_command("CLIENT", "UNPAUSE")
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr


GET_RESULT_SCRIPT = """
import os
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

broker = RedisBroker(url=os.environ["TEST_REDIS_URL"], namespace="interrupts")
broker.add_middleware(Results(backend=RedisBackend(url=os.environ["TEST_REDIS_URL"])))
dramatiq.set_broker(broker)

@dramatiq.actor(store_results=True)
def never_processed():
    return 1

message = never_processed.send()  # no worker: the result never lands
print("READY", flush=True)
try:
    message.get_result(block=True, timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_a_blocking_redis_get_result(redis_server):
    done = interrupt_when_blocked(GET_RESULT_SCRIPT, env={"TEST_REDIS_URL": redis_server.url})
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr


BARRIER_SCRIPT = """
import os
from dramatiq.rate_limits import Barrier
from dramatiq.rate_limits.backends import RedisBackend

backend = RedisBackend(url=os.environ["TEST_REDIS_URL"])
barrier = Barrier(backend, "interrupted-barrier")
barrier.create(2)  # the second party never comes
print("READY", flush=True)
try:
    barrier.wait(timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_a_redis_barrier_wait(redis_server):
    done = interrupt_when_blocked(BARRIER_SCRIPT, env={"TEST_REDIS_URL": redis_server.url})
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr
