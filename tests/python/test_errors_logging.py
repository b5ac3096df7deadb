"""Exception classes and what gets logged, on which logger."""

import logging
import threading
import warnings
from unittest import mock

import pytest

import dramatiq
from dramatiq import errors
from dramatiq.middleware import SkipMessage

# -- hierarchy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, parent",
    [
        (dramatiq.DramatiqError, Exception),
        (dramatiq.BrokerError, dramatiq.DramatiqError),
        (dramatiq.ActorNotFound, dramatiq.BrokerError),
        (dramatiq.QueueNotFound, dramatiq.BrokerError),
        (dramatiq.QueueJoinTimeout, dramatiq.DramatiqError),
        (dramatiq.BrokerConnectionError, dramatiq.BrokerError),
        (dramatiq.ConnectionFailed, dramatiq.BrokerConnectionError),
        (dramatiq.ConnectionClosed, dramatiq.BrokerConnectionError),
        (dramatiq.RateLimitExceeded, dramatiq.DramatiqError),
        (dramatiq.DecodeError, dramatiq.DramatiqError),
        (dramatiq.Retry, dramatiq.DramatiqError),
    ],
)
def test_exception_hierarchy(cls, parent):
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    "cls",
    [dramatiq.QueueJoinTimeout, dramatiq.RateLimitExceeded, dramatiq.DecodeError, dramatiq.Retry],
)
def test_not_broker_errors(cls):
    assert not issubclass(cls, dramatiq.BrokerError)


def test_errors_module_exports_the_same_classes():
    assert errors.DramatiqError is dramatiq.DramatiqError
    assert errors.BrokerError is dramatiq.BrokerError
    assert errors.ActorNotFound is dramatiq.ActorNotFound
    assert errors.QueueNotFound is dramatiq.QueueNotFound
    assert errors.QueueJoinTimeout is dramatiq.QueueJoinTimeout
    assert errors.BrokerConnectionError is dramatiq.BrokerConnectionError
    assert errors.ConnectionFailed is dramatiq.ConnectionFailed
    assert errors.ConnectionClosed is dramatiq.ConnectionClosed
    assert errors.RateLimitExceeded is dramatiq.RateLimitExceeded
    assert errors.DecodeError is dramatiq.DecodeError
    assert errors.Retry is dramatiq.Retry



@pytest.mark.parametrize("module", [dramatiq, errors])
def test_connection_error_alias_is_deprecated(module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alias = module.ConnectionError
    assert alias is dramatiq.BrokerConnectionError
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_unknown_module_attribute():
    with pytest.raises(AttributeError):
        dramatiq.NoSuchThing  # noqa: B018


def test_dramatiq_error_message():
    e = dramatiq.DramatiqError("something broke")
    assert e.message == "something broke"
    assert str(e) == "something broke"


def test_dramatiq_error_empty_message_uses_repr():
    assert str(dramatiq.DramatiqError("")) == "''"


def test_actor_not_found_message():
    e = dramatiq.ActorNotFound("missing_actor")
    assert str(e) == "missing_actor"
    assert e.message == "missing_actor"


def test_decode_error_attributes():
    cause = ValueError("inner")
    e = dramatiq.DecodeError("could not decode", b"data", cause)
    assert str(e) == "could not decode"
    assert e.message == "could not decode"
    assert e.data == b"data"
    assert e.error is cause


def test_message_decode_error_chains_cause():
    with pytest.raises(dramatiq.DecodeError) as excinfo:
        dramatiq.Message.decode(b"{{{")
    assert excinfo.value.data == b"{{{"
    assert excinfo.value.error is not None
    assert excinfo.value.__cause__ is excinfo.value.error


def test_errors_can_be_raised_and_caught_as_dramatiq_errors():
    for cls in (
        dramatiq.BrokerError,
        dramatiq.ActorNotFound,
        dramatiq.QueueNotFound,
        dramatiq.QueueJoinTimeout,
        dramatiq.ConnectionFailed,
        dramatiq.ConnectionClosed,
        dramatiq.RateLimitExceeded,
    ):
        with pytest.raises(dramatiq.DramatiqError):
            raise cls("x")


# -- logging ----------------------------------------------------------------------------


def test_failing_actor_logs_error_on_worker_thread_logger(stub_broker, stub_worker, caplog):
    @dramatiq.actor(max_retries=0)
    def explode(x):
        raise ValueError("kaboom")

    explode.send(42)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()

    errors_logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors_logged) == 1
    record = errors_logged[0]
    assert record.name == "dramatiq.worker.WorkerThread"
    assert record.getMessage() == "Failed to process message explode(42) with unhandled exception."
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
    assert "kaboom" in caplog.text


def test_retries_exceeded_is_a_warning(stub_broker, stub_worker, caplog):
    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError()

    message = explode.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    warnings_logged = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "dramatiq.middleware.retries.Retries"
    ]
    assert [r.getMessage() for r in warnings_logged] == ["Retries exceeded for message %r." % message.message_id]


def test_expected_exception_is_logged_at_info(stub_broker, stub_worker, caplog):
    caplog.set_level(logging.INFO, logger="dramatiq")

    @dramatiq.actor(throws=KeyError)
    def raiser():
        raise KeyError("k")

    raiser.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    infos = [r for r in caplog.records if r.name == "dramatiq.worker.WorkerThread" and r.levelno == logging.INFO]
    assert [r.getMessage() for r in infos] == ["Failed to process message raiser() with expected exception KeyError."]


def test_rate_limit_exceeded_is_not_logged_as_error(stub_broker, stub_worker, caplog):
    @dramatiq.actor(max_retries=0)
    def limited():
        raise dramatiq.RateLimitExceeded("too many")

    limited.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(stub_broker.dead_letters) == 1


def test_returning_value_without_results_warns(stub_broker, stub_worker, caplog):
    @dramatiq.actor
    def returns_value():
        return 42

    @dramatiq.actor
    def returns_none():
        return None

    returns_value.send()
    returns_none.send()
    stub_broker.join("default")
    stub_worker.join()
    records = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(records) == 1
    assert records[0].name == "dramatiq.worker.WorkerThread"
    assert "returns_value" in records[0].getMessage()
    assert "Results middleware" in records[0].getMessage()


def test_skipped_message_warning(stub_broker, stub_worker, caplog):
    class Skipper(dramatiq.Middleware):
        def before_process_message(self, broker, message):
            raise SkipMessage()

    stub_broker.add_middleware(Skipper())

    @dramatiq.actor
    def skipped(x):
        pass

    skipped.send(1)
    stub_broker.join("default")
    stub_worker.join()
    records = [r for r in caplog.records if r.name == "dramatiq.worker.WorkerThread"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.WARNING, "Message skipped(1) was skipped.")]


def test_unknown_actor_is_dead_lettered_and_logged(stub_broker, stub_worker, caplog):
    seen = []

    @dramatiq.actor
    def known(i):
        seen.append(i)

    ghost = dramatiq.Message(queue_name="default", actor_name="ghost", args=(), kwargs={}, options={})
    stub_broker.queues["default"].put(ghost.encode())
    known.send(1)
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()

    assert seen == [1]
    assert [m.message_id for m in stub_broker.dead_letters] == [ghost.message_id]
    assert [m.message_id for m in stub_broker.dead_letters_by_queue["default"]] == [ghost.message_id]
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(records) == 1
    assert records[0].name == "dramatiq.worker.ConsumerThread(default)"
    assert records[0].getMessage() == "Received message for undefined actor 'ghost'. Moving it to the DLQ."


# Log filters written for upstream look at a record's format string and
# arguments (record.msg, record.args), and tests patch the Logger methods
# upstream calls: engine records must arrive the same way.


def test_engine_records_keep_upstreams_format_and_arguments(stub_broker, stub_worker, caplog):
    caplog.set_level(logging.DEBUG, logger="dramatiq")

    @dramatiq.actor(throws=KeyError, max_retries=0)
    def expected(x):
        raise KeyError("k")

    @dramatiq.actor(max_retries=1, min_backoff=1, max_backoff=1)
    def flaky():
        raise ValueError("once")

    @dramatiq.actor(max_retries=0)
    def limited():
        raise dramatiq.RateLimitExceeded("too many")

    expected.send(7)
    retried = flaky.send()
    limited.send()
    stub_broker.join("default", fail_fast=False)
    stub_worker.join()

    by_format = {r.msg: r for r in caplog.records if r.name.startswith("dramatiq")}
    record = by_format["Failed to process message %s with expected exception %s."]
    assert (record.levelno, record.getMessage()) == (
        logging.INFO,
        "Failed to process message expected(7) with expected exception KeyError.",
    )
    assert [str(arg) for arg in record.args] == ["expected(7)", "KeyError"]

    record = by_format["Rate limit exceeded in message %s: %s."]
    assert (record.levelno, record.getMessage()) == (
        logging.DEBUG,
        "Rate limit exceeded in message limited(): too many.",
    )

    record = by_format["Retrying message %r in %d milliseconds."]
    assert record.args[0] == retried.message_id
    assert isinstance(record.args[1], int)

    record = by_format["Failed to process message %s with unhandled exception."]
    assert record.exc_info[0] is ValueError


def test_engine_records_go_through_the_logger_method_of_their_level(stub_broker, stub_worker):
    @dramatiq.actor
    def returns_value():
        return 42

    @dramatiq.actor(throws=KeyError)
    def expected():
        raise KeyError("k")

    @dramatiq.actor(max_retries=0)
    def limited():
        raise dramatiq.RateLimitExceeded("too many")

    with (
        mock.patch("logging.Logger.warning") as warning,
        mock.patch("logging.Logger.info") as info,
        mock.patch("logging.Logger.debug") as debug,
    ):
        returns_value.send()
        expected.send()
        limited.send()
        stub_broker.join("default", fail_fast=False)
        stub_worker.join()

    assert any("Consider adding the Results middleware" in call.args[0] for call in warning.mock_calls)
    assert "Failed to process message %s with expected exception %s." in [c.args[0] for c in info.mock_calls]
    assert "Rate limit exceeded in message %s: %s." in [c.args[0] for c in debug.mock_calls]


def test_unknown_actor_fail_fast_join_raises_actor_not_found(stub_broker, stub_worker):
    stub_broker.declare_queue("default")
    ghost = dramatiq.Message(queue_name="default", actor_name="ghost", args=(), kwargs={}, options={})
    stub_broker.queues["default"].put(ghost.encode())
    with pytest.raises(dramatiq.ActorNotFound):
        stub_broker.join("default")


def test_actor_logger_debug_messages(stub_broker, caplog):
    caplog.set_level(logging.DEBUG, logger="dramatiq")

    @dramatiq.actor
    def chatty(x, y=None):
        return x

    caplog.set_level(logging.DEBUG, logger=chatty.logger.name)
    chatty(1, y=2)
    records = [r for r in caplog.records if r.name == chatty.logger.name]
    assert records[0].getMessage() == "Received args=(1,) kwargs={'y': 2}."
    assert records[1].getMessage().startswith("Completed after ")
    assert records[1].getMessage().endswith("ms.")


def test_get_logger():
    assert dramatiq.get_logger("mod").name == "mod"
    assert dramatiq.get_logger("mod", "name").name == "mod.name"

    class Thing:
        pass

    assert dramatiq.get_logger("mod", Thing).name == "mod.Thing"
    assert isinstance(dramatiq.get_logger("mod"), logging.Logger)


def test_worker_logs_shutdown(stub_broker, make_worker, caplog):
    caplog.set_level(logging.INFO, logger="dramatiq")
    worker = make_worker(worker_threads=1)
    make_worker.stop(worker)
    messages = [(r.name, r.getMessage()) for r in caplog.records if r.levelno == logging.INFO]
    assert ("dramatiq.worker.Worker", "Shutting down...") in messages
    assert ("dramatiq.worker.Worker", "Worker has been shut down.") in messages


def test_error_log_happens_in_worker_thread(stub_broker, make_worker, caplog):
    @dramatiq.actor(max_retries=0)
    def explode():
        raise ValueError()

    worker = make_worker(worker_threads=1)
    explode.send()
    stub_broker.join("default", fail_fast=False)
    worker.join()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.thread != threading.get_ident()


# -- dramatiq-cpp superset -------------------------------------------------------------


@pytest.mark.superset
def test_decode_error_with_one_argument():
    e = dramatiq.DecodeError("Failed to decode with MessagePack: bad data")
    assert str(e) == "Failed to decode with MessagePack: bad data"
    assert e.message == "Failed to decode with MessagePack: bad data"
    assert isinstance(e, dramatiq.DramatiqError)
    with pytest.raises(dramatiq.DecodeError):
        raise e


@pytest.mark.superset
def test_garbage_bytes_are_dead_lettered(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def known(i):
        seen.append(i)

    stub_broker.queues["default"].put(b"garbage")
    known.send(1)
    stub_broker.join("default", fail_fast=False, timeout=3000)
    stub_worker.join()
    assert seen == [1]
    assert len(stub_broker.dead_letters_by_queue["default"]) == 1
    assert len(stub_broker.dead_letters) == 1

    # The worker keeps processing afterwards.
    known.send(2)
    stub_broker.join("default", fail_fast=False, timeout=3000)
    stub_worker.join()
    assert seen == [1, 2]


@pytest.mark.superset
def test_garbage_and_unknown_actor_are_both_dead_lettered(stub_broker, stub_worker):
    seen = []

    @dramatiq.actor
    def known(i):
        seen.append(i)

    ghost = dramatiq.Message(queue_name="default", actor_name="ghost", args=(), kwargs={}, options={})
    stub_broker.queues["default"].put(b"\xff\x00not a message")
    stub_broker.queues["default"].put(ghost.encode())
    known.send(1)
    stub_broker.join("default", fail_fast=False, timeout=3000)
    stub_worker.join()
    assert seen == [1]
    assert len(stub_broker.dead_letters) == 2
    assert ghost.message_id in [getattr(m, "message_id", None) for m in stub_broker.dead_letters]
