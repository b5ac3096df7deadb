"""GroupCallbacks: a group's completion callbacks run once every member
succeeded. Moved from tests/python/pending (written against upstream
2.2.1) now that dramatiq.rate_limits and dramatiq.results exist."""

import time
import warnings

import pytest

import dramatiq
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    GroupCallbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.rate_limits.backends import StubBackend as RateLimiterStubBackend


def test_group_callbacks_declare_no_actor_options():
    assert GroupCallbacks(RateLimiterStubBackend()).actor_options == set()


def test_group_completion_callback(stub_broker, stub_worker):
    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    done = []
    finished = []

    @dramatiq.actor
    def work(i):
        time.sleep(0.01 * i)
        done.append(i)

    @dramatiq.actor
    def all_done(tag):
        finished.append((tag, sorted(done)))

    g = dramatiq.group(work.message(i) for i in range(5))
    g.add_completion_callback(all_done.message("finished"))
    g.run()
    stub_broker.join("default")
    stub_worker.join()
    assert finished == [("finished", [0, 1, 2, 3, 4])]


def test_group_completion_callback_with_pipelines(stub_broker, stub_worker):
    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    finished = []
    results = []

    @dramatiq.actor
    def add(x, y):
        return x + y

    @dramatiq.actor
    def collect(value):
        results.append(value)

    @dramatiq.actor
    def all_done():
        finished.append(sorted(results))

    g = dramatiq.group(
        [
            add.message(1, 2) | collect.message(),
            add.message(3, 4) | collect.message(),
        ]
    )
    g.add_completion_callback(all_done.message())
    g.run()
    stub_broker.join("default")
    stub_worker.join()
    assert finished == [[3, 7]]


def test_group_callback_not_called_when_member_fails(stub_broker, stub_worker):
    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    finished = []

    @dramatiq.actor(max_retries=0)
    def maybe(fail):
        if fail:
            raise ValueError()

    @dramatiq.actor
    def all_done():
        finished.append(True)

    g = dramatiq.group([maybe.message(False), maybe.message(True)])
    g.add_completion_callback(all_done.message())
    g.run()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert finished == []


def test_group_callbacks_require_middleware(stub_broker):
    @dramatiq.actor
    def work():
        pass

    g = dramatiq.group([work.message()])
    g.add_completion_callback(work.message())
    with pytest.raises(RuntimeError):
        g.run()
    assert stub_broker.queues["default"].qsize() == 0


def test_each_run_of_a_group_has_its_own_barrier(stub_broker, stub_worker):
    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    finished = []

    @dramatiq.actor
    def work():
        pass

    @dramatiq.actor
    def all_done():
        finished.append(True)

    g = dramatiq.group([work.message(), work.message()])
    g.add_completion_callback(all_done.message())
    for _ in range(3):
        g.run()
        stub_broker.join("default")
        stub_worker.join()
    assert finished == [True, True, True]


def test_rate_limits_reexport_rate_limit_exceeded():
    from dramatiq.rate_limits import RateLimitExceeded

    assert RateLimitExceeded is dramatiq.RateLimitExceeded


def test_group_callbacks_attributes():
    backend = RateLimiterStubBackend()
    middleware = GroupCallbacks(backend, barrier_ttl=5000)
    assert middleware.rate_limiter_backend is backend
    assert middleware.barrier_ttl == 5000
    assert GroupCallbacks(backend).barrier_ttl == 86400 * 1000


def test_barrier_ttl_from_the_deprecated_environment_variable(monkeypatch):
    monkeypatch.setenv("dramatiq_group_callback_barrier_ttl", "1234")
    with pytest.warns(FutureWarning):
        middleware = GroupCallbacks(RateLimiterStubBackend(), barrier_ttl=5000)
    assert middleware.barrier_ttl == 1234
    monkeypatch.delenv("dramatiq_group_callback_barrier_ttl")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GroupCallbacks(RateLimiterStubBackend()).barrier_ttl == 86400 * 1000


def test_builtin_actor_options():
    from dramatiq.results import Results
    from dramatiq.results.backends import StubBackend

    assert AgeLimit().actor_options == {"max_age"}
    assert TimeLimit().actor_options == {"time_limit"}
    assert ShutdownNotifications().actor_options == {"notify_shutdown"}
    assert Callbacks().actor_options == {"on_success", "on_failure"}
    assert Pipelines().actor_options == {"pipe_ignore", "pipe_target"}
    assert Retries().actor_options == {
        "max_retries",
        "min_backoff",
        "max_backoff",
        "retry_when",
        "throws",
        "on_retry_exhausted",
    }
    assert CurrentMessage().actor_options == set()
    assert GroupCallbacks(RateLimiterStubBackend()).actor_options == set()


def test_results_actor_options():
    from dramatiq.results import Results
    from dramatiq.results.backends import StubBackend

    assert Results(backend=StubBackend()).actor_options == {"store_results", "result_ttl"}
