"""Middleware: hook order as seen by a user middleware, and the
built-in middleware (AgeLimit, TimeLimit, ShutdownNotifications,
Callbacks, Pipelines, Retries, CurrentMessage, GroupCallbacks)."""

import logging
import threading
import time

import pytest

import dramatiq
from dramatiq import Middleware, Retry
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Interrupt,
    MiddlewareError,
    Pipelines,
    Retries,
    Shutdown,
    ShutdownNotifications,
    SkipMessage,
    TimeLimit,
    TimeLimitExceeded,
)

ALL_HOOKS = [
    "before_ack",
    "after_ack",
    "before_nack",
    "after_nack",
    "before_declare_actor",
    "after_declare_actor",
    "before_declare_queue",
    "after_declare_queue",
    "after_declare_delay_queue",
    "before_enqueue",
    "after_enqueue",
    "before_delay_message",
    "before_process_message",
    "after_process_message",
    "after_skip_message",
    "after_process_boot",
    "before_worker_boot",
    "after_worker_boot",
    "before_worker_shutdown",
    "after_worker_shutdown",
    "after_consumer_thread_boot",
    "before_consumer_thread_shutdown",
    "after_worker_thread_boot",
    "before_worker_thread_shutdown",
]

MESSAGE_HOOKS = {
    "before_enqueue",
    "after_enqueue",
    "before_delay_message",
    "before_process_message",
    "after_process_message",
    "after_skip_message",
    "before_ack",
    "after_ack",
    "before_nack",
    "after_nack",
}

LIFECYCLE_HOOKS = {
    "before_worker_boot",
    "after_worker_boot",
    "after_consumer_thread_boot",
    "after_worker_thread_boot",
    "before_worker_shutdown",
    "after_worker_shutdown",
    "before_consumer_thread_shutdown",
    "before_worker_thread_shutdown",
}


class Call:
    def __init__(self, name, broker, args, kwargs):
        self.name = name
        self.broker = broker
        self.args = args
        self.kwargs = kwargs
        message = args[0] if name in MESSAGE_HOOKS else None
        # Messages are mutated by later middleware (e.g. Retries), so
        # take a snapshot of what the hook saw at call time.
        self.queue_name = getattr(message, "queue_name", None)
        self.message_id = getattr(message, "message_id", None)
        self.options = dict(message.options) if message is not None else None

    @property
    def key(self):
        """A compact description of the call used to compare orders."""
        if self.name == "actor":
            return ("actor",)
        retries = self.options.get("retries") if self.options is not None else None
        if self.name in ("before_enqueue", "after_enqueue"):
            delay = self.args[1]
            return (self.name, self.queue_name, "delayed" if delay is not None else None, retries)
        if self.name == "after_process_message":
            exception = self.kwargs.get("exception")
            return (self.name, self.queue_name, type(exception).__name__ if exception else None, retries)
        if self.name in MESSAGE_HOOKS:
            return (self.name, self.queue_name, retries)
        return (self.name,)


class Recorder(Middleware):
    """Logs every hook call with its arguments."""

    def __init__(self, hooks=None):
        self.hooks = set(hooks or ALL_HOOKS)
        self.calls = []
        self.lock = threading.Lock()

    def record(self, name, broker, args, kwargs):
        if name in self.hooks:
            with self.lock:
                self.calls.append(Call(name, broker, args, kwargs))

    def mark_actor(self):
        with self.lock:
            self.calls.append(Call("actor", None, (), {}))

    def keys(self):
        with self.lock:
            return [c.key for c in self.calls]

    def names(self):
        with self.lock:
            return [c.name for c in self.calls]

    def clear(self):
        with self.lock:
            self.calls.clear()


def _make_hook(hook_name):
    def hook(self, broker, *args, **kwargs):
        self.record(hook_name, broker, args, kwargs)

    hook.__name__ = hook_name
    return hook


for _hook_name in ALL_HOOKS:
    setattr(Recorder, _hook_name, _make_hook(_hook_name))


def assert_happens_before(keys, chain):
    """Each key of chain occurs once in keys, in the given order."""
    positions = []
    for key in chain:
        assert keys.count(key) == 1, (key, keys)
        positions.append(keys.index(key))
    assert positions == sorted(positions), (chain, keys)


@pytest.fixture
def recorder(stub_broker):
    recorder = Recorder()
    stub_broker.add_middleware(recorder)
    recorder.clear()
    return recorder


# -- hook order -----------------------------------------------------------------------


def test_hooks_for_successful_message(stub_broker, make_worker, recorder):
    recorder.hooks = MESSAGE_HOOKS

    @dramatiq.actor
    def add(x, y):
        recorder.mark_actor()
        return x + y

    message = add.send(1, 2)
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()

    assert recorder.keys() == [
        ("before_enqueue", "default", None, None),
        ("after_enqueue", "default", None, None),
        ("before_process_message", "default", None),
        ("actor",),
        ("after_process_message", "default", None, None),
        ("before_ack", "default", None),
        ("after_ack", "default", None),
    ]
    calls = recorder.calls
    assert all(c.broker is stub_broker for c in calls if c.name != "actor")
    assert {c.message_id for c in calls if c.name != "actor"} == {message.message_id}
    assert calls[0].args == (message, None)
    after_process = calls[4]
    assert after_process.kwargs.get("result") == 3
    assert after_process.kwargs.get("exception") is None
    assert isinstance(after_process.args[0], dramatiq.MessageProxy)
    assert after_process.args[0].args == (1, 2)


def test_hooks_for_failing_message_with_retries(stub_broker, make_worker, recorder):
    recorder.hooks = MESSAGE_HOOKS

    @dramatiq.actor(max_retries=1, min_backoff=100, max_backoff=200)
    def explode():
        recorder.mark_actor()
        raise ValueError("boom")

    message = explode.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default", fail_fast=False)
    worker.join()

    keys = recorder.keys()
    send = [("before_enqueue", "default", None, None), ("after_enqueue", "default", None, None)]
    first_attempt = [
        ("before_process_message", "default", None),
        ("after_process_message", "default", "ValueError", None),
        ("before_enqueue", "default.DQ", "delayed", 1),
        ("after_enqueue", "default.DQ", "delayed", 1),
        ("before_ack", "default", 1),
        ("after_ack", "default", 1),
    ]
    delay_queue = [
        ("before_enqueue", "default.DQ", "delayed", 1),
        ("before_delay_message", "default.DQ", 1),
        ("before_enqueue", "default", None, 1),
        ("after_enqueue", "default", None, 1),
        ("before_ack", "default.DQ", 1),
        ("after_ack", "default.DQ", 1),
    ]
    second_attempt = [
        ("before_enqueue", "default", None, 1),
        ("before_process_message", "default", 1),
        ("after_process_message", "default", "ValueError", 1),
        ("before_nack", "default", 2),
        ("after_nack", "default", 2),
    ]
    expected = send + first_attempt + delay_queue[1:] + second_attempt[1:]
    actor_runs = [k for k in keys if k == ("actor",)]
    assert actor_runs == [("actor",), ("actor",)]
    keys = [k for k in keys if k != ("actor",)]
    assert sorted(keys, key=repr) == sorted(expected, key=repr)
    assert_happens_before(keys, send + first_attempt)
    assert_happens_before(keys, delay_queue)
    assert_happens_before(keys, second_attempt)

    calls = [c for c in recorder.calls if c.name != "actor"]
    assert {c.message_id for c in calls} == {message.message_id}
    (retry_enqueue,) = [c for c in calls if c.name == "before_enqueue" and c.args[1] is not None]
    assert 100 <= retry_enqueue.args[1] <= 200
    assert "eta" in retry_enqueue.options
    (delayed,) = [c for c in calls if c.name == "before_delay_message"]
    assert delayed.options["eta"] == retry_enqueue.options["eta"]
    failures = [c for c in calls if c.name == "after_process_message"]
    assert all(isinstance(c.kwargs.get("exception"), ValueError) for c in failures)
    assert all(c.kwargs.get("result") is None for c in failures)
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]


def test_hooks_for_skipped_message(stub_broker, make_worker, recorder):
    recorder.hooks = MESSAGE_HOOKS
    ran = []

    class Skipper(Middleware):
        def before_process_message(self, broker, message):
            raise SkipMessage("skip it")

    stub_broker.add_middleware(Skipper())

    @dramatiq.actor
    def never():
        ran.append(True)

    never.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()

    assert ran == []
    assert recorder.keys() == [
        ("before_enqueue", "default", None, None),
        ("after_enqueue", "default", None, None),
        ("before_process_message", "default", None),
        ("after_skip_message", "default", None),
        ("before_ack", "default", None),
        ("after_ack", "default", None),
    ]
    assert stub_broker.dead_letters == []


def test_skipped_and_failed_message_is_nacked(stub_broker, make_worker, recorder):
    recorder.hooks = MESSAGE_HOOKS

    class Rejecter(Middleware):
        def before_process_message(self, broker, message):
            message.fail()
            raise SkipMessage("rejected")

    stub_broker.add_middleware(Rejecter())

    @dramatiq.actor
    def never():
        pass

    message = never.send()
    worker = make_worker(worker_threads=1)
    with pytest.raises(SkipMessage):
        stub_broker.join("default")
    worker.join()
    assert recorder.keys()[2:] == [
        ("before_process_message", "default", None),
        ("after_skip_message", "default", None),
        ("before_nack", "default", None),
        ("after_nack", "default", None),
    ]
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]


def test_skip_stops_later_before_process_hooks(stub_broker, make_worker):
    class Skipper(Middleware):
        def before_process_message(self, broker, message):
            raise SkipMessage()

    late = Recorder(hooks={"before_process_message", "after_skip_message", "after_process_message"})
    stub_broker.add_middleware(Skipper())
    stub_broker.add_middleware(late)

    @dramatiq.actor
    def never():
        pass

    never.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    # Middleware after the skipper never sees before_process_message
    # but every middleware gets after_skip_message.
    assert late.names() == ["after_skip_message"]


def test_hooks_for_delayed_enqueue(stub_broker, make_worker, recorder):
    recorder.hooks = MESSAGE_HOOKS

    @dramatiq.actor
    def later():
        recorder.mark_actor()

    sent = later.send_with_options(delay=200)
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()

    keys = recorder.keys()
    assert_happens_before(
        keys,
        [
            ("before_enqueue", "default.DQ", "delayed", None),
            ("after_enqueue", "default.DQ", "delayed", None),
            ("before_delay_message", "default.DQ", None),
            ("before_enqueue", "default", None, None),
            ("after_enqueue", "default", None, None),
            ("before_ack", "default.DQ", None),
            ("after_ack", "default.DQ", None),
        ],
    )
    assert_happens_before(
        keys,
        [
            ("before_enqueue", "default", None, None),
            ("before_process_message", "default", None),
            ("actor",),
            ("after_process_message", "default", None, None),
            ("before_ack", "default", None),
            ("after_ack", "default", None),
        ],
    )
    assert len(keys) == 12

    calls = recorder.calls
    first = calls[0]
    assert first.args[1] == 200
    assert first.queue_name == "default.DQ"
    assert first.options["eta"] == sent.options["eta"]
    assert first.args[0] == sent
    (requeue,) = [c for c in calls if c.key == ("before_enqueue", "default", None, None)]
    assert requeue.args[1] is None
    assert "eta" not in requeue.options
    (delay_call,) = [c for c in calls if c.name == "before_delay_message"]
    assert isinstance(delay_call.args[0], dramatiq.MessageProxy)
    assert delay_call.options["eta"] == sent.options["eta"]


def test_hooks_for_worker_boot_and_shutdown(stub_broker, make_worker, recorder):
    recorder.hooks = LIFECYCLE_HOOKS

    @dramatiq.actor
    def noop():
        pass

    worker = make_worker(worker_threads=3)
    make_worker.stop(worker)

    names = recorder.names()
    calls = recorder.calls
    assert names[0] == "before_worker_boot"
    assert calls[0].args == (worker,)
    assert names.count("after_worker_boot") == 1
    assert names.count("after_worker_thread_boot") == 3
    # One consumer per declared queue: "default" and "default.DQ".
    assert names.count("after_consumer_thread_boot") == 2

    shutdown = names[names.index("before_worker_shutdown") :]
    assert shutdown == (
        ["before_worker_shutdown"]
        + ["before_worker_thread_shutdown"] * 3
        + ["before_consumer_thread_shutdown"] * 2
        + ["after_worker_shutdown"]
    )
    assert names.index("after_worker_boot") < names.index("before_worker_shutdown")
    (after_shutdown,) = [c for c in calls if c.name == "after_worker_shutdown"]
    assert after_shutdown.args == (worker,)
    thread_boots = [c for c in calls if c.name == "after_worker_thread_boot"]
    assert all(isinstance(c.args[0], dramatiq.WorkerThread) for c in thread_boots)
    consumer_boots = [c for c in calls if c.name == "after_consumer_thread_boot"]
    assert all(isinstance(c.args[0], dramatiq.ConsumerThread) for c in consumer_boots)
    assert sorted(c.args[0].queue_name for c in consumer_boots) == ["default", "default.DQ"]


def test_worker_thread_hooks_run_in_worker_threads(stub_broker, make_worker, recorder):
    recorder.hooks = {"after_worker_thread_boot", "before_worker_thread_shutdown"}
    idents = []
    boot_idents = []

    class ThreadIdents(Middleware):
        def after_worker_thread_boot(self, broker, thread):
            boot_idents.append(threading.get_ident())

    stub_broker.add_middleware(ThreadIdents())

    @dramatiq.actor
    def where():
        idents.append(threading.get_ident())

    worker = make_worker(worker_threads=2)
    for _ in range(6):
        where.send()
    stub_broker.join("default")
    worker.join()
    assert set(idents) <= set(boot_idents)
    assert threading.get_ident() not in boot_idents


def test_hooks_for_declarations(stub_broker, recorder):
    recorder.hooks = {
        "before_declare_actor",
        "after_declare_actor",
        "before_declare_queue",
        "after_declare_queue",
        "after_declare_delay_queue",
    }

    @dramatiq.actor(queue_name="jobs")
    def first():
        pass

    @dramatiq.actor(queue_name="jobs")
    def second():
        pass

    assert recorder.names() == [
        "before_declare_actor",
        "before_declare_queue",
        "after_declare_queue",
        "after_declare_delay_queue",
        "after_declare_actor",
        "before_declare_actor",
        "after_declare_actor",
    ]
    calls = recorder.calls
    assert calls[0].args == (first,)
    assert calls[1].args == ("jobs",)
    assert calls[2].args == ("jobs",)
    assert calls[3].args == ("jobs.DQ",)
    assert calls[4].args == (first,)
    assert calls[5].args == (second,)


def test_declare_queue_hooks(stub_broker, recorder):
    recorder.hooks = {"before_declare_queue", "after_declare_queue", "after_declare_delay_queue"}
    stub_broker.declare_queue("q")
    stub_broker.declare_queue("q")
    assert [(c.name, c.args) for c in recorder.calls] == [
        ("before_declare_queue", ("q",)),
        ("after_declare_queue", ("q",)),
        ("after_declare_delay_queue", ("q.DQ",)),
    ]


def test_before_hooks_run_in_order_and_after_hooks_in_reverse(stub_broker, make_worker):
    order = []

    class Named(Middleware):
        def __init__(self, name):
            self.name = name

        def before_process_message(self, broker, message):
            order.append(("before", self.name))

        def after_process_message(self, broker, message, *, result=None, exception=None):
            order.append(("after", self.name))

    stub_broker.add_middleware(Named("a"))
    stub_broker.add_middleware(Named("b"))
    stub_broker.add_middleware(Named("first"), before=AgeLimit)

    @dramatiq.actor
    def noop():
        order.append(("actor", None))

    noop.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    assert order == [
        ("before", "first"),
        ("before", "a"),
        ("before", "b"),
        ("actor", None),
        ("after", "b"),
        ("after", "a"),
        ("after", "first"),
    ]


def test_unexpected_middleware_errors_are_logged_and_ignored(stub_broker, make_worker, caplog):
    ran = []

    class Broken(Middleware):
        def before_process_message(self, broker, message):
            raise RuntimeError("broken before")

        def after_process_message(self, broker, message, *, result=None, exception=None):
            raise RuntimeError("broken after")

    stub_broker.add_middleware(Broken())

    @dramatiq.actor
    def works():
        ran.append(True)

    works.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    assert ran == [True]
    assert stub_broker.dead_letters == []
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 2
    assert all(r.name == "dramatiq.broker.StubBroker" for r in critical)
    assert "before_process_message" in critical[0].getMessage()
    assert "after_process_message" in critical[1].getMessage()
    assert critical[0].exc_info is not None


def test_middleware_error_in_before_hook_fails_message(stub_broker, make_worker):
    ran = []

    class Strict(MiddlewareError):
        pass

    class Refuser(Middleware):
        def before_process_message(self, broker, message):
            raise Strict("refused")

    stub_broker.add_middleware(Refuser())

    @dramatiq.actor(max_retries=0)
    def never():
        ran.append(True)

    never.send()
    worker = make_worker(worker_threads=1)
    with pytest.raises(Strict):
        stub_broker.join("default")
    worker.join()
    assert ran == []


def test_error_in_before_enqueue_is_ignored(stub_broker, caplog):
    class Broken(Middleware):
        def before_enqueue(self, broker, message, delay):
            raise RuntimeError("no")

    stub_broker.add_middleware(Broken())

    @dramatiq.actor
    def fn():
        pass

    fn.send()
    assert stub_broker.queues["default"].qsize() == 1
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)


def test_skip_message_in_before_enqueue_propagates(stub_broker):
    class Gate(Middleware):
        def before_enqueue(self, broker, message, delay):
            raise SkipMessage("not now")

    stub_broker.add_middleware(Gate())

    @dramatiq.actor
    def fn():
        pass

    with pytest.raises(SkipMessage):
        fn.send()
    assert stub_broker.queues["default"].qsize() == 0


def test_middleware_default_properties():
    middleware = Middleware()
    assert middleware.actor_options == set()
    assert middleware.forks == []
    for hook in ALL_HOOKS:
        assert callable(getattr(middleware, hook))


# -- exception classes ----------------------------------------------------------------------


def test_middleware_exception_hierarchy():
    assert issubclass(MiddlewareError, Exception)
    assert not issubclass(MiddlewareError, dramatiq.DramatiqError)
    assert issubclass(SkipMessage, MiddlewareError)
    assert issubclass(Interrupt, BaseException)
    assert not issubclass(Interrupt, Exception)
    assert issubclass(TimeLimitExceeded, Interrupt)
    assert issubclass(Shutdown, Interrupt)
    assert not issubclass(TimeLimitExceeded, Shutdown)


def test_exception_classes_are_importable_from_their_modules():
    from dramatiq.middleware.middleware import MiddlewareError as M1
    from dramatiq.middleware.middleware import SkipMessage as S1
    from dramatiq.middleware.shutdown import Shutdown as Sh1
    from dramatiq.middleware.threading import Interrupt as I1
    from dramatiq.middleware.time_limit import TimeLimitExceeded as T1

    assert (M1, S1, Sh1, I1, T1) == (MiddlewareError, SkipMessage, Shutdown, Interrupt, TimeLimitExceeded)


# -- AgeLimit ---------------------------------------------------------------------------------


def test_age_limit_drops_old_messages(stub_broker, stub_worker):
    ran = []

    @dramatiq.actor(max_age=1000)
    def fresh_only(i):
        ran.append(i)

    old = fresh_only.message(1).copy(message_timestamp=int(time.time() * 1000) - 60000)
    stub_broker.enqueue(old)
    fresh_only.send(2)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert ran == [2]
    assert [m.message_id for m in stub_broker.dead_letters] == [old.message_id]


def test_age_limit_skip_is_raised_by_fail_fast_join(stub_broker, stub_worker):
    @dramatiq.actor(max_age=1000)
    def fresh_only():
        pass

    old = fresh_only.message().copy(message_timestamp=int(time.time() * 1000) - 60000)
    stub_broker.enqueue(old)
    with pytest.raises(SkipMessage):
        stub_broker.join("default")


def test_age_limit_message_option(stub_broker, stub_worker):
    ran = []

    @dramatiq.actor
    def fn(i):
        ran.append(i)

    old = fn.message_with_options(args=(1,), max_age=500).copy(message_timestamp=int(time.time() * 1000) - 5000)
    stub_broker.enqueue(old)
    # Without a limit, old messages are fine.
    stub_broker.enqueue(fn.message(2).copy(message_timestamp=int(time.time() * 1000) - 5000))
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert ran == [2]
    assert len(stub_broker.dead_letters) == 1


def test_age_limit_broker_default():
    broker = StubBroker(middleware=[AgeLimit(max_age=1000)])
    dramatiq.set_broker(broker)
    ran = []

    @dramatiq.actor
    def fn(i):
        ran.append(i)

    broker.enqueue(fn.message(1).copy(message_timestamp=int(time.time() * 1000) - 5000))
    fn.send(2)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        broker.join("default", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert ran == [2]
    assert len(broker.dead_letters) == 1


# -- TimeLimit --------------------------------------------------------------------------------


def _sleep_until_interrupted(seen, seconds=5):
    try:
        for _ in range(int(seconds / 0.01)):
            time.sleep(0.01)
    except BaseException as e:
        seen.append(type(e))
        raise
    seen.append("completed")


def test_time_limit_interrupts_actor(stub_broker, stub_worker, result_recorder, caplog):
    stub_broker.emit_after("process_boot")
    seen = []

    @dramatiq.actor(time_limit=100, max_retries=0)
    def sleepy():
        _sleep_until_interrupted(seen)

    message = sleepy.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert seen == [TimeLimitExceeded]
    assert isinstance(result_recorder.exceptions[message.message_id], TimeLimitExceeded)
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]
    assert any("Time limit exceeded" in r.getMessage() for r in caplog.records)


def test_time_limit_broker_default_and_message_option():
    broker = StubBroker(
        middleware=[TimeLimit(time_limit=100, interval=10), Retries(max_retries=0)],
    )
    dramatiq.set_broker(broker)
    broker.emit_after("process_boot")
    seen = []

    @dramatiq.actor
    def sleepy(tag):
        _sleep_until_interrupted(seen, seconds=0.5 if tag == "roomy" else 5)
        return tag

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        sleepy.send("default-limit")
        sleepy.send_with_options(args=("roomy",), time_limit=60000)
        broker.join("default", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert sorted(seen, key=repr) == sorted([TimeLimitExceeded, "completed"], key=repr)
    assert [m.args for m in broker.dead_letters] == [("default-limit",)]


def test_fast_actor_is_not_interrupted(stub_broker, stub_worker):
    stub_broker.emit_after("process_boot")
    seen = []

    @dramatiq.actor(time_limit=5000)
    def quick():
        _sleep_until_interrupted(seen, seconds=0.05)

    quick.send()
    stub_broker.join("default")
    stub_worker.join()
    assert seen == ["completed"]


# -- ShutdownNotifications -----------------------------------------------------------------------


def test_shutdown_notification_interrupts_actor(stub_broker, make_worker):
    started = threading.Event()
    seen = []

    @dramatiq.actor(notify_shutdown=True, max_retries=0)
    def long_running():
        started.set()
        _sleep_until_interrupted(seen, seconds=10)

    worker = make_worker(worker_threads=1)
    long_running.send()
    assert started.wait(5)
    make_worker.stop(worker)
    assert seen == [Shutdown]


def test_shutdown_without_notification_lets_actor_finish(stub_broker, make_worker):
    started = threading.Event()
    seen = []

    @dramatiq.actor(max_retries=0)
    def long_running():
        started.set()
        _sleep_until_interrupted(seen, seconds=0.3)

    worker = make_worker(worker_threads=1)
    long_running.send()
    assert started.wait(5)
    make_worker.stop(worker)
    assert seen == ["completed"]


def test_shutdown_notification_broker_default(make_worker):
    broker = StubBroker(middleware=[ShutdownNotifications(notify_shutdown=True)])
    dramatiq.set_broker(broker)
    started = threading.Event()
    seen = []

    @dramatiq.actor
    def long_running():
        started.set()
        _sleep_until_interrupted(seen, seconds=10)

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    long_running.send()
    assert started.wait(5)
    worker.stop()
    assert seen == [Shutdown]


# -- Callbacks ---------------------------------------------------------------------------------


def test_on_success_callback(stub_broker, stub_worker):
    received = []

    @dramatiq.actor
    def succeeded(message_data, result):
        received.append((message_data, result))

    @dramatiq.actor(on_success="succeeded")
    def add(x, y):
        return x + y

    message = add.send(1, 2)
    stub_broker.join("default")
    stub_worker.join()
    assert len(received) == 1
    message_data, result = received[0]
    assert result == 3
    assert message_data["message_id"] == message.message_id
    assert message_data["actor_name"] == "add"
    assert message_data["queue_name"] == "default"
    assert message_data["args"] == [1, 2]
    assert message_data["kwargs"] == {}


def test_on_failure_callback(stub_broker, stub_worker):
    received = []

    @dramatiq.actor
    def failed(message_data, exception_data):
        received.append((message_data, exception_data))

    @dramatiq.actor(on_failure="failed", max_retries=0)
    def explode(x):
        raise ValueError("bad %s" % x)

    message = explode.send("input")
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(received) == 1
    message_data, exception_data = received[0]
    assert message_data["message_id"] == message.message_id
    assert message_data["args"] == ["input"]
    assert exception_data == {"type": "ValueError", "message": "bad input"}


def test_callbacks_as_message_options(stub_broker, stub_worker):
    successes = []
    failures = []

    @dramatiq.actor
    def on_ok(message_data, result):
        successes.append(result)

    @dramatiq.actor
    def on_err(message_data, exception_data):
        failures.append(exception_data["type"])

    @dramatiq.actor(max_retries=0)
    def maybe(fail):
        if fail:
            raise KeyError("k")
        return "fine"

    maybe.send_with_options(args=(False,), on_success=on_ok, on_failure=on_err)
    maybe.send_with_options(args=(True,), on_success="on_ok", on_failure="on_err")
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert successes == ["fine"]
    assert failures == ["KeyError"]


def test_on_failure_runs_for_every_failed_attempt(stub_broker, stub_worker):
    failures = []

    @dramatiq.actor
    def failed(message_data, exception_data):
        failures.append(exception_data["message"])

    @dramatiq.actor(on_failure="failed", max_retries=2, min_backoff=10, max_backoff=20)
    def explode():
        raise ValueError("again")

    explode.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert failures == ["again", "again", "again"]


def test_on_success_not_called_on_failure(stub_broker, stub_worker):
    successes = []

    @dramatiq.actor
    def succeeded(message_data, result):
        successes.append(result)

    @dramatiq.actor(on_success="succeeded", max_retries=0)
    def explode():
        raise ValueError()

    explode.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert successes == []


# -- Pipelines ---------------------------------------------------------------------------------


def test_pipeline_passes_results_along(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def add(x, y):
        return x + y

    @dramatiq.actor
    def record(value):
        seen.append(value)

    pipe = add.message(1, 2) | add.message(10) | record.message()
    pipe.run()
    stub_broker.join("default")
    stub_worker.join()
    assert seen == [13]


def test_pipe_ignore_message_option(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def produce():
        return "ignored"

    @dramatiq.actor
    def record(*args):
        seen.append(args)

    (produce.message() | record.message_with_options(args=("own",), pipe_ignore=True)).run()
    stub_broker.join("default")
    stub_worker.join()
    assert seen == [("own",)]


def test_pipe_ignore_actor_option(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor(pipe_ignore=True)
    def produce():
        return "ignored"

    @dramatiq.actor
    def record(*args):
        seen.append(args)

    (produce.message() | record.message("x")).run()
    stub_broker.join("default")
    stub_worker.join()
    # pipe_ignore on the *producing* actor drops its result.
    assert seen == [("x",)]


def test_pipeline_stops_on_failure(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("stop")

    @dramatiq.actor
    def record(value):
        seen.append(value)

    (explode.message() | record.message()).run()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert seen == []


def test_pipe_target_option_holds_next_message(stub_broker):
    @dramatiq.actor
    def a():
        pass

    @dramatiq.actor
    def b(x):
        pass

    pipe = a.message() | b.message()
    target = pipe.messages[0].options["pipe_target"]
    assert target["actor_name"] == "b"
    assert target["message_id"] == pipe.messages[1].message_id


# -- Retries -----------------------------------------------------------------------------------


def test_retries_defaults():
    retries = Retries()
    assert retries.max_retries == 20
    assert retries.min_backoff == 15000
    assert retries.max_backoff == 86400000 * 7
    assert retries.retry_when is None


def test_retries_reads_its_settings_back_from_the_engine():
    # 0 means the default, as upstream's ``min_backoff or DEFAULT_MIN_BACKOFF``.
    assert (Retries(min_backoff=0, max_backoff=0).min_backoff, Retries(max_backoff=0).max_backoff) == (
        15000,
        86400000 * 7,
    )
    retries = Retries(max_retries=None, min_backoff=5, max_backoff=50)
    assert (retries.max_retries, retries.min_backoff, retries.max_backoff) == (None, 5, 50)
    from dramatiq.middleware import retries as retries_module

    assert (retries_module.DEFAULT_MIN_BACKOFF, retries_module.DEFAULT_MAX_BACKOFF) == (15000, 86400000 * 7)


def test_max_retries(stub_broker, stub_worker):
    attempts = []

    @dramatiq.actor(max_retries=3, min_backoff=10, max_backoff=50)
    def flaky():
        attempts.append(1)
        raise RuntimeError("flaky")

    flaky.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(attempts) == 4
    (dead,) = stub_broker.dead_letters
    assert dead.options["retries"] == 4
    assert "RuntimeError: flaky" in dead.options["traceback"]
    assert isinstance(dead.options["requeue_timestamp"], int)


def test_max_retries_zero(stub_broker, stub_worker):
    attempts = []

    @dramatiq.actor(max_retries=0)
    def once():
        attempts.append(1)
        raise RuntimeError()

    once.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert attempts == [1]


def test_message_max_retries_overrides_actor(stub_broker, stub_worker):
    attempts = []

    @dramatiq.actor(max_retries=5, min_backoff=10, max_backoff=20)
    def flaky():
        attempts.append(1)
        raise RuntimeError()

    flaky.send_with_options(max_retries=1)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(attempts) == 2


def test_retry_succeeds_eventually(stub_broker, stub_worker):
    attempts = []

    @dramatiq.actor(max_retries=5, min_backoff=10, max_backoff=20)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    flaky.send()
    stub_broker.join("default")
    stub_worker.join()
    assert len(attempts) == 3
    assert stub_broker.dead_letters == []


def test_backoff_stays_within_bounds(stub_broker, stub_worker):
    delays = []

    class DelayRecorder(Middleware):
        def before_enqueue(self, broker, message, delay):
            if delay is not None:
                delays.append(delay)

    stub_broker.add_middleware(DelayRecorder())

    @dramatiq.actor(max_retries=5, min_backoff=10, max_backoff=100)
    def flaky():
        raise RuntimeError()

    flaky.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(delays) == 5
    assert all(10 <= d <= 100 for d in delays), delays
    # Exponential: the first retry waits between 1x and 2x min_backoff.
    assert delays[0] <= 20


def test_retry_exception_with_delay(stub_broker, stub_worker, caplog):
    delays = []
    attempts = []

    class DelayRecorder(Middleware):
        def before_enqueue(self, broker, message, delay):
            if delay is not None:
                delays.append(delay)

    stub_broker.add_middleware(DelayRecorder())

    @dramatiq.actor(max_retries=3)
    def later():
        attempts.append(1)
        if len(attempts) < 3:
            raise Retry("try later", delay=50 * len(attempts))

    later.send()
    stub_broker.join("default")
    stub_worker.join()
    assert len(attempts) == 3
    assert delays == [50, 100]
    # Retry is not logged as an error.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_retry_exception_attributes():
    e = Retry("msg", delay=10)
    assert e.delay == 10
    assert str(e) == "msg"
    assert Retry().delay is None
    assert isinstance(e, dramatiq.DramatiqError)


def test_throws_does_not_retry(stub_broker, stub_worker, caplog):
    attempts = []

    class Expected(Exception):
        pass

    @dramatiq.actor(throws=(Expected,), max_retries=5)
    def raiser():
        attempts.append(1)
        raise Expected("expected")

    message = raiser.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert attempts == [1]
    assert [m.message_id for m in stub_broker.dead_letters] == [message.message_id]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_throws_as_message_option(stub_broker, stub_worker):
    # Exception classes in message options need an encoder that can carry them.
    dramatiq.set_encoder(dramatiq.PickleEncoder())
    attempts = []

    @dramatiq.actor(max_retries=5, min_backoff=10, max_backoff=20)
    def raiser():
        attempts.append(1)
        raise KeyError()

    raiser.send_with_options(throws=KeyError)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert attempts == [1]


def test_throws_other_exceptions_are_retried(stub_broker, stub_worker):
    attempts = []

    @dramatiq.actor(throws=KeyError, max_retries=2, min_backoff=10, max_backoff=20)
    def raiser():
        attempts.append(1)
        raise ValueError()

    raiser.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(attempts) == 3


def test_retry_when(stub_broker, stub_worker):
    calls = []

    def retry_when(retries, exception):
        calls.append((retries, type(exception)))
        return retries < 2

    @dramatiq.actor(retry_when=retry_when, max_retries=0, min_backoff=10, max_backoff=20)
    def flaky():
        raise ValueError()

    flaky.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    # retry_when takes precedence over max_retries.
    assert calls == [(0, ValueError), (1, ValueError), (2, ValueError)]
    assert len(stub_broker.dead_letters) == 1


def test_retry_when_broker_default():
    calls = []

    def retry_when(retries, exception):
        calls.append(retries)
        return False

    broker = StubBroker(middleware=[Retries(retry_when=retry_when)])
    dramatiq.set_broker(broker)

    @dramatiq.actor
    def fail():
        raise ValueError()

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        fail.send()
        broker.join("default", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert calls == [0]
    assert len(broker.dead_letters) == 1


def test_broker_level_max_retries():
    attempts = []
    broker = StubBroker(middleware=[Retries(max_retries=2, min_backoff=10, max_backoff=20)])
    dramatiq.set_broker(broker)

    @dramatiq.actor
    def fail():
        attempts.append(1)
        raise ValueError()

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        fail.send()
        broker.join("default", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert len(attempts) == 3


def test_on_retry_exhausted(stub_broker, stub_worker):
    received = []

    @dramatiq.actor
    def exhausted(message_data, retry_info):
        received.append((message_data, retry_info))

    @dramatiq.actor(max_retries=2, min_backoff=10, max_backoff=20, on_retry_exhausted="exhausted")
    def flaky(x):
        raise ValueError()

    message = flaky.send(7)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert len(received) == 1
    message_data, retry_info = received[0]
    assert message_data["message_id"] == message.message_id
    assert message_data["args"] == [7]
    assert message_data["options"]["retries"] == 3
    assert retry_info == {"retries": 2, "max_retries": 2}


def test_on_retry_exhausted_not_called_when_throws(stub_broker, stub_worker):
    received = []

    @dramatiq.actor
    def exhausted(message_data, retry_info):
        received.append(retry_info)

    @dramatiq.actor(throws=ValueError, on_retry_exhausted="exhausted")
    def raiser():
        raise ValueError()

    raiser.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert received == []


def test_retries_logging(stub_broker, stub_worker, caplog):
    caplog.set_level(logging.INFO, logger="dramatiq")

    @dramatiq.actor(max_retries=1, min_backoff=10, max_backoff=20)
    def flaky():
        raise ValueError()

    message = flaky.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    retries_records = [r for r in caplog.records if r.name == "dramatiq.middleware.retries.Retries"]
    assert [r.levelno for r in retries_records] == [logging.INFO, logging.WARNING]
    assert retries_records[0].getMessage().startswith("Retrying message %r in " % message.message_id)
    assert retries_records[1].getMessage() == "Retries exceeded for message %r." % message.message_id


# -- CurrentMessage ------------------------------------------------------------------------------


def test_current_message(stub_broker, stub_worker):
    stub_broker.add_middleware(CurrentMessage())
    seen = {}
    lock = threading.Lock()

    @dramatiq.actor
    def who_am_i(i):
        time.sleep(0.01)
        current = CurrentMessage.get_current_message()
        with lock:
            seen[i] = (current.message_id, current.args, current.queue_name)

    messages = [who_am_i.send(i) for i in range(16)]
    stub_broker.join("default")
    stub_worker.join()
    assert seen == {i: (m.message_id, (i,), "default") for i, m in enumerate(messages)}


def test_current_message_outside_actor_is_none(stub_broker):
    stub_broker.add_middleware(CurrentMessage())
    assert CurrentMessage.get_current_message() is None


def test_current_message_is_cleared_after_processing(stub_broker, make_worker):
    stub_broker.add_middleware(CurrentMessage())
    after = []

    class Probe(Middleware):
        def after_ack(self, broker, message):
            after.append(CurrentMessage.get_current_message())

    stub_broker.add_middleware(Probe())

    @dramatiq.actor
    def fn():
        pass

    fn.send()
    worker = make_worker(worker_threads=1)
    stub_broker.join("default")
    worker.join()
    assert after == [None]



# -- the hook list -----------------------------------------------------------------------------


def test_base_class_has_a_documented_method_per_engine_hook():
    import inspect
    import pydoc

    from dramatiq import _engine

    names = [spec[0] for spec in _engine.MIDDLEWARE_HOOKS]
    assert set(ALL_HOOKS) <= set(names)
    text = pydoc.render_doc(Middleware, renderer=pydoc.plaintext)
    for name, positional, keyword, doc in _engine.MIDDLEWARE_HOOKS:
        method = getattr(Middleware, name)
        # The engine's sentence, then a Parameters: section naming each parameter.
        assert doc and method.__doc__.startswith(doc + "\n\nParameters:\n")
        assert all("  %s: " % p in method.__doc__ for p in (*positional, *keyword))
        parameters = inspect.signature(method).parameters
        assert list(parameters) == ["self", *positional, *keyword]
        assert all(parameters[k].kind is inspect.Parameter.KEYWORD_ONLY for k in keyword)
        assert "%s%s" % (name, inspect.signature(method)) in text
        assert doc in text
    assert str(inspect.signature(Middleware.after_process_message)) == (
        "(self, broker, message, *, result=None, exception=None)"
    )


def test_base_class_hooks_reject_wrong_arguments():
    Middleware().before_ack(None, None)
    Middleware().after_process_message(None, None, exception=None)
    with pytest.raises(TypeError):
        Middleware().before_ack(None)
    with pytest.raises(TypeError):
        Middleware().after_process_message(None, None, None)


HOOK_SIGNATURES_SCRIPT = r"""
import inspect, json
import dramatiq
print(json.dumps({
    name: list(inspect.signature(getattr(dramatiq.Middleware, name)).parameters)
    for name in dir(dramatiq.Middleware) if name.startswith(("before_", "after_"))
}))
"""


def test_hook_names_and_parameters_match_upstream():
    import json
    import subprocess
    import sys

    from redis_support import upstream_python

    python = upstream_python()
    if python is None:
        pytest.skip("upstream Dramatiq is not installed")

    def signatures(interpreter):
        proc = subprocess.run([interpreter, "-c", HOOK_SIGNATURES_SCRIPT], capture_output=True, text=True,
                              timeout=60, cwd="/")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    ours, theirs = signatures(sys.executable), signatures(python)
    # Ours adds before_process_stop/after_process_stop (the worker command's).
    assert set(ours) - set(theirs) == {"before_process_stop", "after_process_stop"}
    assert {name: ours[name] for name in theirs} == theirs
