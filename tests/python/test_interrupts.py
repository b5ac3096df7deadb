"""Ctrl-C interrupts blocking calls, as upstream: a script blocked in
``broker.join`` or a blocking ``get_result`` gets ``KeyboardInterrupt`` at
once, not when the wait ends."""

import pytest

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


WORKER_STOP_SCRIPT = """
import threading
import dramatiq
from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
dramatiq.set_broker(broker)
started = threading.Event()

@dramatiq.actor
def runs_long():
    started.set()
    threading.Event().wait(60)  # longer than the test waits

worker = dramatiq.Worker(broker, worker_threads=1)
worker.start()
runs_long.send()
started.wait(20)
print("READY", flush=True)
try:
    worker.stop()  # waits for runs_long: up to 10 minutes
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_sigint_interrupts_worker_stop():
    done = interrupt_when_blocked(WORKER_STOP_SCRIPT)
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr


WORKER_JOIN_SCRIPT = """
import threading
import dramatiq
from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
dramatiq.set_broker(broker)
started = threading.Event()
release = threading.Event()

@dramatiq.actor
def runs_long():
    started.set()
    release.wait(60)

worker = dramatiq.Worker(broker, worker_threads=1)
worker.start()
runs_long.send()
started.wait(20)
print("READY", flush=True)
try:
    worker.join()  # the work queue drains once runs_long returns
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    # The worker stays usable: it finishes the message and stops.
    release.set()
    worker.join()
    worker.stop()
    print("STOPPED", flush=True)
"""


def test_sigint_interrupts_worker_join():
    done = interrupt_when_blocked(WORKER_JOIN_SCRIPT)
    assert done.stdout.split() == ["INTERRUPTED", "STOPPED"], done.stderr
    assert done.returncode == 0, done.stderr


RESULTS_PRELUDE = """
import dramatiq
from dramatiq import group, pipeline
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend

broker = StubBroker()
broker.add_middleware(Results(backend=StubBackend()))
dramatiq.set_broker(broker)

@dramatiq.actor(store_results=True)
def never_processed(x=None):
    return 1
"""

GROUP_WAIT_SCRIPT = RESULTS_PRELUDE + """
jobs = group([never_processed.message(), never_processed.message()]).run()  # no worker
print("READY", flush=True)
try:
    jobs.wait(timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""

GROUP_GET_RESULTS_SCRIPT = RESULTS_PRELUDE + """
jobs = group([never_processed.message(), never_processed.message()]).run()
print("READY", flush=True)
try:
    list(jobs.get_results(block=True, timeout=60000))
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""

PIPELINE_GET_RESULT_SCRIPT = RESULTS_PRELUDE + """
pipe = pipeline([never_processed.message(), never_processed.message()]).run()
print("READY", flush=True)
try:
    pipe.get_result(block=True, timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""

PIPELINE_GET_RESULTS_SCRIPT = RESULTS_PRELUDE + """
pipe = pipeline([never_processed.message(), never_processed.message()]).run()
print("READY", flush=True)
try:
    list(pipe.get_results(block=True, timeout=60000))
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


@pytest.mark.parametrize("script", [GROUP_WAIT_SCRIPT, GROUP_GET_RESULTS_SCRIPT, PIPELINE_GET_RESULT_SCRIPT,
                                    PIPELINE_GET_RESULTS_SCRIPT],
                         ids=["group.wait", "group.get_results", "pipeline.get_result", "pipeline.get_results"])
def test_sigint_interrupts_composition_waits(script):
    done = interrupt_when_blocked(script)
    assert done.stdout.split() == ["INTERRUPTED"], done.stderr
    assert done.returncode == 0, done.stderr


BARRIER_SCRIPT = """
from dramatiq.rate_limits import Barrier
from dramatiq.rate_limits.backends import StubBackend

backend = StubBackend()
barrier = Barrier(backend, "interrupted-barrier")
barrier.create(2)  # the second party never comes
print("READY", flush=True)
try:
    barrier.wait(timeout=60000)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    # The backend stays usable.
    other = Barrier(backend, "another-barrier")
    other.create(1)
    print("CLEARED", other.wait(timeout=1000), flush=True)
"""


def test_sigint_interrupts_a_blocked_barrier_wait():
    done = interrupt_when_blocked(BARRIER_SCRIPT)
    assert done.stdout.splitlines() == ["INTERRUPTED", "CLEARED True"], done.stderr
    assert done.returncode == 0, done.stderr
