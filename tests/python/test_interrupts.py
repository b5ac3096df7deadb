"""Ctrl-C interrupts blocking calls, as upstream: a script blocked in
``broker.join`` or a blocking ``get_result`` gets ``KeyboardInterrupt`` at
once, not when the wait ends."""

from interrupt_support import interrupt_when_blocked

JOIN_SCRIPT = """
import dramatiq
from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
dramatiq.set_broker(broker)

@dramatiq.actor
def never_processed():
    pass

never_processed.send()  # no worker: the queue never drains
print("READY", flush=True)
try:
    broker.join(never_processed.queue_name)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    # The broker stays usable.
    broker.flush_all()
    broker.join(never_processed.queue_name, timeout=1000)
    print("USABLE", flush=True)
"""


def test_sigint_interrupts_stub_broker_join():
    done = interrupt_when_blocked(JOIN_SCRIPT)
    assert done.stdout.split() == ["INTERRUPTED", "USABLE"], done.stderr
    assert done.returncode == 0, done.stderr


GET_RESULT_SCRIPT = """
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend

broker = StubBroker()
broker.add_middleware(Results(backend=StubBackend()))
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


def test_sigint_interrupts_a_blocking_get_result():
    done = interrupt_when_blocked(GET_RESULT_SCRIPT)
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr
