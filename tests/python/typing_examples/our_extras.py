"""A typed program using what only our package has (the embedded SQLite
broker and backends, ``from_url``, ``enqueue_all``, the extension module's
stubs). Checked with ``mypy --strict`` against ours only by
tests/python/test_typing.py, which expects exactly the errors the lines
marked ``# expect: <code>`` name (so the check is known to see types)."""

from __future__ import annotations

import dramatiq
from dramatiq import _engine
from dramatiq.brokers import from_url
from dramatiq.brokers.sqlite import DeadLetter, SQLiteBroker
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import SQLiteBackend as SQLiteRateLimiterBackend
from dramatiq.results import Results
from dramatiq.results.backends import SQLiteBackend

broker = SQLiteBroker(path="/tmp/example.db")
broker.add_middleware(Results(backend=SQLiteBackend(path="/tmp/example.db")))  # expect: no-untyped-call
dramatiq.set_broker(broker)
named = from_url("sqlite:///tmp/example.db")


@dramatiq.actor
def count(text: str) -> int:
    return len(text)


messages = broker.enqueue_all([count.message("a"), count.message("bc")])
first_id: str = messages[0].message_id
counts: tuple[int, int, int] = broker.get_queue_message_counts("default")
dead: list[DeadLetter] = broker.get_dead_letters("default", limit=10)
requeued: int = broker.requeue_dead_letters("default")
limiter = ConcurrentRateLimiter(SQLiteRateLimiterBackend(path="/tmp/example.db"), "key")  # expect: no-untyped-call (ConcurrentRateLimiter, as upstream)
message_id: str = _engine.generate_message_id()
not_an_int: int = _engine.generate_message_id()  # expect: assignment
