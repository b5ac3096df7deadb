"""The main job: a worker processing real tasks.

Defines a few actors, sends them work, runs a Worker (C++ engine threads)
until everything is processed, and prints what happened. Uses the default
broker (in-process until a networked or embedded broker is configured).

Run: python examples/main_job.py [number_of_tasks]
"""

import sys
import threading
import time

import dramatiq
from dramatiq.middleware import CurrentMessage

broker = dramatiq.get_broker()
broker.add_middleware(CurrentMessage())

lock = threading.Lock()
totals = {"sum": 0, "words": 0, "retried": 0}


@dramatiq.actor
def add(x, y):
    with lock:
        totals["sum"] += x + y


@dramatiq.actor(queue_name="text")
def count_words(text):
    with lock:
        totals["words"] += len(text.split())


@dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=50)
def flaky(n):
    # Asks for a retry on its first attempt, then succeeds: Retries at work.
    message = CurrentMessage.get_current_message()
    if message.options.get("retries", 0) == 0:
        with lock:
            totals["retried"] += 1
        raise dramatiq.Retry("transient failure %d" % n, delay=10)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    started = time.perf_counter()
    for i in range(n):
        add.send(i, 1)
    for i in range(100):
        count_words.send("the quick brown fox jumps")
    for i in range(10):
        flaky.send(i)
    sent = time.perf_counter()

    worker = dramatiq.Worker(broker, worker_threads=8, worker_timeout=100)
    worker.start()
    for queue_name in ("default", "text"):
        broker.join(queue_name, fail_fast=False)
    worker.join()
    worker.stop()
    done = time.perf_counter()

    expected_sum = sum(i + 1 for i in range(n))
    print(f"sent {n + 110} messages in {sent - started:.2f}s; processed in {done - sent:.2f}s")
    print(f"sum={totals['sum']} (expected {expected_sum}), words={totals['words']} (expected 500), "
          f"retried={totals['retried']} (expected 10)")
    ok = totals["sum"] == expected_sum and totals["words"] == 500 and totals["retried"] == 10
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
