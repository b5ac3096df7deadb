"""Middleware option checks that need dramatiq.results (issue 4, being
built). Validated against upstream 2.2.1. The GroupCallbacks tests that do
not need results moved to tests/python/test_group_callbacks.py."""

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
