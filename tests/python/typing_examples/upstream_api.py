"""A typed program using Dramatiq's public API as users write it.

Checked with ``mypy --strict`` against our installed package and against
upstream Dramatiq 2.2.1 by tests/python/test_typing.py: the two reports
must agree line for line. It is only type-checked, never run. Some lines
are errors on purpose: a wrong argument type, a wrong result type, and
calls of what upstream leaves unannotated (``Results``, ``group``,
``pipeline``, ``RedisBroker``, the rate limiters), which ``--strict``
reports as ``no-untyped-call`` with upstream and must with ours.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Optional

import dramatiq
from dramatiq import Actor, Message, Worker, group, pipeline
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.encoder import JSONEncoder
from dramatiq.middleware import AgeLimit, Middleware, Retries, TimeLimit
from dramatiq.broker import Broker, MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import CurrentMessage
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.rate_limits.backends import StubBackend as StubRateLimiterBackend
from dramatiq.results import Results, ResultTimeout
from dramatiq.results.backends import StubBackend

broker = StubBroker()
broker.add_middleware(Results(backend=StubBackend()))
broker.add_middleware(AgeLimit(max_age=60_000))
broker.add_middleware(Retries(max_retries=3, min_backoff=100, retry_when=lambda n, e: n < 2))
broker.add_middleware(TimeLimit(time_limit=1_000))
dramatiq.set_broker(broker)
current: Broker = dramatiq.get_broker()


@dramatiq.actor
def add(x: int, y: int) -> int:
    return x + y


@dramatiq.actor(queue_name="text", max_retries=0, store_results=True)
def shout(text: str, *, times: int = 1) -> str:
    return text.upper() * times


@dramatiq.actor
async def fetch(url: str) -> bytes:
    await asyncio.sleep(0)
    return url.encode()


typed_actor: Actor[[int, int], int] = add
direct: int = add(1, 2)
sent: Message[int] = add.send(1, 2)
delayed = shout.send_with_options(args=("hi",), kwargs={"times": 2}, delay=1000)
later = shout.send_with_options(args=("hi",), delay=timedelta(seconds=1))
built: Message[str] = shout.message("x")
result: int = sent.get_result(block=True, timeout=1_000)
text_result: str = delayed.get_result(backend=StubBackend(), block=False)
fetched: Message[bytes] = fetch.send("http://example.com")
wrong_arg = add.send("one", 2)
wrong_result: str = sent.get_result()

try:
    sent.get_result(block=True, timeout=10)
except ResultTimeout as error:
    print(error)

g = group([add.message(1, 2), add.message(3, 4)])
g.run()
g.wait(timeout=1_000)
for value in g.get_results(block=True, timeout=1_000):
    print(value)

p = pipeline([add.message(1, 2), add.message_with_options(args=(3,), pipe_ignore=True)])
p.run()
print(p.get_result(block=True))
piped = add.message(1, 2) | add.message(3)


class Counting(Middleware):
    def __init__(self) -> None:
        self.count = 0

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self.count += 1

    def after_process_message(self, broker: Broker, message: MessageProxy, *,
                              result: Optional[Any] = None,
                              exception: Optional[BaseException] = None) -> None:
        print(message.message_id, result, exception)


broker.add_middleware(Counting())
broker.add_middleware(CurrentMessage())
message_now: Optional[Message[Any]] = CurrentMessage.get_current_message()
dead: list[MessageProxy] = broker.dead_letters
backoff: tuple[int, int] = compute_backoff(3, factor=100)

# Wrong on purpose: the annotations' types, not only their presence, must agree.
not_a_message: int = CurrentMessage.get_current_message()
not_a_proxy: int = broker.dead_letters[0]
not_a_backoff: str = compute_backoff(1)
not_a_worker = Worker("not a broker")

redis_broker = RedisBroker(url="redis://127.0.0.1:6379/0")
rabbit_broker = RabbitmqBroker(url="amqp://127.0.0.1:5672", confirm_delivery=True)
rabbit_broker.declare_queue("default")

limiter_backend = StubRateLimiterBackend()
mutex = ConcurrentRateLimiter(limiter_backend, "mutex", limit=1)
window = WindowRateLimiter(limiter_backend, "window", limit=10, window=60)
with mutex.acquire(raise_on_failure=False) as acquired:
    print(acquired)

dramatiq.set_encoder(JSONEncoder())
encoded: bytes = sent.encode()
decoded: Message[Any] = Message.decode(encoded)
copy: Message[Any] = sent.copy(queue_name="other")

worker = Worker(broker, worker_threads=2, worker_timeout=100)
worker.start()
broker.join(add.queue_name, timeout=1_000)
worker.join()
worker.stop(timeout=1_000)
broker.close()
