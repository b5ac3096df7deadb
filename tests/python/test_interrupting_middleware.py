"""TimeLimit and ShutdownNotifications as upstream's modules show them: the
state they keep (``manager``), ``should_notify``, the platform warning, and
the module names (``raise_thread_exception``, ``current_platform``) that
tests and plugins patch, which the engine honours."""

import logging
import threading
import time
import warnings
from unittest import mock

import pytest

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import shutdown, time_limit


def test_should_notify_takes_the_message_then_the_actor_then_the_default(stub_broker):
    middleware = shutdown.ShutdownNotifications()

    @dramatiq.actor(notify_shutdown=True)
    def notified():
        pass

    @dramatiq.actor
    def plain():
        pass

    assert middleware.should_notify(notified, notified.message()) is True
    # An explicit False on the message wins over the actor's True.
    assert middleware.should_notify(notified, notified.message_with_options(notify_shutdown=False)) is False
    assert middleware.should_notify(plain, plain.message_with_options(notify_shutdown=True)) is True
    assert middleware.should_notify(plain, plain.message()) is False
    assert shutdown.ShutdownNotifications(notify_shutdown=True).should_notify(plain, plain.message()) is True


@pytest.mark.parametrize(
    "module, middleware_class, name",
    [
        (shutdown, shutdown.ShutdownNotifications, "ShutdownNotifications"),
        (time_limit, time_limit.TimeLimit, "TimeLimit"),
    ],
)
def test_process_boot_warns_on_a_platform_that_cannot_interrupt_threads(monkeypatch, module, middleware_class, name):
    broker = StubBroker(middleware=[middleware_class()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        broker.emit_after("process_boot")
        assert caught == []

        monkeypatch.setattr(module, "current_platform", "PDP-11")
        broker.emit_after("process_boot")
    assert [(w.category, str(w.message)) for w in caught] == [
        (RuntimeWarning, "%s cannot kill threads on your current platform ('PDP-11')." % name)
    ]
    broker.close()


def test_shutdown_notifications_state_and_hook_from_python(caplog):
    caplog.set_level(logging.DEBUG, logger="dramatiq.middleware.shutdown")
    middleware = shutdown.ShutdownNotifications()
    broker = StubBroker(middleware=[middleware])
    assert middleware.manager.notifications == set()
    middleware.manager.notifications = [11, 12]
    assert middleware.manager.notifications == {11, 12}

    with mock.patch("dramatiq.middleware.shutdown.raise_thread_exception") as raise_thread_exception:
        broker.emit_before("worker_shutdown", None)

    assert sorted(c.args for c in raise_thread_exception.mock_calls) == [(11, shutdown.Shutdown), (12, shutdown.Shutdown)]
    assert [r.getMessage() for r in caplog.records] == [
        "Sending shutdown notification to worker threads...",
        "Worker shutdown notification. Raising exception in worker thread 11.",
        "Worker shutdown notification. Raising exception in worker thread 12.",
    ]
    broker.close()


def test_time_limit_deadlines_and_one_check(caplog):
    middleware = time_limit.TimeLimit()
    now = time.monotonic()
    middleware.manager.deadlines = {21: now - 1, 22: None, 23: now + 3600}
    assert sorted(middleware.manager.deadlines) == [21, 23]
    assert middleware.manager.deadlines[23] == pytest.approx(now + 3600, abs=1e-3)

    with mock.patch("dramatiq.middleware.time_limit.raise_thread_exception") as raise_thread_exception:
        middleware.manager._handle_deadlines()

    assert [c.args for c in raise_thread_exception.mock_calls] == [(21, time_limit.TimeLimitExceeded)]
    assert sorted(middleware.manager.deadlines) == [23]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "Time limit exceeded. Raising exception in worker thread 21.")
    ]


def _recording(real):
    calls = []

    def raise_and_record(thread_id, exception):
        calls.append((thread_id, exception))
        real(thread_id, exception)

    return calls, raise_and_record


def test_a_running_worker_interrupts_through_a_patched_shutdown_function(stub_broker, make_worker, monkeypatch):
    calls, raise_and_record = _recording(shutdown.raise_thread_exception)
    monkeypatch.setattr(shutdown, "raise_thread_exception", raise_and_record)
    started, outcome = threading.Event(), []

    @dramatiq.actor(notify_shutdown=True, max_retries=0)
    def runs_until_told():
        started.set()
        try:
            while True:
                time.sleep(0.01)
        except shutdown.Shutdown:
            outcome.append(threading.get_ident())
            raise

    worker = make_worker(worker_threads=1)
    runs_until_told.send()
    assert started.wait(10)
    make_worker.stop(worker)

    assert outcome and calls == [(outcome[0], shutdown.Shutdown)]


def test_a_running_worker_interrupts_through_a_patched_time_limit_function(monkeypatch):
    calls, raise_and_record = _recording(time_limit.raise_thread_exception)
    monkeypatch.setattr(time_limit, "raise_thread_exception", raise_and_record)
    broker = StubBroker(middleware=[time_limit.TimeLimit(interval=10)])
    dramatiq.set_broker(broker)
    outcome = []

    @dramatiq.actor(time_limit=20)
    def runs_too_long():
        try:
            while True:
                time.sleep(0.01)
        except time_limit.TimeLimitExceeded:
            outcome.append(threading.get_ident())
            raise

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        runs_too_long.send()
        broker.join(runs_too_long.queue_name, fail_fast=False)
    finally:
        worker.stop()
        broker.close()

    assert outcome and calls == [(outcome[0], time_limit.TimeLimitExceeded)]
