"""Values a hostile (or careless) user sends: self-containing and deeply
nested containers, lone surrogates in strings and dict keys.  Each gives
upstream's answer -- an exception for the caller, a logged failure for a
worker that goes on -- never a crash or a hang.  Scripts that crashed the
interpreter before run in a child, so a crash fails the test instead of
ending the test run."""

import json
import subprocess
import sys
import textwrap

import pytest

import dramatiq
from dramatiq import JSONEncoder

#: Bounds the child interpreters: one that hangs fails its test.
BOUND = 60


def run_child(script):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=BOUND)


def nested_lists(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def python_json_depth_limit():
    """The deepest list Python's json module encodes here (its recursion
    limit, less the frames already on the stack)."""
    low, high = 1, 100000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            json.dumps(nested_lists(middle))
            low = middle
        except RecursionError:
            high = middle - 1
    return low


ENCODE_SCRIPT = """
from dramatiq import JSONEncoder

def nested(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value

cyclic_list = []
cyclic_list.append(cyclic_list)
cyclic_dict = {}
cyclic_dict["self"] = cyclic_dict
indirect = {"a": [1, {"b": None}]}
indirect["a"][1]["b"] = indirect
for value in (cyclic_list, cyclic_dict, indirect, nested(100000), {"k": nested(50000)}):
    try:
        JSONEncoder().encode(value)
    except (ValueError, RecursionError) as e:
        print(type(e).__name__, flush=True)
"""


def test_encoding_self_containing_or_very_deep_values_raises_as_json_dumps():
    done = run_child(ENCODE_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ValueError"] * 3 + ["RecursionError"] * 2, done.stderr


def test_circular_reference_error_matches_json_dumps():
    value = {}
    value["self"] = [value]
    with pytest.raises(ValueError, match="Circular reference detected"):
        JSONEncoder().encode(value)


SEND_SCRIPT = """
import dramatiq
from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
dramatiq.set_broker(broker)

@dramatiq.actor
def take(value):
    pass

value = []
value.append(value)
try:
    take.send(value)
except ValueError as e:
    print("REFUSED", e, flush=True)
take.send([1])  # the producer goes on
print("QUEUED", broker.queues["default"].qsize(), flush=True)
"""


def test_sending_a_self_containing_argument_raises_and_the_producer_goes_on():
    done = run_child(SEND_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["REFUSED Circular reference detected", "QUEUED 1"], done.stderr


STORE_SCRIPT = """
import logging
import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend

logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
broker = StubBroker()
broker.add_middleware(Results(backend=StubBackend()))
dramatiq.set_broker(broker)

calls = []

@dramatiq.actor(store_results=True, max_retries=3, min_backoff=1, max_backoff=1)
def cyclic():
    calls.append(1)
    value = []
    value.append(value)
    return value

@dramatiq.actor(store_results=True)
def deep():
    value = []
    for _ in range(100000):
        value = [value]
    return value

@dramatiq.actor(store_results=True)
def fine():
    return 42

worker = dramatiq.Worker(broker, worker_threads=1)
worker.start()
cyclic_message = cyclic.send()
broker.join(cyclic.queue_name, fail_fast=False)
print("CALLS", len(calls), flush=True)
try:
    cyclic_message.get_result(block=True, timeout=10000)
except Exception as error:
    print("CYCLIC", type(error).__name__, flush=True)
deep.send_with_options(max_retries=0)
broker.join(deep.queue_name, fail_fast=False)
message = fine.send()
broker.join(fine.queue_name, fail_fast=False)
worker.join()
print("RESULT", message.get_result(block=True, timeout=10000), flush=True)
worker.stop()
print("STOPPED", flush=True)
"""


def test_an_actor_returning_a_self_containing_value_is_logged_and_the_worker_goes_on():
    done = run_child(STORE_SCRIPT)
    assert done.returncode == 0, done.stderr
    # The actor succeeded: the result that cannot be stored is not a reason
    # to run it again (upstream logs it and acks); its caller learns why.
    assert done.stdout.splitlines() == ["CALLS 1", "CYCLIC ResultFailure", "RESULT 42", "STOPPED"], done.stderr
    assert "Failed to store the result" in done.stderr, done.stderr
    assert "Circular reference detected" in done.stderr, done.stderr
    assert "maximum nesting depth of 1000 exceeded" in done.stderr, done.stderr


def test_encoder_and_decoder_accept_what_python_json_accepts():
    encoder = JSONEncoder()
    depth = python_json_depth_limit()
    data = encoder.encode(nested_lists(depth))
    assert data == json.dumps(nested_lists(depth), separators=(",", ":")).encode()
    assert encoder.decode(data) == nested_lists(depth)


@pytest.mark.superset
def test_encoder_and_decoder_share_one_nesting_limit():
    # Whatever the encoder writes, the decoder reads back; one level more
    # and both refuse it.
    encoder = JSONEncoder()
    limit = dramatiq.encoder.MAX_NESTING_DEPTH
    assert limit >= python_json_depth_limit()
    # (Compared as bytes: Python's == recurses, and stops short of the limit.)
    deepest = b"[" * limit + b"]" * limit
    assert encoder.encode(nested_lists(limit)) == deepest
    assert encoder.encode(encoder.decode(deepest)) == deepest
    in_a_dict = encoder.encode({"k": nested_lists(limit - 1)})
    assert encoder.encode(encoder.decode(in_a_dict)) == in_a_dict
    with pytest.raises(RecursionError):
        encoder.encode(nested_lists(limit + 1))
    with pytest.raises((RecursionError, dramatiq.DecodeError)):
        encoder.decode(b"[" * (limit + 1) + b"]" * (limit + 1))


# ---- lone surrogates

SURROGATE_VALUES = [
    {"\udc00": 1},
    ["\ud800", "x\udfff", "\udbff\udfff", "\ud83d\ude00", "😀"],
    {"\ud800key": {"\udfff": "\ud800"}},
]


@pytest.mark.parametrize("value", SURROGATE_VALUES)
def test_lone_surrogates_encode_as_json_dumps_does(value):
    assert JSONEncoder().encode(value) == json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("value", SURROGATE_VALUES)
def test_lone_surrogates_decode_as_json_loads_does(value):
    data = json.dumps(value, separators=(",", ":")).encode()
    decoded = JSONEncoder().decode(data)
    assert decoded == json.loads(data)
    assert ascii(decoded) == ascii(json.loads(data))


def test_a_dict_key_with_a_lone_surrogate_decodes():
    assert JSONEncoder().decode(b'{"\\udc00":1}') == {"\udc00": 1}


SURROGATE_WORKER_SCRIPT = """
import json
import logging
import threading
import dramatiq
from dramatiq.brokers.stub import StubBroker

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
broker = StubBroker()
dramatiq.set_broker(broker)
seen = []

@dramatiq.actor(max_retries=0)
def record(value, **kwargs):
    seen.append((value, kwargs))

@dramatiq.actor(max_retries=0)
def fail(**kwargs):
    raise RuntimeError("refused")

def put_as_upstream_would(actor, args, kwargs):
    # An upstream producer's bytes: json.dumps escapes the surrogates.
    message = dramatiq.Message(queue_name="default", actor_name=actor.actor_name, args=args, kwargs=kwargs,
                               options={}, message_id="m-" + actor.actor_name, message_timestamp=0)
    broker.queues["default"].put(json.dumps(message.asdict(), separators=(",", ":")).encode())

broker.declare_queue("default")
worker = dramatiq.Worker(broker, worker_threads=2)
worker.start()
put_as_upstream_would(record, [{"\\udc00": 1}], {"\\ud800": "\\udfff"})
# This one fails: its log line names the message, surrogates and all.
put_as_upstream_would(fail, [], {"\\udc00": 2})
broker.join(record.queue_name, fail_fast=False)
worker.join()
print("SEEN", ascii(seen), flush=True)
print("DEAD", len(broker.dead_letters), flush=True)

# Logging still works from every thread, and the worker stops.
def log_from_a_thread():
    logging.getLogger("probe").info("still logging")
thread = threading.Thread(target=log_from_a_thread)
thread.start()
thread.join(10)
print("LOGGED", not thread.is_alive(), flush=True)
worker.stop()
print("STOPPED", flush=True)
"""


def test_a_worker_runs_messages_with_lone_surrogates_and_keeps_logging_and_stopping():
    done = run_child(SURROGATE_WORKER_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "SEEN [({'\\udc00': 1}, {'\\ud800': '\\udfff'})]",
        "DEAD 1",
        "LOGGED True",
        "STOPPED",
    ], done.stderr
    assert "RuntimeError: refused" in done.stderr, done.stderr


FAILING_PATHS_SCRIPT = """
import logging
import threading
import dramatiq
from dramatiq import DecodeError, JSONEncoder, PickleEncoder
from dramatiq.brokers.stub import StubBroker

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

class Opaque:
    pass

class HostileEncoder(PickleEncoder):
    # Pickle, but decoding raises for one message.
    def decode(self, data):
        if b"refuse-me" in data:
            raise DecodeError("hostile decoder", data, None)
        return super().decode(data)

dramatiq.set_encoder(HostileEncoder())
broker = StubBroker()
dramatiq.set_broker(broker)
ran = []

@dramatiq.actor(max_retries=0)
def fails(items):
    raise RuntimeError("refused")

@dramatiq.actor(max_retries=0)
def fine(value):
    ran.append(value)

worker = dramatiq.Worker(broker, worker_threads=2)
worker.start()
fails.send([Opaque()])      # its log line names a list JSON cannot show
fine.send("refuse-me")      # its decoding raises
fine.send("accepted")
broker.join(fine.queue_name, fail_fast=False)
worker.join()
print("RAN", ran, flush=True)

def log_from_a_thread():
    logging.getLogger("probe").info("still logging")
thread = threading.Thread(target=log_from_a_thread)
thread.start()
thread.join(10)
print("LOGGED", not thread.is_alive(), flush=True)
worker.stop()
print("STOPPED", flush=True)
"""


@pytest.mark.superset  # upstream's consumer dies on the undecodable message, and join() never returns
def test_failures_in_the_decoding_and_logging_paths_leave_logging_and_stopping_working():
    done = run_child(FAILING_PATHS_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["RAN ['accepted']", "LOGGED True", "STOPPED"], done.stderr
    assert "RuntimeError: refused" in done.stderr, done.stderr
