"""What third-party plugins rely on (issue 15 item 4), each as upstream
Dramatiq 2.2.1 behaves: module names, hooks called from Python, an actor
function or a middleware list replaced after the fact, sys.exc_info() in
after_process_message, a patched _WorkerThread.process_message. The
scenarios with the plugins themselves are under tests/python/plugins/."""

import logging
import sys
import threading
import traceback
import types

import pytest

import dramatiq
import dramatiq.cli
import dramatiq.worker
from dramatiq.middleware import Middleware
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend


def test_cli_names_plugins_import():
    # periodiq imports VERBOSITY; flask-dramatiq HAS_WATCHDOG.
    assert dramatiq.cli.VERBOSITY == {0: logging.INFO, 1: logging.DEBUG}
    assert dramatiq.cli.HAS_WATCHDOG is True  # the test environment has watchdog


def test_import_broker_returns_module_and_broker(tmp_path, monkeypatch, stub_broker):
    (tmp_path / "plugin_app.py").write_text(
        "import dramatiq\n"
        "from dramatiq.brokers.stub import StubBroker\n"
        "named = StubBroker()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module, broker = dramatiq.cli.import_broker("plugin_app")
    assert isinstance(module, types.ModuleType) and module.__name__ == "plugin_app"
    assert broker is stub_broker  # the global broker
    module, broker = dramatiq.cli.import_broker("plugin_app:named")
    assert broker is module.named


def test_after_process_message_sees_the_exception_in_sys_exc_info(stub_broker, stub_worker):
    seen = []

    class TracebackKeeper(Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            if exception is not None:
                exc_type, exc_value, exc_traceback = sys.exc_info()
                seen.append((exc_type, exc_value is exception,
                             "".join(traceback.format_exception(exception, exc_value, exc_traceback))))

    stub_broker.add_middleware(TracebackKeeper())

    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("boom")

    explode.send()
    stub_broker.join(explode.queue_name, fail_fast=False)
    stub_worker.join()
    assert len(seen) == 1
    exc_type, same, formatted = seen[0]
    assert exc_type is ValueError and same
    # The actor's frame is in the traceback (with sys.exc_info() empty the
    # text would be "NoneType: None").
    assert 'raise ValueError("boom")' in formatted and "ValueError: boom" in formatted


def test_sys_exc_info_is_restored_after_the_hook(stub_broker, stub_worker):
    after = []

    class Failing(Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            pass

        def after_nack(self, broker, message):
            after.append(sys.exc_info())

    stub_broker.add_middleware(Failing())

    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError("boom")

    explode.send()
    stub_broker.join(explode.queue_name, fail_fast=False)
    stub_worker.join()
    assert after == [(None, None, None)]


def test_replacing_actor_fn_changes_what_workers_run(stub_broker, stub_worker):
    calls = []

    @dramatiq.actor
    def job(x):
        calls.append(("original", x))

    original = job.fn

    def wrapper(*args, **kwargs):
        calls.append(("wrapped",))
        return original(*args, **kwargs)

    job.fn = wrapper  # as dramatiq-crontab does for Sentry cron monitors
    assert job.fn is wrapper
    job.send(1)
    stub_broker.join(job.queue_name)
    stub_worker.join()
    assert calls == [("wrapped",), ("original", 1)]


def test_reassigned_middleware_list_is_what_the_engine_runs(stub_broker, stub_worker):
    events = []

    class Recorder(Middleware):
        def __init__(self, name):
            self.name = name

        def before_process_message(self, broker, message):
            events.append(self.name)

    stub_broker.add_middleware(Recorder("first"))

    @dramatiq.actor
    def job():
        pass

    job.send()
    stub_broker.join(job.queue_name)
    stub_worker.join()
    assert events == ["first"]

    second = Recorder("second")
    stub_broker.middleware = [m for m in stub_broker.middleware if not isinstance(m, Recorder)] + [second]
    assert stub_broker.middleware[-1] is second
    job.send()
    stub_broker.join(job.queue_name)
    stub_worker.join()
    assert events == ["first", "second"]


def test_emit_after_process_message_from_python_reaches_results(stub_broker):
    # What a broker that runs actors itself (dramatiq-eager-broker) does.
    backend = StubBackend()
    stub_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True)
    def add(x, y):
        return x + y

    message = add.message(1, 2)
    proxy = dramatiq.MessageProxy(message)
    stub_broker.emit_before("process_message", proxy)
    stub_broker.emit_after("process_message", proxy, result=add.fn(1, 2))
    assert message.get_result(backend=backend) == 3


def test_emit_after_process_message_with_an_exception_stores_the_failure(stub_broker):
    backend = StubBackend()
    stub_broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True, max_retries=0)
    def fail():
        raise ValueError("nope")

    message = fail.message()
    proxy = dramatiq.MessageProxy(message)
    try:
        fail.fn()
    except ValueError as e:
        proxy.stuff_exception(e)
        stub_broker.emit_after("process_message", proxy, exception=e)
    # Retries (built in) gave up on it: it is failed, and its nack stores
    # the failure (Results, built in), as upstream's do.
    assert proxy.failed
    stub_broker.emit_before("nack", proxy)
    stub_broker.emit_after("nack", proxy)
    with pytest.raises(dramatiq.results.ResultFailure) as info:
        message.get_result(backend=backend)
    assert info.value.orig_exc_type == "ValueError"


def test_python_subclass_of_a_builtin_keeps_its_behaviour_through_super(stub_broker, stub_worker):
    # A subclass that overrides one hook and calls super() still gets the
    # built-in's work done (here Retries retrying a failed message).
    seen, after_super = [], []

    class CountingRetries(dramatiq.middleware.Retries):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            seen.append(message.options.get("retries", 0))
            message.options["seen_by_subclass"] = True
            super().after_process_message(broker, message, result=result, exception=exception)
            # What the built-in did to the message is visible here, and
            # what this hook set before super() was not lost.
            after_super.append((message.options.get("retries"), message.options.get("seen_by_subclass")))

    stub_broker.middleware = [m for m in stub_broker.middleware if not isinstance(m, dramatiq.middleware.Retries)]
    stub_broker.add_middleware(CountingRetries(max_retries=2, min_backoff=1, max_backoff=1))
    attempts = []

    @dramatiq.actor
    def flaky():
        attempts.append(1)
        raise ValueError("again")

    flaky.send()
    stub_broker.join(flaky.queue_name, fail_fast=False)
    stub_worker.join()
    assert len(attempts) == 3
    assert seen == [0, 1, 2]
    assert after_super == [(1, True), (2, True), (3, True)]


@pytest.fixture
def patched_process_message():
    original = dramatiq.worker._WorkerThread.process_message
    yield
    dramatiq.worker._WorkerThread.process_message = original


def test_patched_worker_thread_process_message_wraps_each_message(stub_broker, patched_process_message):
    # What opentelemetry-instrumentor-dramatiq does.
    original = dramatiq.worker._WorkerThread.process_message
    wrapped = []
    inside = []

    def instrumented(self, message):
        wrapped.append((type(self).__name__, message.message_id, message.actor_name, threading.get_ident()))
        return original(self, message)

    dramatiq.worker._WorkerThread.process_message = instrumented

    @dramatiq.actor
    def job(x):
        inside.append((x, threading.get_ident()))

    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        sent = [job.send(i) for i in range(3)]
        stub_broker.join(job.queue_name)
        worker.join()
    finally:
        worker.stop()
    assert sorted(w[1] for w in wrapped) == sorted(m.message_id for m in sent)
    assert {w[0] for w in wrapped} == {"WorkerThread"} and {w[2] for w in wrapped} == {"job"}
    # The wrapper runs on the thread that runs the actor.
    threads_of = {x: ident for x, ident in inside}
    assert sorted(threads_of) == [0, 1, 2]
    assert {w[3] for w in wrapped} == set(threads_of.values())


def test_worker_thread_names_exist():
    assert issubclass(dramatiq.worker._WorkerThread, object)
    assert hasattr(dramatiq.worker._WorkerThread, "process_message")
    assert hasattr(dramatiq.worker, "_ConsumerThread")
