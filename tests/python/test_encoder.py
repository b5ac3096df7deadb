"""Encoders: JSON (default), pickle, user-defined ones, and the global
encoder switch."""

import datetime
import json
import pickle

import msgpack
import pytest

import dramatiq
from dramatiq import DecodeError, Encoder, JSONEncoder, Message, PickleEncoder


class MessagePackEncoder(Encoder):
    """A user-defined encoder (msgpack), as users would write it."""

    def encode(self, data):
        return msgpack.packb(data, use_bin_type=True)

    def decode(self, data):
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as e:
            raise DecodeError("Failed to decode with MessagePack", data, e) from e


class Unserializable:
    pass


SAMPLE = {
    "queue_name": "default",
    "actor_name": "a",
    "args": [1, "two", 3.5, None, True, [1, 2], {"k": "v"}],
    "kwargs": {"x": "é"},
    "options": {},
    "message_id": "id",
    "message_timestamp": 1,
}


# -- the global encoder ----------------------------------------------------------


def test_default_encoder_is_json():
    assert isinstance(dramatiq.get_encoder(), JSONEncoder)
    assert type(dramatiq.get_encoder()).__name__ == "JSONEncoder"


def test_set_encoder_changes_get_encoder():
    encoder = PickleEncoder()
    dramatiq.set_encoder(encoder)
    assert dramatiq.get_encoder() is encoder


def test_set_encoder_is_reexported_from_message_module():
    from dramatiq.message import get_encoder, set_encoder

    encoder = MessagePackEncoder()
    set_encoder(encoder)
    assert get_encoder() is encoder
    assert dramatiq.get_encoder() is encoder


def test_encoder_is_abstract():
    with pytest.raises(TypeError):
        Encoder()

    class Incomplete(Encoder):
        def encode(self, data):
            return b""

    with pytest.raises(TypeError):
        Incomplete()


def test_builtin_encoders_are_encoders():
    assert isinstance(JSONEncoder(), Encoder)
    assert isinstance(PickleEncoder(), Encoder)
    assert isinstance(MessagePackEncoder(), Encoder)


# -- JSONEncoder ----------------------------------------------------------------


def test_json_encoder_round_trip():
    encoder = JSONEncoder()
    data = encoder.encode(SAMPLE)
    assert isinstance(data, bytes)
    assert encoder.decode(data) == SAMPLE


def test_json_encoder_is_compact_and_ascii():
    data = JSONEncoder().encode({"a": [1, 2], "b": "ü"})
    assert data == b'{"a":[1,2],"b":"\\u00fc"}'


@pytest.mark.parametrize("value, expected", [(None, b"null"), (True, b"true"), (0, b"0"), ("", b'""')])
def test_json_encoder_encodes_bare_values_as_json_dumps(value, expected):
    # None was refused with a TypeError (found by the differential test).
    assert JSONEncoder().encode(value) == expected == json.dumps(value).encode()
    assert JSONEncoder().decode(expected) == value


def test_json_encoder_turns_tuples_into_lists():
    encoder = JSONEncoder()
    assert encoder.decode(encoder.encode({"t": (1, (2, 3))})) == {"t": [1, [2, 3]]}


def test_json_encoder_decode_invalid_utf8():
    with pytest.raises(DecodeError) as excinfo:
        JSONEncoder().decode(b"\xff\xfe")
    assert excinfo.value.data == b"\xff\xfe"
    assert isinstance(excinfo.value.error, UnicodeDecodeError)


def test_json_encoder_decode_invalid_json():
    with pytest.raises(DecodeError) as excinfo:
        JSONEncoder().decode(b"{nope")
    assert isinstance(excinfo.value.error, ValueError)
    assert "{nope" in str(excinfo.value)


def test_json_encoder_encode_rejects_unserializable():
    with pytest.raises(TypeError):
        JSONEncoder().encode({"x": Unserializable()})


def test_message_encode_uses_global_encoder():
    message = Message(**{**SAMPLE, "args": tuple(SAMPLE["args"])})
    dramatiq.set_encoder(PickleEncoder())
    data = message.encode()
    assert pickle.loads(data)["message_id"] == "id"
    assert Message.decode(data) == message


# -- PickleEncoder ----------------------------------------------------------------


def test_pickle_encoder_round_trips_python_objects():
    encoder = PickleEncoder()
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    data = {"when": when, "set": {1, 2}, "bytes": b"\x00\x01", "tuple": (1, 2)}
    decoded = encoder.decode(encoder.encode(data))
    assert decoded == data
    assert isinstance(decoded["tuple"], tuple)


def test_pickle_encoder_round_trips_messages():
    dramatiq.set_encoder(PickleEncoder())
    message = Message(
        queue_name="q",
        actor_name="a",
        args=(datetime.date(2020, 1, 1),),
        kwargs={"s": frozenset({1})},
        options={},
    )
    assert Message.decode(message.encode()) == message


# -- a user-defined encoder ----------------------------------------------------------


def test_msgpack_encoder_round_trip():
    encoder = MessagePackEncoder()
    data = encoder.encode({"binary": b"\x00\x01", "n": [1, 2]})
    assert encoder.decode(data) == {"binary": b"\x00\x01", "n": [1, 2]}


def test_msgpack_encoder_used_for_messages(stub_broker, peek_queue):
    dramatiq.set_encoder(MessagePackEncoder())

    @dramatiq.actor
    def consume(data):
        pass

    message = consume.send({"binary": b"\x00\x01\x02", "numbers": [1, 2, 3]})
    assert msgpack.unpackb(message.encode(), raw=False)["message_id"] == message.message_id
    (decoded,) = peek_queue("default")
    assert decoded.args == ({"binary": b"\x00\x01\x02", "numbers": [1, 2, 3]},)
    assert decoded.message_id == message.message_id


def test_user_encoder_messages_are_processed(stub_broker, stub_worker, result_recorder):
    dramatiq.set_encoder(MessagePackEncoder())
    seen = []

    @dramatiq.actor
    def consume(data):
        seen.append(data)

    consume.send({"binary": b"\xff", "text": "hi"})
    stub_broker.join("default")
    stub_worker.join()
    assert seen == [{"binary": b"\xff", "text": "hi"}]


def test_message_decode_wraps_user_encoder_errors():
    dramatiq.set_encoder(MessagePackEncoder())
    with pytest.raises(DecodeError):
        Message.decode(b"\xc1")


# -- unserializable arguments -------------------------------------------------------


def test_sending_unserializable_argument_raises_type_error(stub_broker):
    @dramatiq.actor
    def consume(x):
        pass

    before = stub_broker.queues["default"].qsize()
    with pytest.raises(TypeError) as excinfo:
        consume.send(Unserializable())
    assert "Unserializable" in str(excinfo.value)
    assert stub_broker.queues["default"].qsize() == before
    assert stub_broker.queues["default.DQ"].qsize() == 0


def test_unserializable_kwarg_names_the_type(stub_broker):
    @dramatiq.actor
    def consume(**kwargs):
        pass

    with pytest.raises(TypeError) as excinfo:
        consume.send(when=datetime.datetime(2020, 1, 1))
    assert "datetime" in str(excinfo.value)
    assert stub_broker.queues["default"].qsize() == 0


def test_unserializable_argument_with_delay_enqueues_nothing(stub_broker):
    @dramatiq.actor
    def consume(x):
        pass

    with pytest.raises(TypeError):
        consume.send_with_options(args=({1, 2},), delay=100)
    assert stub_broker.queues["default"].qsize() == 0
    assert stub_broker.queues["default.DQ"].qsize() == 0


def test_pickle_encoder_accepts_what_json_rejects(stub_broker, peek_queue):
    @dramatiq.actor
    def consume(x):
        pass

    dramatiq.set_encoder(PickleEncoder())
    consume.send({1, 2, 3})
    assert [m.args for m in peek_queue("default")] == [({1, 2, 3},)]


def test_json_encoder_output_is_valid_json_for_messages(stub_broker):
    @dramatiq.actor
    def consume(x):
        pass

    message = consume.send({"a": 1})
    assert json.loads(message.encode()) == {
        "queue_name": "default",
        "actor_name": "consume",
        "args": [{"a": 1}],
        "kwargs": {},
        "options": {},
        "message_id": message.message_id,
        "message_timestamp": message.message_timestamp,
    }
