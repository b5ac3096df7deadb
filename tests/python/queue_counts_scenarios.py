"""The scenario of ``Broker.get_queue_counts``, run against every broker:
one broker object sends and consumes, another counts (as a dashboard in
another process would)."""

import time

import dramatiq


def counts_by_state(broker, counter, *, sees_in_flight=True):
    """Four messages sent now and two delayed by a minute; a consumer nacks
    the first (dead-lettered) and holds the second: 2 ready, 1 in flight
    (``None`` where the broker cannot see it), 2 delayed, 1 dead."""

    @dramatiq.actor(broker=broker, queue_name="counted")
    def counted():
        pass

    for _ in range(4):
        counted.send()
    for _ in range(2):
        counted.send_with_options(delay=60_000)
    consumer = broker.consume("counted", prefetch=1, timeout=10_000)
    try:
        first = next(consumer)
        assert first is not None
        consumer.nack(first)
        second = next(consumer)  # a window of one: nothing more is delivered
        assert second is not None
        expected = {"ready": 2, "delayed": 2, "in_flight": 1 if sees_in_flight else None, "dead": 1}
        # A broker may settle in the background: the nack lands within the bound.
        deadline = time.monotonic() + 10
        while (counts := counter.get_queue_counts("counted")) != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counts == expected
        consumer.ack(second)
    finally:
        consumer.close()
        broker.flush_all()  # a server shared with the next test starts empty
