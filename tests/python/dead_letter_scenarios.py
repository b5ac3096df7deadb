"""The scenario of ``Broker.get_dead_letters``, ``requeue_dead_letters`` and
``delete_dead_letters``, run against every broker that keeps dead letters:
one broker object consumes and nacks, another lists, requeues and deletes
(as a dashboard in another process would)."""

import time

import dramatiq

WAIT_S = 10


def wait_for(read, expected):
    """``read()`` until it returns ``expected`` (a broker may settle in the
    background) or the bound passes; returns the last value read."""
    deadline = time.monotonic() + WAIT_S
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def dead_letters_listed_requeued_and_deleted(broker, keeper):
    @dramatiq.actor(broker=broker, queue_name="kept")
    def kept(n):
        pass

    sent = {kept.send(n).message_id: n for n in range(3)}
    consumer = broker.consume("kept", prefetch=3, timeout=WAIT_S * 1000)
    try:
        for _ in range(3):
            message = next(consumer)
            assert message is not None
            consumer.nack(message)

        def dead_ids():
            return {letter.message_id for letter in keeper.get_dead_letters("kept")}

        assert wait_for(dead_ids, set(sent)) == set(sent)
        letters = keeper.get_dead_letters("kept")
        assert {letter.message_id: letter.message.args[0] for letter in letters} == sent
        assert all(letter.message.actor_name == "kept" for letter in letters)
        known_times = [letter.dead_at for letter in letters if letter.dead_at is not None]
        assert known_times == sorted(known_times)  # oldest first
        assert len(keeper.get_dead_letters("kept", limit=2)) == 2
        assert keeper.get_queue_counts("kept")["dead"] == 3

        first, second, third = letters
        # One by id: it is delivered again.
        assert keeper.requeue_dead_letters("kept", [first.id]) == 1
        again = next(consumer)
        assert again is not None and again.message_id == first.message_id
        consumer.ack(again)
        # Ids that name none of them are passed over.
        assert keeper.requeue_dead_letters("kept", [first.id, "no-such-letter"]) == 0
        assert keeper.delete_dead_letters("kept", [second.id, "no-such-letter"]) == 1
        assert wait_for(dead_ids, {third.message_id}) == {third.message_id}
        # All of them.
        assert keeper.requeue_dead_letters("kept") == 1
        again = next(consumer)
        assert again is not None and again.message_id == third.message_id
        consumer.nack(again)
        assert wait_for(dead_ids, {third.message_id}) == {third.message_id}
        assert keeper.delete_dead_letters("kept") == 1
        assert keeper.get_dead_letters("kept") == []
        assert wait_for(lambda: keeper.get_queue_counts("kept")["dead"], 0) == 0
    finally:
        consumer.close()
        broker.flush_all()  # a server shared with the next test starts empty
