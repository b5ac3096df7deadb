"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/).

Run with upstream Dramatiq's interpreter, so that the messages are upstream's
own encoding (the corpus is committed; re-run only to change it):

    /path/to/upstream-venv/bin/python tests/fuzz/make_corpus.py
"""

import hashlib
import math
import os
import struct
import sys

import dramatiq
from dramatiq import Message

HERE = os.path.dirname(os.path.abspath(__file__))


def messages():
    """Real messages as upstream 2.2.1 writes them."""
    yield Message(queue_name="default", actor_name="add", args=(1, 2), kwargs={}, options={},
                  message_id="0b9d3b5e-6d33-4f55-a1b4-4a6f1a4f4f10", message_timestamp=1700000000000)
    yield Message(queue_name="default.DQ", actor_name="send_mail",
                  args=("user@example.com", "Hello \u00e9\u4e2d\U0001f600"),
                  kwargs={"retry": True, "cc": None},
                  options={"eta": 1700000060000, "retries": 2, "max_retries": 5,
                           "redis_message_id": "8b6e1bd3-8f5b-4f5e-ae8d-4c0a9b9e5c51",
                           "traceback": "Traceback (most recent call last):\n  ...\nValueError: x\n"},
                  message_id="6f5c1c8e-2b0a-4bd0-9d4e-3f0f0f6c2a11", message_timestamp=1700000000001)
    yield Message(queue_name="q", actor_name="hostile",
                  args=(10 ** 30, -(2 ** 64), 1e308, 5e-324, float("nan"), float("inf"), "\udc00"),
                  kwargs={"\ud800": [[[[{"deep": []}]]]], "k": "k"},
                  options={"pipe_target": {"queue_name": "q", "actor_name": "next", "args": [],
                                           "kwargs": {}, "options": {}, "message_id": "x",
                                           "message_timestamp": 1}},
                  message_id="1c3a4a8e-0000-4000-8000-000000000000", message_timestamp=1700000000002)


def encoded():
    return [m.encode() for m in messages()]


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def resp_bulk(data):
    return b"$%d\r\n%s\r\n" % (len(data), data)


def main():
    assert dramatiq.__version__ == "2.2.1", "run with upstream Dramatiq 2.2.1"
    bodies = encoded()
    # json_reader: messages, and values at the edges of the grammar.
    for i, body in enumerate(bodies):
        write("json_reader", "message%d.json" % i, body)
    edges = [b'[1,-0,0.5e-3,1E400,-1e-400,123456789012345678901234567890,NaN,-Infinity]',
             b'{"a":1,"a":2,"\\ud83d\\ude00":"\\u00e9","\\udc00":"\\ud800x"}',
             b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', b' [ {} , [ ] , "" , null , true , false ] ',
             b'[' * 999 + b']' * 999, b'{"k":"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"}', b'[1,]', b'"\xff"']
    for i, text in enumerate(edges):
        write("json_reader", "edge%d.json" % i, text)
    # message_decoder: byte 0 even = a delivery; odd = a value-building program.
    for i, body in enumerate(bodies):
        write("message_decoder", "delivery%d" % i, b"\x00" + body)
    write("message_decoder", "not_a_message", b"\x00" + b'{"queue_name":1,"args":{}}')
    write("message_decoder", "program0", bytes([1, 7, 2]) + struct.pack("<q", -5) + bytes([3]) +
          struct.pack("<d", math.nan) + bytes([4, 3]) + b"\xff\xfe\x80" + bytes([8, 0, 2, 1]) + b"k" +
          bytes([9, 5, 1, 20]) + b"12345678901234567890" + bytes([6, 11, 0, 10, 8]))
    # redis_reply: 16 bytes of chunk sizes, then what a fetch script answers.
    sizes = bytes([1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47])
    fetch = b"*6\r\n" + b"".join(resp_bulk(b"id-%d" % i) + resp_bulk(body) for i, body in enumerate(bodies))
    write("redis_reply", "fetch", sizes + fetch)
    write("redis_reply", "fetch_missing_data", sizes + b"*2\r\n" + resp_bulk(b"id-0") + b"$-1\r\n")
    write("redis_reply", "replies", sizes + b"+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n*0\r\n*-1\r\n"
          b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$0\r\n\r\n")
    # amqp_frames: mode byte (bit 0 consumer, bit 1 confirms), then server ops
    # (see server_frames in fuzz_amqp_frames.cpp).
    def deliver(tag, body):
        assert len(body) <= 255
        return bytes([8, tag - 1, len(body)]) + body
    short = bodies[0]
    write("amqp_frames", "consume", bytes([1]) + deliver(1, short) + deliver(2, b"not json") + bytes([7, 10]))
    write("amqp_frames", "confirm", bytes([2]) + bytes([0, 1, 0]) + bytes([0, 2, 1]) + bytes([3, 3]) + b"low" +
          bytes([4, 0, 2, 0]))
    write("amqp_frames", "returned", bytes([2]) + bytes([2, 2]) + b"no" + bytes([1, 0x38, 0x01]) +
          bytes([len(short)]) + short + bytes([1, 0, 2, 1, 5, 4]) + b"gone" + bytes([0x38, 0x01]))
    write("amqp_frames", "close", bytes([0]) + bytes([6, 5]) + b"bye!!" + bytes([0x40, 0x01]))
    # sqlite_rows: mode byte, then rows (see write_hostile_rows).
    body_row = bytes([0, 1, 5, 1, 5, 1, 3, 2]) + b"id" + bytes([0, 3]) + b"1,2"
    write("sqlite_rows", "message", bytes([0]) + body_row)
    write("sqlite_rows", "hostile", bytes([1]) + bytes([0, 3, 3]) + b"abc" + bytes([2]) + struct.pack("<d", 1e300) +
          bytes([5, 3, 1]) + b"x" + bytes([3]) + bytes([2, 1, 7, 0]) + struct.pack("<q", -(2 ** 63)) +
          bytes([3, 1]) + b"-" + bytes([4, 3]) + b"\x00\xff\x01" + bytes([3, 0]) +
          bytes([0]) + struct.pack("<q", -1) + bytes([0]) + struct.pack("<q", 0) + bytes([3, 1]) + b"b" +
          bytes([3, 1]) + b"n" + bytes([3, 1]) + b"h" + bytes([0]) + struct.pack("<q", -(2 ** 63)))
    # spool_files: how many whole records (and their bodies), then ops: 0 raw
    # bytes, 1 a framed payload, 2 a framed rows payload (see the target).
    row = struct.pack("<I", 1) + b"q" + struct.pack("<qq", 0, 0) + struct.pack("<I", 2) + b"id" + \
        struct.pack("<I", 2) + b"{}"
    rows_payload = struct.pack("<I", 1) + row
    write("spool_files", "rows", bytes([2, 2]) + b"{}" + bytes([2]) + b"[]" + bytes([2, len(rows_payload)]) +
          rows_payload)
    write("spool_files", "torn", bytes([1, 0, 0, 6]) + b"\x40\x00\x00\x00\x12\x34")
    write("spool_files", "seal", bytes([1, 0, 1, 1]) + b"\x02" + bytes([0, 3]) + b"abc")
    # schedules: 0 + a TZif file (the tz database's, public domain), 1 + a
    # POSIX TZ rule, 2 + a cron expression.
    with open("/usr/share/zoneinfo/Europe/Paris", "rb") as f:
        write("schedules", "tzif-europe-paris", bytes([0]) + f.read())
    write("schedules", "posix-sydney", bytes([1]) + b"AEST-10AEDT,M10.1.0,M4.1.0/3")
    write("schedules", "posix-julian", bytes([1]) + b"<+03>-3XDT,J60/0,300/25")
    write("schedules", "cron-seconds", bytes([2]) + b"*/10 5-50/5 9-17 * JAN,jul mon-FRI")
    write("schedules", "cron-leap-day", bytes([2]) + b"0 0 29 2 *")


if __name__ == "__main__":
    sys.exit(main())
