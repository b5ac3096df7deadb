"""Declaring actors and sending them messages."""

import gc
import logging
import threading
import time
import weakref
from datetime import timedelta

import pytest

import dramatiq
from dramatiq import Actor, GenericActor, Message
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO


# -- declaration -------------------------------------------------------------


def test_bare_decorator_declares_actor(stub_broker):
    @dramatiq.actor
    def add(x, y):
        return x + y

    assert isinstance(add, Actor)
    assert add.actor_name == "add"
    assert add.queue_name == "default"
    assert add.priority == 0
    assert add.options == {}
    assert add.broker is stub_broker
    assert add.fn(1, 2) == 3
    assert stub_broker.get_actor("add") is add
    assert "default" in stub_broker.get_declared_queues()
    assert stub_broker.get_declared_actors() == {"add"}


def test_decorator_with_arguments(stub_broker):
    @dramatiq.actor(actor_name="custom", queue_name="q1", priority=10, max_retries=3)
    def fn():
        pass

    assert fn.actor_name == "custom"
    assert fn.queue_name == "q1"
    assert fn.priority == 10
    assert fn.options == {"max_retries": 3}
    assert stub_broker.get_actor("custom") is fn
    assert "q1" in stub_broker.get_declared_queues()


def test_decorator_with_explicit_broker(stub_broker):
    other = StubBroker()

    @dramatiq.actor(broker=other)
    def fn():
        pass

    assert fn.broker is other
    assert other.get_actor("fn") is fn
    assert "fn" not in stub_broker.actors
    message = fn.send()
    assert other.queues["default"].qsize() == 1
    assert message.queue_name == "default"


def test_decorator_with_actor_class(stub_broker):
    class CountingActor(Actor):
        def __init__(self, fn, **kwargs):
            super().__init__(fn, **kwargs)
            self.calls = 0

        def __call__(self, *args, **kwargs):
            self.calls += 1
            return super().__call__(*args, **kwargs)

    @dramatiq.actor(actor_class=CountingActor, queue_name="counted")
    def fn(x):
        return x * 2

    assert isinstance(fn, CountingActor)
    assert fn.queue_name == "counted"
    assert fn(4) == 8
    assert fn.calls == 1


def test_actor_class_receives_all_declaration_arguments(stub_broker):
    received = {}

    def factory(fn, **kwargs):
        received.update(kwargs)
        return Actor(fn, **kwargs)

    @dramatiq.actor(actor_class=factory, actor_name="made", queue_name="q", priority=3, max_age=5)
    def fn():
        pass

    assert received == {
        "actor_name": "made",
        "queue_name": "q",
        "priority": 3,
        "broker": stub_broker,
        "options": {"max_age": 5},
    }


@pytest.mark.parametrize("queue_name", ["1abc", "a b", "", "-dash", "a/b", "q!", ".dot"])
def test_invalid_queue_names(stub_broker, queue_name):
    with pytest.raises(ValueError, match="^Queue names must start with a letter or an underscore followed "
                       "by any number of letters, digits, dashes or underscores.$"):

        @dramatiq.actor(queue_name=queue_name)
        def fn():
            pass

    assert "fn" not in stub_broker.actors


@pytest.mark.parametrize("queue_name", ["a", "_a", "A1", "a.b-c_d", "default", "queue-1.v2"])
def test_valid_queue_names(stub_broker, queue_name):
    @dramatiq.actor(queue_name=queue_name)
    def fn():
        pass

    assert fn.queue_name == queue_name
    assert queue_name in stub_broker.get_declared_queues()


def test_unknown_options_raise_value_error(stub_broker):
    with pytest.raises(ValueError) as excinfo:

        @dramatiq.actor(not_an_option=1)
        def fn():
            pass

    assert str(excinfo.value) == (
        "The following actor options are undefined: not_an_option. "
        "Did you forget to add a middleware to your Broker?"
    )
    assert "fn" not in stub_broker.actors


def test_options_come_from_middleware(stub_broker):
    assert {
        "max_age",
        "time_limit",
        "notify_shutdown",
        "on_success",
        "on_failure",
        "pipe_ignore",
        "pipe_target",
        "max_retries",
        "min_backoff",
        "max_backoff",
        "retry_when",
        "throws",
        "on_retry_exhausted",
    } <= stub_broker.actor_options

    bare = StubBroker(middleware=[])
    with pytest.raises(ValueError):

        @dramatiq.actor(broker=bare, max_retries=1)
        def fn():
            pass


def test_duplicate_actor_name_raises(stub_broker):
    @dramatiq.actor
    def dup():
        pass

    with pytest.raises(ValueError):

        @dramatiq.actor(actor_name="dup")
        def other():
            pass

    assert stub_broker.get_actor("dup") is dup


def test_actor_str_and_repr(stub_broker):
    @dramatiq.actor(queue_name="q")
    def named():
        pass

    assert str(named) == "Actor(named)"
    assert repr(named).startswith("Actor(<function ")
    assert repr(named).endswith(", queue_name='q', actor_name='named')")


def test_actor_logger_name(stub_broker):
    @dramatiq.actor
    def logs():
        pass

    assert logs.logger.name == f"{logs.fn.__module__}.logs"


# -- calling and sending ------------------------------------------------------


def test_direct_call_runs_function(stub_broker):
    @dramatiq.actor
    def add(x, y=0):
        return x + y

    assert add(1, 2) == 3
    assert add(1, y=5) == 6
    assert stub_broker.queues["default"].qsize() == 0


def test_direct_call_propagates_exceptions(stub_broker):
    @dramatiq.actor
    def fail():
        raise KeyError("nope")

    with pytest.raises(KeyError):
        fail()


def test_send_enqueues_message(stub_broker, peek_queue):
    @dramatiq.actor
    def add(x, y):
        pass

    message = add.send(1, y=2)
    assert isinstance(message, Message)
    assert message.queue_name == "default"
    assert message.actor_name == "add"
    assert message.args == (1,)
    assert message.kwargs == {"y": 2}
    assert message.options == {}
    assert peek_queue("default") == [message]


def test_message_builds_without_enqueueing(stub_broker):
    @dramatiq.actor(queue_name="q")
    def add(x, y):
        pass

    message = add.message(1, 2)
    assert message.queue_name == "q"
    assert message.actor_name == "add"
    assert message.args == (1, 2)
    assert message.kwargs == {}
    assert message.options == {}
    assert stub_broker.queues["q"].qsize() == 0


def test_message_with_options(stub_broker):
    @dramatiq.actor
    def add(x, y):
        pass

    message = add.message_with_options(args=(1,), kwargs={"y": 2}, max_retries=7, custom="value")
    assert message.args == (1,)
    assert message.kwargs == {"y": 2}
    assert message.options == {"max_retries": 7, "custom": "value"}
    assert stub_broker.queues["default"].qsize() == 0


def test_message_with_options_defaults(stub_broker):
    @dramatiq.actor
    def noargs():
        pass

    message = noargs.message_with_options()
    assert message.args == ()
    assert message.kwargs == {}
    assert message.options == {}


def test_message_with_options_converts_callback_actors_to_names(stub_broker):
    @dramatiq.actor
    def work():
        pass

    @dramatiq.actor
    def succeeded(message_data, result):
        pass

    @dramatiq.actor
    def failed(message_data, exception_data):
        pass

    message = work.message_with_options(on_success=succeeded, on_failure=failed)
    assert message.options == {"on_success": "succeeded", "on_failure": "failed"}

    message = work.message_with_options(on_success="succeeded")
    assert message.options == {"on_success": "succeeded"}


@pytest.mark.parametrize("name", ["on_success", "on_failure"])
def test_message_with_options_rejects_non_actor_callbacks(stub_broker, name):
    @dramatiq.actor
    def work():
        pass

    with pytest.raises(TypeError):
        work.message_with_options(**{name: 42})


def test_send_with_options(stub_broker, peek_queue):
    @dramatiq.actor
    def add(x, y):
        pass

    message = add.send_with_options(args=(1, 2), max_retries=0)
    assert message.options == {"max_retries": 0}
    assert peek_queue("default") == [message]


def test_send_with_options_delay_in_ms(stub_broker, peek_queue):
    @dramatiq.actor
    def add(x, y):
        pass

    before = int(time.time() * 1000)
    message = add.send_with_options(args=(1, 2), delay=5000)
    after = int(time.time() * 1000)

    # The returned message is the one that was put on the delay queue.
    assert message.queue_name == "default.DQ"
    assert before + 5000 <= message.options["eta"] <= after + 5000
    assert stub_broker.queues["default"].qsize() == 0
    (queued,) = peek_queue("default.DQ")
    assert queued.message_id == message.message_id
    assert queued.options["eta"] == message.options["eta"]
    assert queued.args == (1, 2)


def test_send_with_options_delay_timedelta(stub_broker):
    @dramatiq.actor
    def add(x, y):
        pass

    before = int(time.time() * 1000)
    message = add.send_with_options(args=(1, 2), delay=timedelta(seconds=2, milliseconds=500))
    after = int(time.time() * 1000)
    assert message.queue_name == "default.DQ"
    assert before + 2500 <= message.options["eta"] <= after + 2500


def test_sent_messages_are_processed(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def record(x, y=0):
        seen.append(x + y)

    for i in range(10):
        record.send(i, y=100)
    stub_broker.join("default")
    stub_worker.join()
    assert sorted(seen) == [100 + i for i in range(10)]


def test_delayed_timedelta_message_runs(stub_broker, stub_worker):
    done = threading.Event()

    @dramatiq.actor
    def mark():
        done.set()

    mark.send_with_options(delay=timedelta(milliseconds=100))
    stub_broker.join("default")
    stub_worker.join()
    assert done.is_set()


# -- GenericActor -------------------------------------------------------------


def test_generic_actor(stub_broker, stub_worker):
    seen = []

    class Multiply(GenericActor):
        class Meta:
            queue_name = "generic"
            max_retries = 0
            priority = 5

        def perform(self, x, y=1):
            seen.append(x * y)
            return x * y

    assert isinstance(Multiply.__actor__, Actor)
    assert Multiply.actor_name == "Multiply"
    assert Multiply.queue_name == "generic"
    assert Multiply.priority == 5
    assert Multiply.options == {"max_retries": 0}
    assert stub_broker.get_actor("Multiply") is Multiply.__actor__
    assert Multiply(3, y=4) == 12

    message = Multiply.send(5, y=2)
    assert message.actor_name == "Multiply"
    assert message.queue_name == "generic"
    stub_broker.join("generic")
    stub_worker.join()
    assert seen == [12, 10]


def test_generic_actor_abstract_base(stub_broker, stub_worker):
    seen = []

    class Base(GenericActor):
        class Meta:
            abstract = True
            queue_name = "tasks"

        def get_name(self):
            raise NotImplementedError

        def perform(self):
            seen.append(self.get_name())

    class Foo(Base):
        def get_name(self):
            return "foo"

    class Bar(Base):
        def get_name(self):
            return "bar"

    assert "Base" not in stub_broker.actors
    assert Foo.queue_name == "tasks"
    assert Bar.queue_name == "tasks"
    Foo.send()
    Bar.send()
    stub_broker.join("tasks")
    stub_worker.join()
    assert sorted(seen) == ["bar", "foo"]


def test_generic_actor_with_custom_actor_name(stub_broker):
    class Renamed(GenericActor):
        class Meta:
            actor_name = "renamed_actor"

        def perform(self):
            return "ok"

    assert Renamed.actor_name == "renamed_actor"
    assert stub_broker.get_actor("renamed_actor") is Renamed.__actor__
    assert Renamed() == "ok"


def test_generic_actor_without_perform(stub_broker):
    class Lazy(GenericActor):
        pass

    with pytest.raises(NotImplementedError):
        Lazy()


# -- async actors ---------------------------------------------------------------


def test_async_actor_runs_with_asyncio_middleware(stub_broker, make_worker):
    stub_broker.add_middleware(AsyncIO())
    seen = []

    @dramatiq.actor
    async def async_add(x, y):
        import asyncio

        await asyncio.sleep(0.01)
        seen.append(x + y)
        return x + y

    worker = make_worker(worker_threads=2)
    for i in range(5):
        async_add.send(i, 10)
    stub_broker.join("default")
    worker.join()
    assert sorted(seen) == [10, 11, 12, 13, 14]


def test_async_to_sync_makes_the_coroutine_in_the_calling_thread():
    from dramatiq.asyncio import EventLoopThread, async_to_sync, set_event_loop_thread

    callers = []

    async def body(x):
        return x, threading.get_ident()

    def make_coroutine(x):
        callers.append(threading.get_ident())
        return body(x)

    loop_thread = EventLoopThread()
    loop_thread.start(timeout=10)
    set_event_loop_thread(loop_thread)
    try:
        assert async_to_sync(make_coroutine)(5) == (5, loop_thread.ident)
    finally:
        set_event_loop_thread(None)
        loop_thread.stop()
    assert callers == [threading.get_ident()]


def test_an_async_actors_exception_is_not_kept_alive_in_a_reference_cycle(stub_broker, make_worker, caplog):
    stub_broker.add_middleware(AsyncIO())
    caplog.set_level(logging.CRITICAL, logger="dramatiq")  # no log record holds one
    raised = []

    class Failed(Exception):
        def __init__(self):
            super().__init__()
            raised.append(weakref.ref(self))

    @dramatiq.actor(max_retries=1, min_backoff=1, max_backoff=1)
    async def fail():
        raise Failed()

    gc.collect()
    gc.disable()  # what is still alive below is held, not waiting for a sweep
    try:
        worker = make_worker(worker_threads=1)
        fail.send()
        stub_broker.join(fail.queue_name, fail_fast=False)
        make_worker.stop(worker)
        alive = [ref for ref in raised if ref() is not None]
    finally:
        gc.enable()
    assert len(raised) == 2  # the first run and its retry
    # The retried run's exception is gone; the stub's dead letter keeps the
    # last one (join(fail_fast=True) re-raises it).
    assert len(alive) == 1


def test_async_actor_sees_its_current_message(stub_broker, make_worker):
    from dramatiq.middleware import CurrentMessage

    stub_broker.add_middleware(AsyncIO())
    stub_broker.add_middleware(CurrentMessage())
    seen = []

    @dramatiq.actor
    async def introspect():
        import asyncio

        await asyncio.sleep(0)
        seen.append(CurrentMessage.get_current_message().message_id)

    make_worker(worker_threads=2)
    sent = [introspect.send().message_id for _ in range(4)]
    stub_broker.join("default")
    assert sorted(seen) == sorted(sent)


def test_async_actor_exception_is_reported(stub_broker, make_worker, result_recorder):
    stub_broker.add_middleware(AsyncIO())

    @dramatiq.actor(max_retries=0)
    async def async_fail():
        raise ValueError("async boom")

    make_worker(worker_threads=1)
    message = async_fail.send()
    stub_broker.join("default", fail_fast=False)
    assert isinstance(result_recorder.exceptions[message.message_id], ValueError)
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]


def test_an_async_actor_raising_timeout_error_fails_instead_of_spinning(stub_broker, make_worker, result_recorder):
    # TimeoutError is also the waiting thread's own wait timeout (Python
    # 3.11+): it must reach the worker as the actor's failure, not be taken
    # for "not done yet" for ever (upstream issue 791).
    stub_broker.add_middleware(AsyncIO())

    @dramatiq.actor(max_retries=0)
    async def too_slow():
        raise TimeoutError("something took too long")

    make_worker(worker_threads=1)
    message = too_slow.send()
    stub_broker.join("default", fail_fast=False, timeout=20_000)
    assert isinstance(result_recorder.exceptions[message.message_id], TimeoutError)


def test_async_actor_direct_call_needs_event_loop(stub_broker):
    @dramatiq.actor
    async def lonely():
        return 1

    with pytest.raises(RuntimeError):
        lonely()


def test_a_failed_redeclaration_keeps_the_declared_actor(stub_broker):
    @dramatiq.actor
    def kept():
        pass

    replacement = dramatiq.Actor(lambda: None, broker=StubBroker(), actor_name="kept", queue_name="default",
                                 priority=0, options={})
    replacement.queue_name = "bad queue"
    with pytest.raises(ValueError):
        stub_broker.declare_actor(replacement)
    assert stub_broker.get_actor("kept") is kept


def test_actor_is_generic_in_its_parameters_and_result(stub_broker):
    # Plugins annotate with Actor[P, R] (upstream's Actor is Generic).
    from typing import Any

    from dramatiq import Actor

    alias = Actor[Any, int]
    assert alias.__origin__ is Actor

    @dramatiq.actor
    def double(x: int) -> int:
        return 2 * x

    assert isinstance(double, Actor)
    assert double(4) == 8


def test_an_interrupted_async_actor_cleans_up_before_its_message_is_done(stub_broker, make_worker):
    # A time limit interrupts the worker thread waiting on the coroutine:
    # the coroutine is cancelled and its finally block (which awaits) runs
    # before the message is finished, as upstream does. The interrupt is
    # raised once the coroutine is inside its try block (a timer could fire
    # before the event loop started it, and then there is nothing to clean).
    # The cleanup takes longer than the waiting thread's interrupt check
    # interval, so finishing the message after one slice would be seen.
    import asyncio

    from dramatiq.middleware.time_limit import TimeLimitExceeded
    from dramatiq.threading import raise_thread_exception

    stub_broker.add_middleware(AsyncIO())
    order = []
    worker_thread = []
    inside_try = threading.Event()

    class Recorder(dramatiq.Middleware):
        def before_process_message(self, broker, message):
            worker_thread.append(threading.get_ident())

        def after_process_message(self, broker, message, *, result=None, exception=None):
            order.append(("after_process_message", type(exception).__name__))

    stub_broker.add_middleware(Recorder())

    @dramatiq.actor(max_retries=0)
    async def sleeper():
        try:
            inside_try.set()
            while True:
                await asyncio.sleep(0.01)
        finally:
            await asyncio.sleep(0.3)
            order.append("cleanup")

    make_worker(worker_threads=1)
    sleeper.send()
    assert inside_try.wait(10)
    raise_thread_exception(worker_thread[0], TimeLimitExceeded)
    stub_broker.join("default", fail_fast=False, timeout=20_000)
    assert order == ["cleanup", ("after_process_message", "TimeLimitExceeded")]
