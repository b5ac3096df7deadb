"""Group completion callbacks on groups whose members store results.
Moved from tests/python/pending now that dramatiq.rate_limits exists."""

import pytest

import dramatiq
from dramatiq import group
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend


@pytest.fixture
def result_backend(stub_broker):
    backend = StubBackend()
    stub_broker.add_middleware(Results(backend=backend))
    return backend


@pytest.fixture
def add(stub_broker, result_backend):
    @dramatiq.actor(store_results=True)
    def add(x, y=0):
        return x + y

    return add


def run(stub_broker, stub_worker, queue_name="default", fail_fast=True):
    stub_broker.join(queue_name, fail_fast=fail_fast)
    stub_worker.join()


def test_group_add_completion_callback(stub_broker, stub_worker, add):
    from dramatiq.middleware import GroupCallbacks
    from dramatiq.rate_limits.backends import StubBackend as RateLimiterStubBackend

    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    finished = []

    @dramatiq.actor
    def done(tag):
        finished.append(tag)

    g = group([add.message(1, 2), add.message(3, 4)])
    g.add_completion_callback(done.message("first"))
    g.add_completion_callback(done.message("second"))
    g.run()
    g.wait(timeout=5000)
    run(stub_broker, stub_worker)
    assert sorted(finished) == ["first", "second"]
    assert list(g.get_results()) == [3, 7]


def test_group_of_groups_with_callback_is_not_supported(stub_broker, add):
    from dramatiq.middleware import GroupCallbacks
    from dramatiq.rate_limits.backends import StubBackend as RateLimiterStubBackend

    stub_broker.add_middleware(GroupCallbacks(RateLimiterStubBackend()))
    g = group([group([add.message(1, 2)])])
    g.add_completion_callback(add.message(0, 0))
    with pytest.raises(NotImplementedError):
        g.run()
