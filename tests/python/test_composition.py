"""Pipelines and groups, with the Results middleware."""

import logging

import pytest

import dramatiq
from dramatiq import group, pipeline
from dramatiq.results import ResultFailure, ResultMissing, Results, ResultTimeout
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


# -- results ----------------------------------------------------------------------------


def test_message_get_result(stub_broker, stub_worker, add, result_backend):
    message = add.send(1, 2)
    run(stub_broker, stub_worker)
    assert message.get_result() == 3
    assert message.get_result(backend=result_backend) == 3
    assert stub_broker.get_results_backend() is result_backend


def test_get_result_block(stub_broker, stub_worker, add):
    message = add.send(20, 22)
    assert message.get_result(block=True, timeout=5000) == 42


def test_get_result_missing(stub_broker, add):
    message = add.send(1, 2)
    with pytest.raises(ResultMissing):
        message.get_result()


def test_get_result_timeout(stub_broker, add):
    message = add.send(1, 2)
    with pytest.raises(ResultTimeout):
        message.get_result(block=True, timeout=100)


def test_get_result_of_failed_actor(stub_broker, stub_worker, result_backend):
    @dramatiq.actor(store_results=True, max_retries=0)
    def explode():
        raise ValueError("boom")

    message = explode.send()
    run(stub_broker, stub_worker, fail_fast=False)
    with pytest.raises(ResultFailure) as excinfo:
        message.get_result()
    assert str(excinfo.value) == "actor raised ValueError: boom"
    assert excinfo.value.orig_exc_type == "ValueError"
    assert excinfo.value.orig_exc_msg == "boom"


def test_results_not_stored_without_store_results(stub_broker, stub_worker, result_backend):
    @dramatiq.actor
    def untracked():
        return 1

    message = untracked.send()
    run(stub_broker, stub_worker)
    with pytest.raises(ResultMissing):
        message.get_result()


def test_store_results_broker_default(stub_broker, stub_worker):
    stub_broker.add_middleware(Results(backend=StubBackend(), store_results=True))

    @dramatiq.actor
    def tracked():
        return {"a": [1, 2]}

    message = tracked.send()
    run(stub_broker, stub_worker)
    assert message.get_result() == {"a": [1, 2]}


def test_result_error_hierarchy():
    from dramatiq.results import ResultError

    for cls in (ResultFailure, ResultMissing, ResultTimeout):
        assert issubclass(cls, ResultError)
    assert issubclass(ResultError, dramatiq.DramatiqError)


# -- pipeline -----------------------------------------------------------------------------


def test_pipeline_run_and_get_result(stub_broker, stub_worker, add):
    pipe = pipeline([add.message(1, 2), add.message(3), add.message(4)])
    assert pipe.run() is pipe
    assert pipe.get_result(block=True, timeout=5000) == 10
    run(stub_broker, stub_worker)
    assert pipe.get_result() == 10


def test_pipeline_get_results(stub_broker, stub_worker, add):
    pipe = add.message(1, 2) | add.message(3) | add.message(4)
    pipe.run()
    run(stub_broker, stub_worker)
    results = pipe.get_results()
    assert list(results) == [3, 6, 10]
    assert list(pipe.get_results(block=True, timeout=1000)) == [3, 6, 10]


def test_pipeline_completed(stub_broker, stub_worker, add):
    pipe = add.message(1, 2) | add.message(3) | add.message(4)
    assert not pipe.completed
    assert pipe.completed_count == 0
    pipe.run()
    run(stub_broker, stub_worker)
    assert pipe.completed
    assert pipe.completed_count == 3


def test_pipeline_completed_count_partial(stub_broker, stub_worker, add):
    @dramatiq.actor(store_results=True, max_retries=0)
    def explode(x):
        raise ValueError("stop")

    pipe = add.message(1, 2) | explode.message() | add.message(4)
    pipe.run()
    run(stub_broker, stub_worker, fail_fast=False)
    # The last step never ran...
    assert not pipe.completed
    # ...and counting stops at the failed step by raising its failure.
    with pytest.raises(ResultFailure):
        pipe.completed_count
    results = pipe.get_results()
    assert next(results) == 3
    with pytest.raises(ResultFailure):
        next(results)
    with pytest.raises(ResultMissing):
        pipe.get_result()


def test_pipeline_len_and_messages(stub_broker, add):
    first, second, third = add.message(1, 2), add.message(3), add.message(4)
    pipe = pipeline([first, second, third])
    assert len(pipe) == 3
    assert [m.args for m in pipe.messages] == [(1, 2), (3,), (4,)]
    assert [m.message_id for m in pipe.messages] == [first.message_id, second.message_id, third.message_id]
    ids = [message.message_id for message in iter(pipe.messages)]
    assert ids == [first.message_id, second.message_id, third.message_id]


def test_pipeline_flattens_child_pipelines(stub_broker, stub_worker, add):
    inner = add.message(1, 2) | add.message(3)
    pipe = pipeline([inner, add.message(4)])
    assert len(pipe) == 3
    pipe.run()
    run(stub_broker, stub_worker)
    assert pipe.get_result() == 10


def test_pipeline_or_appends(stub_broker, stub_worker, add):
    pipe = pipeline([add.message(1, 2)])
    longer = pipe | add.message(5)
    assert isinstance(longer, pipeline)
    assert len(pipe) == 1
    assert len(longer) == 2
    longer.run()
    run(stub_broker, stub_worker)
    assert longer.get_result() == 8


def test_pipe_ignore(stub_broker, stub_worker, add):
    @dramatiq.actor(store_results=True)
    def constant():
        return "constant"

    pipe = add.message(1, 2) | constant.message_with_options(pipe_ignore=True)
    pipe.run()
    run(stub_broker, stub_worker)
    assert list(pipe.get_results()) == [3, "constant"]


def test_pipeline_run_with_delay(stub_broker, make_worker, add):
    # No worker yet: a running one would take the message off the delay
    # queue at once, to hold it until it is due.
    pipe = add.message(1, 2) | add.message(3)
    pipe.run(delay=100)
    assert stub_broker.queues["default.DQ"].qsize() == 1
    assert stub_broker.queues["default"].qsize() == 0
    worker = make_worker()
    run(stub_broker, worker)
    assert pipe.get_result() == 6


def test_pipeline_uses_given_broker(stub_broker, add):
    pipe = pipeline([add.message(1)], broker=stub_broker)
    assert pipe.broker is stub_broker


# -- group --------------------------------------------------------------------------------


def test_group_run_and_get_results(stub_broker, stub_worker, add):
    g = group([add.message(1, 2), add.message(3, 4), add.message(5, 6)])
    assert len(g) == 3
    assert g.run() is g
    g.wait(timeout=5000)
    assert list(g.get_results()) == [3, 7, 11]
    assert list(g.get_results(block=True, timeout=1000)) == [3, 7, 11]


def test_group_completed(stub_broker, stub_worker, add):
    g = group(add.message(i, i) for i in range(4))
    assert not g.completed
    assert g.completed_count == 0
    g.run()
    run(stub_broker, stub_worker)
    assert g.completed
    assert g.completed_count == 4


def test_group_get_results_missing(stub_broker, add):
    g = group([add.message(1, 2)])
    g.run()
    with pytest.raises(ResultMissing):
        list(g.get_results())


def test_group_wait_timeout(stub_broker, add):
    g = group([add.message(1, 2)])
    g.run()
    with pytest.raises(ResultTimeout):
        g.wait(timeout=100)


def test_group_with_pipelines_and_groups(stub_broker, stub_worker, add):
    g = group(
        [
            add.message(1, 2),
            add.message(1) | add.message(10),
            group([add.message(2, 2), add.message(3, 3)]),
        ]
    )
    g.run()
    run(stub_broker, stub_worker)
    assert list(g.get_results()) == [3, 11, [4, 6]]
    assert g.completed_count == 3


def test_group_run_with_delay(stub_broker, make_worker, add):
    g = group([add.message(1, 2), add.message(3, 4)])
    g.run(delay=100)
    assert stub_broker.queues["default.DQ"].qsize() == 2
    assert stub_broker.queues["default"].qsize() == 0
    worker = make_worker()
    run(stub_broker, worker)
    assert list(g.get_results()) == [3, 7]


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


def test_group_uses_given_broker(stub_broker, add):
    g = group([add.message(1)], broker=stub_broker)
    assert g.broker is stub_broker


def test_results_middleware_warns_about_discarded_value(stub_broker, stub_worker, result_backend, caplog):
    @dramatiq.actor
    def untracked():
        return 1

    untracked.send()
    run(stub_broker, stub_worker)
    warnings_logged = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings_logged] == ["dramatiq.results.middleware.Results"]
    assert "untracked" in warnings_logged[0].getMessage()
    assert "store_results" in warnings_logged[0].getMessage()


def test_no_discarded_value_warning_inside_pipeline(stub_broker, stub_worker, caplog):
    seen = []

    @dramatiq.actor
    def produce():
        return 5

    @dramatiq.actor
    def consume(x):
        seen.append(x)

    (produce.message() | consume.message()).run()
    run(stub_broker, stub_worker)
    assert seen == [5]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
