"""Differential checks of the JSON encoder and decoder.

- Decoding: for texts Python's ``json`` accepts, our ``JSONEncoder().decode``
  accepts them too and returns the same value; texts ``json`` refuses we
  refuse as well.  The texts are random JSON documents written every way
  ``json.dumps`` can write them, then mutated byte by byte.
- Encoding: for random JSON-compatible values, our bytes equal upstream
  Dramatiq 2.2.1's (run in its own interpreter), for bare values and for
  whole messages.

The generator is seeded (``SEED``), so a failure reproduces; the failing
value is printed.
"""

import json
import math
import os
import pickle
import random
import struct
import subprocess
import sys
import tempfile

import pytest

from dramatiq import JSONEncoder, Message

sys.path.insert(0, os.path.dirname(__file__))
from redis_support import check_upstream_python, subprocess_env, upstream_python  # noqa: E402

SEED = int(os.environ.get("DRAMATIQ_DIFFERENTIAL_SEED", "20261202"))
#: Values per run: enough to hit every branch of the generator many times.
COUNT = 3000


def random_float(rng):
    choice = rng.random()
    if choice < 0.3:
        # Any bit pattern: subnormals, -0.0, NaN, infinities, huge exponents.
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if choice < 0.6:
        return rng.uniform(-1e6, 1e6)
    return rng.choice([0.0, -0.0, 0.1, 1e16, 1e-5, 1e-4, 123456789.0, 1e22, 5e-324, 1.7976931348623157e308])


def random_int(rng):
    choice = rng.random()
    if choice < 0.4:
        return rng.randint(-1000, 1000)
    if choice < 0.7:
        edge = rng.choice([2 ** 31, 2 ** 53, 2 ** 63, 2 ** 64])
        return rng.choice([1, -1]) * edge + rng.randint(-2, 2)
    return rng.choice([1, -1]) * rng.getrandbits(rng.randint(1, 400))


def random_string(rng):
    pieces = []
    for _ in range(rng.randint(0, 12)):
        choice = rng.random()
        if choice < 0.4:
            pieces.append(chr(rng.randint(0x20, 0x7E)))
        elif choice < 0.55:
            pieces.append(chr(rng.randint(0, 0x1F)))
        elif choice < 0.7:
            pieces.append(chr(rng.randint(0x80, 0xFFFF)))  # includes lone surrogates
        elif choice < 0.8:
            pieces.append(chr(rng.randint(0xD800, 0xDFFF)))
        elif choice < 0.9:
            pieces.append(chr(rng.randint(0x10000, 0x10FFFF)))
        else:
            pieces.append(rng.choice(['"', "\\", "/", "\x7f", "\u2028", "\ufeff"]))
    return "".join(pieces)


def random_key(rng):
    # json.dumps turns int, float, bool and None keys into strings.
    choice = rng.random()
    if choice < 0.85:
        return random_string(rng)
    return rng.choice([random_int(rng), random_float(rng), True, False, None])


def random_value(rng, depth=0):
    choice = rng.random()
    if depth < 6 and choice < 0.25:
        items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
        return tuple(items) if rng.random() < 0.2 else items
    if depth < 6 and choice < 0.45:
        return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return random_scalar(rng)


def random_scalar(rng):
    choice = rng.random()
    if choice < 0.1:
        return None
    if choice < 0.2:
        return rng.random() < 0.5
    if choice < 0.45:
        return random_int(rng)
    if choice < 0.65:
        return random_float(rng)
    return random_string(rng)


def same(a, b):
    """Equality that treats NaN as equal to NaN and keeps int/float apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def dumps_any_way(rng, value):
    """json.dumps with the options a producer may use."""
    options = dict(
        ensure_ascii=rng.random() < 0.5,
        indent=rng.choice([None, None, 0, 2, "\t"]),
        separators=rng.choice([None, (",", ":"), (" , ", " : ")]),
    )
    if rng.random() < 0.2:
        try:
            return json.dumps(value, sort_keys=True, **options)
        except TypeError:  # keys of mixed types do not sort
            pass
    return json.dumps(value, **options)


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        position = rng.randrange(len(data))
        action = rng.random()
        if action < 0.4:
            data[position] = rng.choice(b'"\\{}[],:0123456789eE.+-ntfuNIa \x00\x80\xc3\xed\xff')
        elif action < 0.7:
            del data[position]
        else:
            data[position:position] = bytes([rng.randrange(256)])
    return bytes(data)


def python_loads(data):
    try:
        return True, json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False, None


def ours_decode(data):
    try:
        return True, JSONEncoder().decode(data)
    except Exception as e:  # DecodeError; anything else is reported below
        return False, e


def test_decoder_agrees_with_python_json():
    rng = random.Random(SEED)
    checked = accepted = 0
    for _ in range(COUNT):
        text = dumps_any_way(rng, random_value(rng)).encode("utf-8", "surrogatepass")
        for data in (text, mutate(rng, text), mutate(rng, text)):
            python_ok, expected = python_loads(data)
            ours_ok, got = ours_decode(data)
            checked += 1
            assert python_ok == ours_ok, "json.loads %s but ours %s %r: %r" % (
                "accepts" if python_ok else "refuses", "accepts" if ours_ok else "refuses", got, data)
            if python_ok:
                accepted += 1
                assert same(got, expected), "decoded differently: %r\nours: %r\njson: %r" % (data, got, expected)
    # The mutations must leave both accepted and refused inputs.
    assert accepted > checked // 3 and accepted < checked


UPSTREAM_ENCODE = r"""
import pickle, sys
from dramatiq import JSONEncoder, Message
with open(sys.argv[1], "rb") as f:
    values, messages = pickle.load(f)
encoder = JSONEncoder()
def attempt(encode):
    try:
        return encode()
    except Exception as e:
        return type(e).__name__
out = ([attempt(lambda: encoder.encode(v)) for v in values],
       [attempt(lambda: Message(**fields).encode()) for fields in messages])
with open(sys.argv[2], "wb") as f:
    pickle.dump(out, f)
"""


@pytest.fixture(scope="module")
def upstream():
    python = upstream_python()
    if python is None:
        pytest.skip("no upstream Dramatiq interpreter: run scripts/setup.sh or set DRAMATIQ_UPSTREAM_PYTHON")
    problem = check_upstream_python(python)
    if problem:
        pytest.fail("DRAMATIQ_UPSTREAM_PYTHON / .venv-upstream is not usable: " + problem)
    return python


def upstream_encodings(python, values, messages):
    with tempfile.TemporaryDirectory() as tmp:
        given, taken = os.path.join(tmp, "in.pickle"), os.path.join(tmp, "out.pickle")
        with open(given, "wb") as f:
            pickle.dump((values, messages), f)
        subprocess.run([python, "-c", UPSTREAM_ENCODE, given, taken], check=True, timeout=120,
                       env=subprocess_env(upstream=True), cwd=tmp)
        with open(taken, "rb") as f:
            return pickle.load(f)


def ours_encode(encode):
    try:
        return encode()
    except Exception as e:
        return type(e).__name__


def test_encoder_bytes_equal_upstreams(upstream):
    rng = random.Random(SEED + 1)
    values = [random_value(rng) for _ in range(COUNT)]
    messages = [
        dict(queue_name=rng.choice(["default", "q.DQ", random_string(rng)]),
             actor_name=random_string(rng) or "a",
             args=tuple(random_value(rng) for _ in range(rng.randint(0, 3))),
             kwargs={random_string(rng): random_value(rng) for _ in range(rng.randint(0, 3))},
             options={random_string(rng): random_value(rng) for _ in range(rng.randint(0, 3))},
             message_id=random_string(rng), message_timestamp=random_int(rng))
        for _ in range(COUNT // 3)
    ]
    expected_values, expected_messages = upstream_encodings(upstream, values, messages)
    encoder = JSONEncoder()
    for value, expected in zip(values, expected_values):
        assert ours_encode(lambda: encoder.encode(value)) == expected, "value %r" % (value,)
    for fields, expected in zip(messages, expected_messages):
        assert ours_encode(lambda: Message(**fields).encode()) == expected, "message %r" % (fields,)
