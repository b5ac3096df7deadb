"""Brokers: middleware management, declarations, and the StubBroker's
testing helpers (join, flush, dead letters)."""

import gc
import logging
import weakref

import pytest

import dramatiq
from dramatiq import ActorNotFound, Middleware, QueueJoinTimeout, QueueNotFound
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

DEFAULT_MIDDLEWARE = [AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Retries]


class Marker(Middleware):
    def __init__(self, name="marker"):
        self.name = name
        self.declared = []

    @property
    def actor_options(self):
        return {"marker_option"}

    def after_declare_actor(self, broker, actor):
        self.declared.append(("actor", actor.actor_name))

    def after_declare_queue(self, broker, queue_name):
        self.declared.append(("queue", queue_name))

    def after_declare_delay_queue(self, broker, queue_name):
        self.declared.append(("delay_queue", queue_name))


# -- middleware -----------------------------------------------------------------


def test_default_middleware(stub_broker):
    assert [type(m) for m in stub_broker.middleware] == DEFAULT_MIDDLEWARE


def test_default_middleware_list_is_exported():
    from dramatiq.middleware import default_middleware

    assert list(default_middleware) == DEFAULT_MIDDLEWARE


def test_explicit_middleware_list_replaces_defaults():
    marker = Marker()
    broker = StubBroker(middleware=[marker])
    assert broker.middleware == [marker]
    assert broker.actor_options == {"marker_option"}


def test_empty_middleware_list():
    broker = StubBroker(middleware=[])
    assert broker.middleware == []
    assert broker.actor_options == set()


def test_add_middleware_appends(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker)
    assert stub_broker.middleware[-1] is marker
    assert "marker_option" in stub_broker.actor_options


def test_add_middleware_before(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker, before=Retries)
    types = [type(m) for m in stub_broker.middleware]
    assert types == [AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Marker, Retries]


def test_add_middleware_after(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker, after=AgeLimit)
    types = [type(m) for m in stub_broker.middleware]
    assert types == [AgeLimit, Marker, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Retries]


def test_add_middleware_before_first(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker, before=AgeLimit)
    assert stub_broker.middleware[0] is marker


def test_add_middleware_after_last(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker, after=Retries)
    assert stub_broker.middleware[-1] is marker


def test_add_middleware_relative_to_missing_middleware(stub_broker):
    with pytest.raises(ValueError):
        stub_broker.add_middleware(Marker(), before=CurrentMessage)
    with pytest.raises(ValueError):
        stub_broker.add_middleware(Marker(), after=CurrentMessage)
    assert [type(m) for m in stub_broker.middleware] == DEFAULT_MIDDLEWARE


def test_add_middleware_with_before_and_after_is_rejected(stub_broker):
    with pytest.raises(AssertionError):
        stub_broker.add_middleware(Marker(), before=Retries, after=AgeLimit)


def test_add_duplicate_middleware_warns(stub_broker, caplog):
    caplog.set_level(logging.WARNING)
    stub_broker.add_middleware(Retries())
    assert [type(m) for m in stub_broker.middleware].count(Retries) == 2
    assert any(
        record.levelno == logging.WARNING and "same type twice" in record.getMessage() for record in caplog.records
    )


def test_add_middleware_replays_declarations(stub_broker):
    @dramatiq.actor(queue_name="q1")
    def a():
        pass

    @dramatiq.actor
    def b():
        pass

    marker = Marker()
    stub_broker.add_middleware(marker)
    declared = marker.declared
    assert sorted(x for x in declared if x[0] == "actor") == [("actor", "a"), ("actor", "b")]
    # Actors are replayed first, then queues, then delay queues.
    kinds = [kind for kind, _ in declared]
    assert kinds == sorted(kinds, key=["actor", "queue", "delay_queue"].index)
    assert sorted(name for kind, name in declared if kind == "delay_queue") == ["default.DQ", "q1.DQ"]
    queue_names = {name for kind, name in declared if kind == "queue"}
    assert queue_names == stub_broker.get_declared_queues()


def test_actor_options_from_added_middleware_can_be_used(stub_broker):
    stub_broker.add_middleware(Marker())

    @dramatiq.actor(marker_option=True)
    def fn():
        pass

    assert fn.options == {"marker_option": True}


# -- actors and queues ------------------------------------------------------------


def test_get_actor(stub_broker):
    @dramatiq.actor
    def known():
        pass

    assert stub_broker.get_actor("known") is known
    assert stub_broker.actors == {"known": known}


def test_get_unknown_actor_raises(stub_broker):
    with pytest.raises(ActorNotFound) as excinfo:
        stub_broker.get_actor("missing")
    assert str(excinfo.value) == "missing"


def test_declare_queue_declares_delay_queue(stub_broker):
    stub_broker.declare_queue("jobs")
    assert {"jobs", "jobs.DQ"} <= stub_broker.get_declared_queues()
    assert stub_broker.get_declared_delay_queues() == {"jobs.DQ"}


def test_declare_queue_is_idempotent(stub_broker):
    marker = Marker()
    stub_broker.add_middleware(marker)
    stub_broker.declare_queue("jobs")
    stub_broker.declare_queue("jobs")
    assert marker.declared == [("queue", "jobs"), ("delay_queue", "jobs.DQ")]
    assert stub_broker.get_declared_delay_queues() == {"jobs.DQ"}


def test_declared_queues_of_actors(stub_broker):
    @dramatiq.actor(queue_name="a")
    def fa():
        pass

    @dramatiq.actor(queue_name="b")
    def fb():
        pass

    @dramatiq.actor(queue_name="b")
    def fb2():
        pass

    # The stub broker's delay queues are queues of their own too.
    assert stub_broker.get_declared_queues() == {"a", "a.DQ", "b", "b.DQ"}
    assert stub_broker.get_declared_delay_queues() == {"a.DQ", "b.DQ"}
    assert stub_broker.get_declared_actors() == {"fa", "fb", "fb2"}


def test_get_declared_delay_queues_returns_a_copy(stub_broker):
    stub_broker.declare_queue("jobs")
    stub_broker.get_declared_delay_queues().add("bogus")
    assert stub_broker.get_declared_delay_queues() == {"jobs.DQ"}


def test_fresh_broker_has_no_queues():
    broker = StubBroker()
    assert broker.get_declared_queues() == set()
    assert broker.get_declared_delay_queues() == set()
    assert broker.get_declared_actors() == set()
    assert broker.dead_letters == []


# -- the global broker ------------------------------------------------------------


def test_set_and_get_broker():
    broker = StubBroker()
    dramatiq.set_broker(broker)
    assert dramatiq.get_broker() is broker

    other = StubBroker()
    dramatiq.set_broker(other)
    assert dramatiq.get_broker() is other


def test_actors_use_global_broker_at_declaration(stub_broker):
    @dramatiq.actor
    def first():
        pass

    other = StubBroker()
    dramatiq.set_broker(other)

    @dramatiq.actor
    def second():
        pass

    assert first.broker is stub_broker
    assert second.broker is other
    assert "second" not in stub_broker.actors


def test_get_results_backend_without_results_raises(stub_broker):
    with pytest.raises(RuntimeError):
        stub_broker.get_results_backend()


# -- StubBroker: join, flush, dead letters -------------------------------------------


def test_join_returns_when_queue_is_processed(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def record(i):
        seen.append(i)

    for i in range(20):
        record.send(i)
    stub_broker.join("default")
    assert sorted(seen) == list(range(20))


def test_join_empty_queue_returns_immediately(stub_broker):
    stub_broker.declare_queue("empty")
    stub_broker.join("empty", timeout=1000)


def test_join_times_out(stub_broker):
    @dramatiq.actor
    def never_processed():
        pass

    never_processed.send()
    with pytest.raises(QueueJoinTimeout):
        stub_broker.join("default", timeout=100)


def test_join_unknown_queue(stub_broker):
    with pytest.raises(QueueNotFound):
        stub_broker.join("undeclared")


def test_consume_unknown_queue(stub_broker):
    with pytest.raises(QueueNotFound):
        stub_broker.consume("undeclared")


def test_join_fail_fast_raises_actor_exception(stub_broker, stub_worker):
    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("exploded")

    explode.send()
    with pytest.raises(ValueError) as excinfo:
        stub_broker.join("default")
    assert str(excinfo.value) == "exploded"


def test_join_fail_fast_true_explicitly(stub_broker, stub_worker):
    class CustomError(Exception):
        pass

    @dramatiq.actor(max_retries=0)
    def explode():
        raise CustomError("custom")

    explode.send()
    with pytest.raises(CustomError):
        stub_broker.join("default", fail_fast=True)


def test_join_fail_fast_false_does_not_raise(stub_broker, stub_worker):
    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("exploded")

    message = explode.send()
    stub_broker.join("default", fail_fast=False)
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]


class _Tracked(Exception):
    """An exception whose instances the test can watch die."""

    alive = []

    def __init__(self, *args):
        super().__init__(*args)
        _Tracked.alive.append(weakref.ref(self))


def _tracked_still_alive():
    return [ref for ref in _Tracked.alive if ref() is not None]


@pytest.fixture
def tracked_exceptions():
    _Tracked.alive = []
    gc.collect()
    # Without the cycle collector, an exception still alive after its
    # message is done is held by something, not merely waiting for a sweep.
    gc.disable()
    yield
    gc.enable()


def test_work_goes_on_after_a_consumer_thread_dead_letters_a_message(stub_broker, stub_worker):
    # The consumer thread itself dead-letters a message for an unknown actor
    # (asking Python whether the dead letter keeps an exception).
    stub_broker.declare_queue("default")
    stub_broker.enqueue(dramatiq.Message(queue_name="default", actor_name="nobody", args=(), kwargs={}, options={}))
    with pytest.raises(ActorNotFound):
        stub_broker.join("default", fail_fast=True)
    ran = []

    @dramatiq.actor
    def after():
        ran.append(True)

    after.send()
    stub_broker.join("default", timeout=30000, fail_fast=False)
    assert ran == [True]


def test_dead_letters_keep_the_exception_by_default(stub_broker, make_worker, tracked_exceptions, caplog):
    caplog.set_level(logging.CRITICAL, logger="dramatiq")  # no log record holds it

    @dramatiq.actor(max_retries=0)
    def explode():
        raise _Tracked("kept")

    worker = make_worker(worker_threads=1)
    explode.send()
    stub_broker.join(explode.queue_name, fail_fast=False)
    make_worker.stop(worker)

    (kept,) = _tracked_still_alive()
    with pytest.raises(_Tracked) as raised:
        stub_broker.join(explode.queue_name, fail_fast=True)
    assert raised.value is kept()


def test_stub_proxies_that_clear_exceptions_let_dead_letters_go_of_them(
    stub_broker, make_worker, tracked_exceptions, monkeypatch, caplog
):
    # The stub's proxy class keeps exceptions; giving it the regular
    # clear_exception makes dead letters keep none.
    from dramatiq.brokers.stub import _StubMessageProxy

    monkeypatch.setattr(_StubMessageProxy, "clear_exception", dramatiq.MessageProxy.clear_exception)
    caplog.set_level(logging.CRITICAL, logger="dramatiq")  # no log record holds one either

    @dramatiq.actor(max_retries=1, min_backoff=1, max_backoff=1)
    def explode():
        raise _Tracked("let go")

    worker = make_worker(worker_threads=1)
    message = explode.send()
    stub_broker.join(explode.queue_name, fail_fast=False)
    make_worker.stop(worker)

    assert len(_Tracked.alive) == 2  # the first run and its retry
    assert _tracked_still_alive() == []
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]
    with pytest.raises(Exception, match="Message failed with unknown error"):
        stub_broker.join(explode.queue_name, fail_fast=True)


def test_fail_fast_default_false():
    broker = StubBroker(fail_fast_default=False)
    dramatiq.set_broker(broker)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:

        @dramatiq.actor(max_retries=0)
        def explode():
            raise ValueError("exploded")

        explode.send()
        broker.join("default")
        assert len(broker.dead_letters) == 1
        with pytest.raises(ValueError):
            broker.join("default", fail_fast=True)
    finally:
        worker.stop()


def test_dead_letters_persist_until_flushed(stub_broker, stub_worker):
    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("exploded")

    @dramatiq.actor
    def fine():
        pass

    explode.send()
    stub_broker.join("default", fail_fast=False)
    fine.send()
    # The earlier dead letter still makes fail-fast joins raise.
    with pytest.raises(ValueError):
        stub_broker.join("default")
    stub_broker.flush_all()
    assert stub_broker.dead_letters == []
    fine.send()
    stub_broker.join("default")


def test_dead_letters_by_queue(stub_broker, stub_worker):
    @dramatiq.actor(queue_name="qa", max_retries=0)
    def fail_a():
        raise ValueError("a")

    @dramatiq.actor(queue_name="qb", max_retries=0)
    def fail_b():
        raise ValueError("b")

    ma = fail_a.send()
    mb1 = fail_b.send()
    mb2 = fail_b.send()
    stub_broker.join("qa", fail_fast=False)
    stub_broker.join("qb", fail_fast=False)
    stub_worker.join()

    assert [m.message_id for m in stub_broker.dead_letters_by_queue["qa"]] == [ma.message_id]
    assert sorted(m.message_id for m in stub_broker.dead_letters_by_queue["qb"]) == sorted(
        [mb1.message_id, mb2.message_id]
    )
    assert sorted(m.message_id for m in stub_broker.dead_letters) == sorted(
        [ma.message_id, mb1.message_id, mb2.message_id]
    )
    dead = stub_broker.dead_letters_by_queue["qa"][0]
    assert dead.actor_name == "fail_a"
    assert dead.queue_name == "qa"
    assert isinstance(dead, dramatiq.MessageProxy)


def test_what_is_appended_to_a_queues_dead_letters_stays_until_cleared(stub_broker, stub_worker):
    # Upstream's tests put their own items on dead_letters_by_queue[q]; the
    # list is the broker's, not a copy.
    @dramatiq.actor(queue_name="qa", max_retries=0)
    def fail_a():
        raise ValueError("a")

    failed = fail_a.send()
    stub_broker.join("qa", fail_fast=False)
    stub_worker.join()

    stub_broker.dead_letters_by_queue["qa"].append("added to qa")
    stub_broker.dead_letters_by_queue["qz"].append("added to qz")
    letters = stub_broker.dead_letters_by_queue
    assert [getattr(m, "message_id", m) for m in letters["qa"]] == [failed.message_id, "added to qa"]
    assert letters["qz"] == ["added to qz"]
    assert len(stub_broker.dead_letters) == 3

    stub_broker.dead_letters_by_queue["qa"].clear()
    assert stub_broker.dead_letters == ["added to qz"]
    stub_broker.flush_all()
    assert stub_broker.dead_letters == []
    assert dict(stub_broker.dead_letters_by_queue) == {}


def test_flush_drops_messages(stub_broker):
    @dramatiq.actor(queue_name="a")
    def fa():
        pass

    @dramatiq.actor(queue_name="b")
    def fb():
        pass

    for _ in range(3):
        fa.send()
        fb.send()
    fa.send_with_options(delay=10000)

    stub_broker.flush("a")
    assert stub_broker.queues["a"].qsize() == 0
    assert stub_broker.queues["a.DQ"].qsize() == 1
    assert stub_broker.queues["b"].qsize() == 3
    # A flushed queue can be joined once its delay queue is empty too.
    with pytest.raises(QueueJoinTimeout):
        stub_broker.join("a", timeout=100)
    stub_broker.flush("a.DQ")
    stub_broker.join("a", timeout=1000)


def test_flush_all(stub_broker):
    @dramatiq.actor(queue_name="a")
    def fa():
        pass

    @dramatiq.actor(queue_name="b")
    def fb():
        pass

    fa.send()
    fa.send()
    fb.send()
    fb.send_with_options(delay=10000)
    taken = stub_broker.queues["a"].get(block=False)  # being processed: unfinished, not waiting
    assert taken and stub_broker.queues["a"].qsize() == 1
    assert stub_broker.queues["a"].unfinished_tasks == 2
    assert stub_broker.queues["b.DQ"].unfinished_tasks == 1
    stub_broker.flush_all()
    for name in ["a", "a.DQ", "b", "b.DQ"]:
        assert stub_broker.queues[name].qsize() == 0
    assert stub_broker.queues["a"].unfinished_tasks == 1
    stub_broker.queues["a"].task_done()
    for name in ["a", "a.DQ", "b", "b.DQ"]:
        assert stub_broker.queues[name].unfinished_tasks == 0
    stub_broker.join("a", timeout=1000)
    stub_broker.join("b", timeout=1000)


def test_enqueue_returns_message(stub_broker, peek_queue):
    @dramatiq.actor
    def fn(x):
        pass

    message = fn.message(1)
    assert stub_broker.enqueue(message) == message
    assert peek_queue("default") == [message]


def test_enqueue_with_delay_returns_delay_queue_copy(stub_broker, peek_queue):
    @dramatiq.actor
    def fn(x):
        pass

    message = fn.message_with_options(args=(1,), max_retries=2)
    delayed = stub_broker.enqueue(message, delay=10000)
    assert delayed.queue_name == "default.DQ"
    assert delayed.message_id == message.message_id
    assert delayed.options["max_retries"] == 2
    assert "eta" in delayed.options
    assert "eta" not in message.options
    assert message.queue_name == "default"
    assert peek_queue("default.DQ") == [delayed]


def test_stub_broker_is_a_broker():
    assert isinstance(StubBroker(), dramatiq.Broker)


def test_queue_counts_by_state(stub_broker):
    from queue_counts_scenarios import counts_by_state

    counts_by_state(stub_broker, stub_broker)


def test_queue_counts_of_an_undeclared_queue_is_queue_not_found(stub_broker):
    with pytest.raises(dramatiq.errors.QueueNotFound):
        stub_broker.get_queue_counts("nowhere")


def test_a_broker_written_in_python_without_queue_counts_says_so():
    from engineless_broker import EnginelessBroker

    with pytest.raises(NotImplementedError, match="EnginelessBroker cannot count"):
        EnginelessBroker().get_queue_counts("default")


def test_dead_letters_listed_requeued_and_deleted(stub_broker):
    from dead_letter_scenarios import dead_letters_listed_requeued_and_deleted

    dead_letters_listed_requeued_and_deleted(stub_broker, stub_broker)


def test_a_broker_written_in_python_without_dead_letters_says_so():
    from engineless_broker import EnginelessBroker

    broker = EnginelessBroker()
    with pytest.raises(NotImplementedError, match="EnginelessBroker cannot list its dead letters"):
        broker.get_dead_letters("default")
    with pytest.raises(NotImplementedError, match="EnginelessBroker cannot requeue its dead letters"):
        broker.requeue_dead_letters("default", ["1"])
    with pytest.raises(NotImplementedError, match="EnginelessBroker cannot delete its dead letters"):
        broker.delete_dead_letters("default")


def test_worker_records(stub_broker):
    from worker_record_scenarios import records_follow_the_worker

    records_follow_the_worker(stub_broker, stub_broker)


def test_a_broker_written_in_python_keeps_no_worker_records():
    from engineless_broker import EnginelessBroker

    with pytest.raises(NotImplementedError, match="EnginelessBroker keeps no worker records"):
        EnginelessBroker().get_worker_records()
