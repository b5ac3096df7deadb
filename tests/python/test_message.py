"""dramatiq.Message: construction, encoding, copying and helpers."""

import json
import time
import uuid
from datetime import datetime, timezone

import pytest

import dramatiq
from dramatiq import DecodeError, Message
from dramatiq.composition import pipeline

FIELDS = (
    "queue_name",
    "actor_name",
    "args",
    "kwargs",
    "options",
    "message_id",
    "message_timestamp",
)


def make_message(**overrides):
    fields = dict(
        queue_name="default",
        actor_name="add",
        args=(1, 2),
        kwargs={"x": 3},
        options={"max_retries": 1},
        message_id="00000000-0000-0000-0000-000000000001",
        message_timestamp=1700000000123,
    )
    fields.update(overrides)
    return Message(**fields)


# -- construction -----------------------------------------------------------


def test_constructor_generates_message_id_and_timestamp():
    before = int(time.time() * 1000)
    message = Message(queue_name="default", actor_name="a", args=(), kwargs={}, options={})
    after = int(time.time() * 1000)

    assert isinstance(message.message_id, str)
    assert str(uuid.UUID(message.message_id)) == message.message_id
    assert isinstance(message.message_timestamp, int)
    assert before <= message.message_timestamp <= after


def test_generated_message_ids_are_unique():
    ids = {Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={}).message_id for _ in range(200)}
    assert len(ids) == 200


def test_constructor_keeps_explicit_id_and_timestamp():
    message = make_message()
    assert message.message_id == "00000000-0000-0000-0000-000000000001"
    assert message.message_timestamp == 1700000000123


def test_constructor_turns_args_list_into_tuple():
    message = make_message(args=[1, 2, 3])
    assert message.args == (1, 2, 3)
    assert type(message.args) is tuple


def test_constructor_accepts_positional_fields():
    message = Message("q", "a", (1,), {}, {}, "mid", 5)
    assert (message.queue_name, message.actor_name, message.message_id, message.message_timestamp) == (
        "q",
        "a",
        "mid",
        5,
    )


@pytest.mark.parametrize("field", FIELDS)
def test_fields_are_frozen(field):
    message = make_message()
    with pytest.raises(AttributeError):
        setattr(message, field, "changed")
    assert getattr(message, field) != "changed"


def test_options_dict_itself_is_mutable():
    message = make_message(options={})
    message.options["eta"] = 1
    assert message.options == {"eta": 1}


def test_messages_with_equal_fields_are_equal():
    assert make_message() == make_message()
    assert make_message() != make_message(message_id="other")


def test_fields_and_field_names():
    assert make_message()._fields == FIELDS


# -- encoding ---------------------------------------------------------------


def test_encode_decode_round_trip():
    message = make_message(kwargs={"nested": {"a": [1, 2, {"b": None}]}, "flag": True, "f": 1.5})
    decoded = Message.decode(message.encode())
    assert decoded == message
    assert decoded.asdict() == message.asdict()


def test_encode_exact_json_bytes():
    message = Message(
        queue_name="default",
        actor_name="greet",
        args=(1, "é", [2.5, None]),
        kwargs={"name": "Zoë", "flag": True},
        options={"max_retries": 3},
        message_id="abc",
        message_timestamp=1700000000000,
    )
    assert message.encode() == (
        b'{"queue_name":"default","actor_name":"greet","args":[1,"\\u00e9",[2.5,null]],'
        b'"kwargs":{"name":"Zo\\u00eb","flag":true},"options":{"max_retries":3},'
        b'"message_id":"abc","message_timestamp":1700000000000}'
    )


def test_encode_is_pure_ascii_json():
    message = make_message(args=("日本語", "\u2713"))
    data = message.encode()
    assert isinstance(data, bytes)
    data.decode("ascii")
    assert json.loads(data)["args"] == ["日本語", "\u2713"]


def test_encode_key_order():
    data = json.loads(make_message().encode())
    assert tuple(data) == FIELDS


def test_decode_turns_args_into_tuple():
    data = (
        b'{"queue_name":"q","actor_name":"a","args":[1,[2,3]],"kwargs":{},"options":{},'
        b'"message_id":"m","message_timestamp":1}'
    )
    message = Message.decode(data)
    assert message.args == (1, [2, 3])
    assert type(message.args) is tuple
    assert message.kwargs == {}
    assert message.message_id == "m"
    assert message.message_timestamp == 1


@pytest.mark.parametrize(
    "data",
    [
        b"garbage",
        b"\xff\xfe\x00",
        b"",
        b"[1, 2, 3]",
        b'{"queue_name": "q"}',
    ],
)
def test_decode_garbage_raises_decode_error(data):
    with pytest.raises(DecodeError):
        Message.decode(data)


def test_decode_error_is_a_dramatiq_error():
    with pytest.raises(dramatiq.DramatiqError):
        Message.decode(b"not json")


# -- copy / replace / asdict --------------------------------------------------


def test_copy_keeps_identity_fields_and_merges_options():
    message = make_message(options={"a": 1, "b": 2})
    copy = message.copy(queue_name="other", options={"b": 3, "c": 4})

    assert copy.queue_name == "other"
    assert copy.options == {"a": 1, "b": 3, "c": 4}
    assert copy.message_id == message.message_id
    assert copy.message_timestamp == message.message_timestamp
    assert copy.args == message.args
    assert copy.kwargs == message.kwargs
    # The original is untouched.
    assert message.queue_name == "default"
    assert message.options == {"a": 1, "b": 2}


def test_copy_without_arguments_copies_options_dict():
    message = make_message(options={"a": 1})
    copy = message.copy()
    assert copy == message
    assert copy.options is not message.options
    copy.options["b"] = 2
    assert message.options == {"a": 1}


def test_copy_replaces_args_and_kwargs():
    message = make_message()
    copy = message.copy(args=("goodbye",), kwargs={})
    assert copy.args == ("goodbye",)
    assert copy.kwargs == {}


def test_asdict_returns_all_fields_in_order():
    message = make_message()
    data = message.asdict()
    assert list(data) == list(FIELDS)
    assert data == {
        "queue_name": "default",
        "actor_name": "add",
        "args": (1, 2),
        "kwargs": {"x": 3},
        "options": {"max_retries": 1},
        "message_id": "00000000-0000-0000-0000-000000000001",
        "message_timestamp": 1700000000123,
    }


def test_asdict_shares_the_options_dict():
    message = make_message()
    assert message.asdict()["options"] is message.options


def test_underscore_asdict_is_asdict():
    message = make_message()
    assert message._asdict() == message.asdict()


def test_replace_replaces_whole_fields():
    message = make_message(options={"a": 1})
    replaced = message._replace(options={"b": 2}, actor_name="other")
    assert replaced.options == {"b": 2}
    assert replaced.actor_name == "other"
    assert replaced.message_id == message.message_id
    assert message.options == {"a": 1}


def test_message_can_be_rebuilt_from_asdict():
    message = make_message()
    assert Message(**message.asdict()) == message


# -- str / datetime ----------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((1, 2), {"x": 3}, "actor(1, 2, x=3)"),
        ((), {}, "actor()"),
        (("a",), {}, "actor('a')"),
        ((), {"k": "v", "n": None}, "actor(k='v', n=None)"),
        (([1, 2],), {"d": {"a": 1}}, "actor([1, 2], d={'a': 1})"),
    ],
)
def test_str(args, kwargs, expected):
    message = make_message(actor_name="actor", args=args, kwargs=kwargs)
    assert str(message) == expected


def test_message_datetime():
    message = make_message(message_timestamp=1700000000123)
    assert message.message_datetime == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert message.message_datetime.tzinfo is not None
    assert message.message_datetime.utcoffset().total_seconds() == 0


def test_message_datetime_of_fresh_message_is_now():
    message = Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={})
    delta = datetime.now(timezone.utc) - message.message_datetime
    assert delta.total_seconds() >= -1
    assert int(message.message_datetime.timestamp() * 1000) == message.message_timestamp


# -- composition / results ----------------------------------------------------


def test_or_gives_a_pipeline(stub_broker):
    first = make_message(message_id="m1")
    second = make_message(message_id="m2", args=(3,), kwargs={})
    pipe = first | second

    assert isinstance(pipe, pipeline)
    assert len(pipe) == 2
    assert [m.message_id for m in pipe.messages] == ["m1", "m2"]
    assert pipe.messages[0].options["pipe_target"] == pipe.messages[1].asdict()
    # The original messages are not modified.
    assert "pipe_target" not in first.options


def test_or_chains_into_longer_pipeline(stub_broker):
    pipe = make_message(message_id="m1") | make_message(message_id="m2") | make_message(message_id="m3")
    assert isinstance(pipe, pipeline)
    assert [m.message_id for m in pipe.messages] == ["m1", "m2", "m3"]
    assert "pipe_target" not in pipe.messages[-1].options


class FakeBackend:
    def __init__(self, value):
        self.value = value
        self.calls = []

    def get_result(self, message, *, block=False, timeout=None):
        self.calls.append((message, block, timeout))
        return self.value


def test_get_result_delegates_to_backend():
    backend = FakeBackend({"answer": 42})
    message = make_message()
    assert message.get_result(backend=backend) == {"answer": 42}
    assert backend.calls == [(message, False, None)]


def test_get_result_passes_block_and_timeout():
    backend = FakeBackend(7)
    message = make_message()
    assert message.get_result(backend=backend, block=True, timeout=250) == 7
    assert backend.calls == [(message, True, 250)]


def test_get_result_without_results_middleware_raises(stub_broker):
    with pytest.raises(RuntimeError):
        make_message().get_result()


def test_message_with_other_encoder_round_trips():
    dramatiq.set_encoder(dramatiq.PickleEncoder())
    message = make_message(args=({1, 2}, b"bytes"))
    decoded = Message.decode(message.encode())
    assert decoded.args == ({1, 2}, b"bytes")


# -- dramatiq-cpp superset ----------------------------------------------------


@pytest.mark.superset
def test_explicit_none_id_and_timestamp_are_generated():
    before = int(time.time() * 1000)
    message = Message(
        queue_name="default",
        actor_name="a",
        args=(),
        kwargs={},
        options={},
        message_id=None,
        message_timestamp=None,
    )
    after = int(time.time() * 1000)
    assert isinstance(message.message_id, str)
    assert str(uuid.UUID(message.message_id)) == message.message_id
    assert isinstance(message.message_timestamp, int)
    assert before <= message.message_timestamp <= after
    assert Message.decode(message.encode()) == message


def test_a_float_timestamp_is_taken_as_upstream_takes_it(stub_broker, stub_worker):
    # dramatiq-workflow builds messages with message_timestamp=time.time() * 1000.
    import time

    ran = []

    @dramatiq.actor
    def stamped():
        ran.append(True)

    message = dramatiq.Message(queue_name="default", actor_name="stamped", args=(), kwargs={}, options={},
                               message_timestamp=time.time() * 1000)
    stub_broker.enqueue(message)
    stub_broker.join("default")
    assert ran == [True]
    decoded = dramatiq.Message.decode(b'{"queue_name":"default","actor_name":"stamped","args":[],"kwargs":{},'
                                      b'"options":{},"message_id":"x","message_timestamp":1733097600123.75}')
    assert int(decoded.message_timestamp) == 1733097600123
