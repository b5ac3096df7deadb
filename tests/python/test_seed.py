"""The usage snippets of the seed document, run against the stub broker.

Each test keeps the snippet's code (only the broker/worker come from
fixtures, long sleeps and delays are shortened, and names the snippet
leaves undefined are filled in) and asserts what the snippet shows.
Snippets, or parts of them, that rely on dramatiq-cpp features beyond
upstream Dramatiq are marked ``superset``.  The queue-monitoring snippet
needs Redis and is not covered here.
"""

import datetime
import gzip
import json
import pprint
import threading
import time

import msgpack
import pytest

import dramatiq
from dramatiq import DecodeError, Encoder, JSONEncoder, PickleEncoder, set_encoder  # noqa: F401


def run_all(broker, worker, *queue_names, fail_fast=True, timeout=None):
    for queue_name in queue_names or ("default",):
        broker.join(queue_name, fail_fast=fail_fast, timeout=timeout)
    worker.join()


class EnqueueLog(dramatiq.Middleware):
    """Remembers on which queue, and with which delay, each message was
    enqueued."""

    def __init__(self):
        self.lock = threading.Lock()
        self.enqueued = []

    def before_enqueue(self, broker, message, delay):
        with self.lock:
            self.enqueued.append((message.message_id, message.queue_name, delay))

    def queues_of(self, message_id):
        with self.lock:
            return [queue for mid, queue, _ in self.enqueued if mid == message_id]


# -- snippet: messages by hand, .message(), .send() --------------------------------------------


def test_seed_message_basics(stub_broker, stub_worker, result_recorder, capsys):
    @dramatiq.actor
    def example_task(x, y, multiplier=1):
        return (x + y) * multiplier

    message = dramatiq.Message(
        queue_name="default",
        actor_name="example_task",
        args=(10, 20),
        kwargs={"multiplier": 2},
        options={"max_retries": 5},
    )

    broker = dramatiq.get_broker()
    broker.enqueue(message)

    auto_message = example_task.message(10, 20, multiplier=2)
    print(f"Message ID: {auto_message.message_id}")
    print(f"Message data: {auto_message.asdict()}")

    sent_message = auto_message
    auto_message = example_task.send(10, 20, multiplier=2)

    assert broker is stub_broker
    out = capsys.readouterr().out
    assert out == (
        f"Message ID: {sent_message.message_id}\n"
        "Message data: {'queue_name': 'default', 'actor_name': 'example_task', "
        "'args': (10, 20), 'kwargs': {'multiplier': 2}, 'options': {}, "
        f"'message_id': '{sent_message.message_id}', "
        f"'message_timestamp': {sent_message.message_timestamp}}}\n"
    )

    run_all(stub_broker, stub_worker)
    assert result_recorder.results[message.message_id] == 60
    assert result_recorder.results[auto_message.message_id] == 60
    assert sent_message.message_id not in result_recorder.results
    assert example_task(10, 20, multiplier=2) == 60
    assert stub_broker.dead_letters == []


# -- snippet: JSONEncoder ----------------------------------------------------------------------


def test_seed_json_encoder(stub_broker, stub_worker, result_recorder):
    from dramatiq import JSONEncoder

    json_encoder = JSONEncoder()

    @dramatiq.actor
    def json_compatible_task(data):
        return {
            "processed": data["input"],
            "timestamp": time.time(),
            "items": [1, 2, 3, 4, 5],
        }

    payload = {"input": "test data", "config": {"option1": True, "option2": "value"}}
    message = json_compatible_task.send(payload)

    assert json_encoder.decode(json_encoder.encode(message.asdict()))["args"] == [payload]
    run_all(stub_broker, stub_worker)
    result = result_recorder.results[message.message_id]
    assert result["processed"] == "test data"
    assert result["items"] == [1, 2, 3, 4, 5]
    assert isinstance(result["timestamp"], float)


# -- snippet: PickleEncoder ------------------------------------------------------------------


class CustomObject:
    def __init__(self, value):
        self.value = value
        self.created = datetime.datetime.now()


def test_seed_pickle_encoder(stub_broker, stub_worker, result_recorder):
    from dramatiq import PickleEncoder, set_encoder  # noqa: F401

    pickle_encoder = PickleEncoder()
    dramatiq.set_encoder(pickle_encoder)

    @dramatiq.actor
    def pickle_compatible_task(obj):
        return {
            "object_value": obj.value,
            "created": obj.created,
            "processed": datetime.datetime.now(),
        }

    custom_obj = CustomObject("test value")
    message = pickle_compatible_task.send(custom_obj)

    assert dramatiq.get_encoder() is pickle_encoder
    run_all(stub_broker, stub_worker)
    result = result_recorder.results[message.message_id]
    assert result["object_value"] == "test value"
    assert result["created"] == custom_obj.created
    assert isinstance(result["processed"], datetime.datetime)
    assert result["processed"] >= custom_obj.created


# -- snippet: get_encoder / set_encoder with a custom encoder ----------------------------------


class MyCustomEncoder(dramatiq.Encoder):
    """Fills in the snippet's undefined encoder: JSON with a marker."""

    prefix = b"custom:"

    def __init__(self):
        self.encoded = 0
        self.decoded = 0

    def encode(self, data):
        self.encoded += 1
        return self.prefix + json.dumps(data).encode("utf-8")

    def decode(self, data):
        self.decoded += 1
        if not data.startswith(self.prefix):
            raise DecodeError("not a custom message", data, None)
        return json.loads(data[len(self.prefix) :])


def process_with_custom_format(data):
    return {"formatted": data}


def test_seed_custom_encoder(stub_broker, stub_worker, result_recorder, capsys):
    current_encoder = dramatiq.get_encoder()
    print(f"Current encoder: {type(current_encoder).__name__}")

    custom_encoder = MyCustomEncoder()
    dramatiq.set_encoder(custom_encoder)

    @dramatiq.actor
    def task_with_custom_encoding(data):
        return process_with_custom_format(data)

    assert capsys.readouterr().out == "Current encoder: JSONEncoder\n"
    assert dramatiq.get_encoder() is custom_encoder

    message = task_with_custom_encoding.send({"k": "v"})
    assert message.encode().startswith(MyCustomEncoder.prefix)
    run_all(stub_broker, stub_worker)
    assert result_recorder.results[message.message_id] == {"formatted": {"k": "v"}}
    assert custom_encoder.encoded >= 1
    assert custom_encoder.decoded >= 1


# -- snippet: metadata-aware task (get_current_message, delay option) ------------------------


@pytest.mark.superset
def test_seed_metadata_aware_task(stub_broker, make_worker, result_recorder):
    broker = dramatiq.get_broker()

    @dramatiq.actor
    def metadata_aware_task(data):
        from dramatiq.middleware import get_current_message

        try:
            current_msg = get_current_message()
            return {
                "data": data,
                "message_id": current_msg.message_id,
                "retry_count": current_msg.options.get("retries", 0),
                "queue": current_msg.queue_name,
                "created_at": current_msg.message_timestamp,
            }
        except:  # noqa: E722
            return {"data": data, "no_metadata": True}

    message = metadata_aware_task.message_with_options(
        args=("test_data",),
        delay=200,  # the snippet uses 5000
        max_retries=3,
        custom_option="custom_value",
    )
    sent_at = time.time()
    message_id = broker.enqueue(message).message_id

    assert message_id == message.message_id
    # The "delay" option delays the message: it waits on the delay queue.
    assert stub_broker.queues["default.DQ"].qsize() == 1
    assert stub_broker.queues["default"].qsize() == 0

    worker = make_worker()
    run_all(stub_broker, worker, timeout=10000)
    assert time.time() - sent_at >= 0.2 - 0.002
    assert result_recorder.results[message_id] == {
        "data": "test_data",
        "message_id": message_id,
        "retry_count": 0,
        "queue": "default",
        "created_at": message.message_timestamp,
    }


@pytest.mark.superset
def test_get_current_message_function(stub_broker, stub_worker):
    from dramatiq.middleware import get_current_message

    assert callable(get_current_message)
    assert get_current_message() is None
    seen = []

    @dramatiq.actor
    def introspect(x):
        current = get_current_message()
        seen.append((current.message_id, current.args, current.actor_name))

    message = introspect.send(5)
    run_all(stub_broker, stub_worker)
    assert seen == [(message.message_id, (5,), "introspect")]


# -- snippet: copying messages -------------------------------------------------------------


def test_seed_copy_messages(stub_broker):
    @dramatiq.actor
    def original_task(data, multiplier=1):
        return data * multiplier

    base_message = original_task.message("hello", multiplier=2)

    urgent_message = base_message.copy(queue_name="urgent", options={**base_message.options, "priority": 0})
    delayed_message = base_message.copy(args=("goodbye",), options={**base_message.options, "delay": 30000})

    assert urgent_message.queue_name == "urgent"
    assert urgent_message.options == {"priority": 0}
    assert urgent_message.args == ("hello",)
    assert urgent_message.kwargs == {"multiplier": 2}
    assert delayed_message.queue_name == "default"
    assert delayed_message.args == ("goodbye",)
    assert delayed_message.kwargs == {"multiplier": 2}
    assert delayed_message.options == {"delay": 30000}
    # Copies keep the id and timestamp of the message they were made from.
    assert urgent_message.message_id == delayed_message.message_id == base_message.message_id
    assert urgent_message.message_timestamp == base_message.message_timestamp
    assert base_message.options == {}
    assert base_message.queue_name == "default"


@pytest.mark.superset
def test_seed_copy_messages_enqueue(stub_broker, make_worker, result_recorder):
    broker = dramatiq.get_broker()

    @dramatiq.actor
    def original_task(data, multiplier=1):
        return data * multiplier

    base_message = original_task.message("hello", multiplier=2)

    urgent_message = base_message.copy(queue_name="urgent", options={**base_message.options, "priority": 0})
    delayed_message = base_message.copy(
        args=("goodbye",), options={**base_message.options, "delay": 300}  # the snippet uses 30000
    )
    sent_at = int(time.time() * 1000)
    broker.enqueue(urgent_message)
    broker.enqueue(delayed_message)

    # The undeclared "urgent" queue is declared on demand.
    assert "urgent" in stub_broker.get_declared_queues()
    assert stub_broker.queues["urgent"].qsize() == 1
    # The "delay" option sends the message to the delay queue.
    assert stub_broker.queues["default"].qsize() == 0
    assert stub_broker.queues["default.DQ"].qsize() == 1

    finished = []

    class Timing(dramatiq.Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            finished.append((result, int(time.time() * 1000)))

    stub_broker.add_middleware(Timing())
    worker = make_worker()
    run_all(stub_broker, worker, "urgent", "default", timeout=10000)
    results = dict(finished)
    assert set(results) == {"hellohello", "goodbyegoodbye"}
    assert results["goodbyegoodbye"] - sent_at >= 300 - 2


# -- snippet: conditional messages -----------------------------------------------------------


def _declare_conditional_actors():
    @dramatiq.actor
    def urgent_task(data):
        return f"urgent:{data}"

    @dramatiq.actor
    def high_priority_task(data):
        return f"high:{data}"

    @dramatiq.actor
    def normal_task(data):
        return f"normal:{data}"

    def create_conditional_message(data, priority="normal"):
        if priority == "urgent":
            return urgent_task.message_with_options(
                args=(data,),
                queue_name="urgent",
                priority=0,
                max_retries=1,
            )
        elif priority == "high":
            return high_priority_task.message_with_options(
                args=(data,),
                queue_name="high_priority",
                priority=1,
                max_retries=3,
            )
        else:
            return normal_task.message_with_options(
                args=(data,),
                queue_name="normal",
                priority=5,
                max_retries=5,
            )

    return create_conditional_message


def test_seed_conditional_messages(stub_broker, stub_worker, result_recorder):
    broker = dramatiq.get_broker()
    create_conditional_message = _declare_conditional_actors()

    urgent_msg = create_conditional_message("critical_data", "urgent")
    normal_msg = create_conditional_message("regular_data", "normal")
    broker.enqueue(urgent_msg)
    broker.enqueue(normal_msg)

    assert urgent_msg.actor_name == "urgent_task"
    assert urgent_msg.args == ("critical_data",)
    assert urgent_msg.options["priority"] == 0
    assert urgent_msg.options["max_retries"] == 1
    assert normal_msg.actor_name == "normal_task"
    assert normal_msg.options["priority"] == 5
    assert normal_msg.options["max_retries"] == 5

    run_all(stub_broker, stub_worker, urgent_msg.queue_name, normal_msg.queue_name)
    assert result_recorder.results[urgent_msg.message_id] == "urgent:critical_data"
    assert result_recorder.results[normal_msg.message_id] == "normal:regular_data"


@pytest.mark.superset
def test_seed_conditional_messages_are_routed(stub_broker, make_worker, result_recorder):
    broker = dramatiq.get_broker()
    create_conditional_message = _declare_conditional_actors()

    urgent_msg = create_conditional_message("critical_data", "urgent")
    high_msg = create_conditional_message("important_data", "high")
    normal_msg = create_conditional_message("regular_data", "normal")
    assert urgent_msg.queue_name == "urgent"
    assert high_msg.queue_name == "high_priority"
    assert normal_msg.queue_name == "normal"

    broker.enqueue(urgent_msg)
    broker.enqueue(high_msg)
    broker.enqueue(normal_msg)
    assert {"urgent", "high_priority", "normal"} <= stub_broker.get_declared_queues()
    assert stub_broker.queues["urgent"].qsize() == 1
    assert stub_broker.queues["high_priority"].qsize() == 1
    assert stub_broker.queues["normal"].qsize() == 1
    assert stub_broker.queues["default"].qsize() == 0

    worker = make_worker()
    run_all(stub_broker, worker, "urgent", "high_priority", "normal", timeout=10000)
    assert result_recorder.results[urgent_msg.message_id] == "urgent:critical_data"
    assert result_recorder.results[high_msg.message_id] == "high:important_data"
    assert result_recorder.results[normal_msg.message_id] == "normal:regular_data"


@pytest.mark.superset
def test_message_with_options_queue_name_then_send(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def routed(x):
        seen.append(x)

    message = routed.send_with_options(args=(1,), queue_name="urgent")
    assert message.queue_name == "urgent"
    run_all(stub_broker, stub_worker, "urgent", timeout=10000)
    assert seen == [1]


# -- snippet: message tracking middleware ------------------------------------------------------


class MessageState:
    CREATED = "created"
    ENQUEUED = "enqueued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class TrackedMessage:
    def __init__(self, message):
        self.message_id = message.message_id
        self.actor_name = message.actor_name
        self.state = MessageState.CREATED
        self.history = [MessageState.CREATED]
        self.created_at = time.time()
        self.updated_at = self.created_at
        self.result = None
        self.error = None

    def update_state(self, state, **details):
        self.state = state
        self.history.append(state)
        self.updated_at = time.time()
        for key, value in details.items():
            setattr(self, key, value)

    @property
    def duration(self):
        return self.updated_at - self.created_at


class MessageTrackingMiddleware(dramatiq.Middleware):
    def __init__(self):
        self.tracked_messages = {}

    def before_enqueue(self, broker, message, delay):
        tracked = TrackedMessage(message)
        tracked.update_state(MessageState.ENQUEUED)
        self.tracked_messages[message.message_id] = tracked

    def before_process_message(self, broker, message):
        tracked = self.tracked_messages.get(message.message_id)
        if tracked:
            tracked.update_state(MessageState.PROCESSING)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        tracked = self.tracked_messages.get(message.message_id)
        if tracked:
            if exception:
                tracked.update_state(MessageState.FAILED, error=str(exception))
            else:
                tracked.result = result
                tracked.update_state(MessageState.COMPLETED)


def test_seed_message_tracking_middleware(stub_broker, stub_worker, capsys):
    broker = dramatiq.get_broker()
    tracking_middleware = MessageTrackingMiddleware()
    broker.add_middleware(tracking_middleware)

    @dramatiq.actor
    def tracked_task(data):
        time.sleep(0.05)  # the snippet sleeps 1 s
        return f"Processed: {data}"

    message = tracked_task.send("test_data")
    run_all(stub_broker, stub_worker)  # instead of time.sleep(2)

    tracked = tracking_middleware.tracked_messages.get(message.message_id)
    if tracked:
        print(f"Message state: {tracked.state}")
        print(f"Duration: {tracked.duration:.2f}s")

    assert tracked is not None
    assert tracked.state == MessageState.COMPLETED
    assert tracked.result == "Processed: test_data"
    assert tracked.error is None
    assert tracked.history == ["created", "enqueued", "processing", "completed"]
    out = capsys.readouterr().out
    assert out.startswith("Message state: completed\nDuration: ")


def test_seed_message_tracking_middleware_failure(stub_broker, stub_worker):
    tracking_middleware = MessageTrackingMiddleware()
    stub_broker.add_middleware(tracking_middleware)

    @dramatiq.actor(max_retries=0)
    def tracked_task(data):
        raise ValueError(f"cannot process {data}")

    message = tracked_task.send("bad")
    run_all(stub_broker, stub_worker, fail_fast=False)
    tracked = tracking_middleware.tracked_messages[message.message_id]
    assert tracked.state == MessageState.FAILED
    assert tracked.error == "cannot process bad"
    assert tracked.history == ["created", "enqueued", "processing", "failed"]


# -- snippet: message batches ------------------------------------------------------------------


class MessageBatch:
    def __init__(self, broker):
        self.broker = broker
        self.messages = []

    def add(self, message):
        self.messages.append(message)

    def send_all(self, delay=None):
        sent = []
        for message in self.messages:
            if delay:
                message = message.copy(options={**message.options, "delay": delay})
            sent.append(self.broker.enqueue(message))
        self.messages.clear()
        return sent


def _declare_process_item(processed):
    @dramatiq.actor
    def process_item(item, config):
        processed.append((item, config["config"], time.time()))

    return process_item


def test_seed_message_batch(stub_broker, stub_worker, capsys):
    broker = dramatiq.get_broker()
    processed = []
    process_item = _declare_process_item(processed)

    batch = MessageBatch(broker)
    for i in range(10):
        message = process_item.message(f"item_{i}", {"config": "batch_mode"})
        batch.add(message)
    sent_messages = batch.send_all(delay=200)  # the snippet uses 1000
    print(f"Sent {len(sent_messages)} messages")

    assert capsys.readouterr().out == "Sent 10 messages\n"
    assert batch.messages == []
    assert len({m.message_id for m in sent_messages}) == 10
    run_all(stub_broker, stub_worker, timeout=10000)
    assert sorted(item for item, _, _ in processed) == sorted(f"item_{i}" for i in range(10))
    assert {config for _, config, _ in processed} == {"batch_mode"}


def test_seed_message_batch_without_delay(stub_broker, stub_worker):
    processed = []
    process_item = _declare_process_item(processed)
    batch = MessageBatch(stub_broker)
    for i in range(3):
        batch.add(process_item.message(f"item_{i}", {"config": "batch_mode"}))
    sent = batch.send_all()
    assert [m.options for m in sent] == [{}, {}, {}]
    run_all(stub_broker, stub_worker)
    assert len(processed) == 3


@pytest.mark.superset
def test_seed_message_batch_is_delayed(stub_broker, make_worker):
    log = EnqueueLog()
    stub_broker.add_middleware(log)
    processed = []
    process_item = _declare_process_item(processed)

    batch = MessageBatch(stub_broker)
    for i in range(10):
        batch.add(process_item.message(f"item_{i}", {"config": "batch_mode"}))
    sent_at = time.time()
    sent_messages = batch.send_all(delay=300)
    assert len(sent_messages) == 10

    assert stub_broker.queues["default.DQ"].qsize() == 10
    assert stub_broker.queues["default"].qsize() == 0

    worker = make_worker()
    run_all(stub_broker, worker, timeout=10000)
    assert len(processed) == 10
    assert all(ran_at - sent_at >= 0.3 - 0.002 for _, _, ran_at in processed)
    # The delay is applied exactly once per message.
    for message in sent_messages:
        assert log.queues_of(message.message_id).count("default.DQ") == 1


# -- the "delay" option ------------------------------------------------------------


@pytest.mark.superset
def test_delay_option_via_message_with_options(stub_broker, make_worker):
    log = EnqueueLog()
    stub_broker.add_middleware(log)
    ran = []

    @dramatiq.actor
    def later(x):
        ran.append((x, time.time()))

    message = later.message_with_options(args=(1,), delay=250)
    sent_at = time.time()
    stub_broker.enqueue(message)
    assert stub_broker.queues["default.DQ"].qsize() == 1
    assert stub_broker.queues["default"].qsize() == 0

    worker = make_worker()
    run_all(stub_broker, worker, timeout=10000)
    assert [x for x, _ in ran] == [1]
    assert ran[0][1] - sent_at >= 0.25 - 0.002
    assert log.queues_of(message.message_id).count("default.DQ") == 1


def test_explicit_enqueue_delay_wins_over_delay_option(stub_broker, make_worker):
    log = EnqueueLog()
    stub_broker.add_middleware(log)
    ran = []

    @dramatiq.actor
    def later():
        ran.append(True)

    message = later.message_with_options(delay=600000)
    before = int(time.time() * 1000)
    delayed = stub_broker.enqueue(message, delay=100)
    after = int(time.time() * 1000)
    assert delayed.queue_name == "default.DQ"
    assert before + 100 <= delayed.options["eta"] <= after + 100

    worker = make_worker()
    run_all(stub_broker, worker, timeout=10000)
    assert ran == [True]
    assert log.queues_of(message.message_id).count("default.DQ") == 1


def test_delay_option_in_pipeline_is_applied_once(stub_broker, make_worker):
    log = EnqueueLog()
    stub_broker.add_middleware(log)
    seen = []

    @dramatiq.actor
    def first():
        return 1

    @dramatiq.actor
    def second(x):
        seen.append(x)

    pipe = first.message() | second.message_with_options(delay=100)
    pipe.run()
    worker = make_worker()
    run_all(stub_broker, worker, timeout=10000)
    assert seen == [1]
    assert log.queues_of(pipe.messages[1].message_id).count("default.DQ") == 1


# -- snippet: MessagePack encoder --------------------------------------------------------------


class MessagePackEncoder(Encoder):
    def encode(self, data):
        try:
            return msgpack.packb(data, use_bin_type=True)
        except Exception as e:
            raise DecodeError(f"Failed to encode with MessagePack: {e}")

    def decode(self, data):
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as e:
            raise DecodeError(f"Failed to decode with MessagePack: {e}")


def test_seed_msgpack_encoder(stub_broker, stub_worker, result_recorder):
    dramatiq.set_encoder(MessagePackEncoder())

    @dramatiq.actor
    def msgpack_task(data):
        return {
            "input_size": len(str(data)),
            "processed": True,
            "binary_data": b"binary content",
        }

    data = {
        "text": "Hello World",
        "binary": b"\x00\x01\x02\x03",
        "numbers": [1, 2, 3, 4, 5],
    }
    message = msgpack_task.send(data)

    assert msgpack.unpackb(message.encode(), raw=False)["args"] == [data]
    run_all(stub_broker, stub_worker)
    assert result_recorder.results[message.message_id] == {
        "input_size": len(str(data)),
        "processed": True,
        "binary_data": b"binary content",
    }


@pytest.mark.superset
def test_seed_msgpack_encoder_errors(stub_broker):
    encoder = MessagePackEncoder()
    dramatiq.set_encoder(encoder)

    @dramatiq.actor
    def msgpack_task(data):
        pass

    with pytest.raises(DecodeError) as excinfo:
        msgpack_task.send(object())
    assert str(excinfo.value).startswith("Failed to encode with MessagePack: ")
    assert stub_broker.queues["default"].qsize() == 0

    with pytest.raises(DecodeError) as excinfo:
        encoder.decode(b"\xc1")
    assert str(excinfo.value).startswith("Failed to decode with MessagePack: ")

    with pytest.raises(DecodeError):
        dramatiq.Message.decode(b"\xc1")


# -- snippet: compressed JSON encoder ----------------------------------------------------------


class CompressedJSONEncoder(dramatiq.Encoder):
    def __init__(self, compression_level=6):
        self.compression_level = compression_level

    def encode(self, data):
        try:
            json_data = json.dumps(data).encode("utf-8")
            return gzip.compress(json_data, compresslevel=self.compression_level)
        except Exception as e:
            raise dramatiq.DecodeError(f"Failed to encode/compress: {e}", data, e) from e

    def decode(self, data):
        try:
            json_data = gzip.decompress(data).decode("utf-8")
            return json.loads(json_data)
        except Exception as e:
            raise dramatiq.DecodeError(f"Failed to decode/decompress: {e}", data, e) from e


def test_seed_compressed_json_encoder(stub_broker, stub_worker, result_recorder):
    dramatiq.set_encoder(CompressedJSONEncoder(compression_level=9))

    @dramatiq.actor
    def large_data_task(large_data):
        return {
            "processed_items": len(large_data),
            "sample": large_data[:10] if large_data else [],
            "compression_effective": True,
        }

    message = large_data_task.send(list(range(10000)))

    encoded = message.encode()
    assert encoded[:2] == b"\x1f\x8b"
    assert len(encoded) < len(json.dumps(message.asdict()))
    run_all(stub_broker, stub_worker)
    assert result_recorder.results[message.message_id] == {
        "processed_items": 10000,
        "sample": list(range(10)),
        "compression_effective": True,
    }


# -- snippet: message inspector ---------------------------------------------------------------


class MessageInspector:
    def inspect_message(self, message):
        print("=== Message Inspection ===")
        print(f"ID: {message.message_id}")
        print(f"Actor: {message.actor_name}")
        print(f"Queue: {message.queue_name}")
        print(f"Timestamp: {message.message_timestamp}")
        print(f"Args: {message.args}")
        print(f"Kwargs: {message.kwargs}")
        print("Options:")
        pprint.pprint(message.options, indent=2)
        encoded = message.encode()
        print(f"Encoded size: {len(encoded)} bytes")
        try:
            dramatiq.Message.decode(encoded)
            print("✓ Encoding/decoding successful")
        except Exception as e:
            print(f"✗ Encoding/decoding failed: {e}")

    def compare_messages(self, msg1, msg2):
        for field in ["message_id", "actor_name", "queue_name", "args", "kwargs", "options"]:
            if getattr(msg1, field) == getattr(msg2, field):
                print(f"✓ {field}: MATCH")
            else:
                print(f"✗ {field}: DIFFER")


def test_seed_message_inspector(stub_broker, capsys):
    @dramatiq.actor
    def debug_task(data, option=None):
        return f"Debug: {data} with {option}"

    inspector = MessageInspector()
    message = debug_task.message("test_data", option="debug_mode")
    inspector.inspect_message(message)
    modified = message.copy(queue_name="debug", options={"debug": True})
    inspector.compare_messages(message, modified)

    out = capsys.readouterr().out
    encoded_size = len(message.encode())
    assert out == (
        "=== Message Inspection ===\n"
        f"ID: {message.message_id}\n"
        "Actor: debug_task\n"
        "Queue: default\n"
        f"Timestamp: {message.message_timestamp}\n"
        "Args: ('test_data',)\n"
        "Kwargs: {'option': 'debug_mode'}\n"
        "Options:\n"
        "{}\n"
        f"Encoded size: {encoded_size} bytes\n"
        "✓ Encoding/decoding successful\n"
        "✓ message_id: MATCH\n"
        "✓ actor_name: MATCH\n"
        "✗ queue_name: DIFFER\n"
        "✓ args: MATCH\n"
        "✓ kwargs: MATCH\n"
        "✗ options: DIFFER\n"
    )
    assert encoded_size == len(
        json.dumps(message.asdict(), separators=(",", ":")).encode("utf-8")
    )
    assert debug_task("test_data", option="debug_mode") == "Debug: test_data with debug_mode"


def test_seed_message_inspector_reports_decode_failure(stub_broker, capsys):
    class OneWayEncoder(dramatiq.JSONEncoder):
        def decode(self, data):
            raise dramatiq.DecodeError("one way only", data, None)

    @dramatiq.actor
    def debug_task(data, option=None):
        pass

    dramatiq.set_encoder(OneWayEncoder())
    MessageInspector().inspect_message(debug_task.message("x"))
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("✗ Encoding/decoding failed: ")
