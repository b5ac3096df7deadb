"""Periodic tasks from Python (issue 18): ``@dramatiq.actor(periodic=...)``,
``dramatiq.schedule(...)``, the options' checks, and ``Scheduler`` passes
driven at chosen instants (the broker-side exactly-once rule is tested
against each real broker in tests/cpp/test_scheduler.cpp; the command's
scheduler in tests/python/cli/test_cli_schedules.py)."""

import calendar
import datetime

import pytest

import dramatiq
from dramatiq.brokers.sqlite import SQLiteBroker
from dramatiq.middleware import CurrentMessage
from dramatiq.schedules import Scheduler, periodic_tasks

from engineless_broker import EnginelessBroker


def at(*fields):
    """Unix seconds of a UTC date and time."""
    return calendar.timegm(datetime.datetime(*fields).timetuple())


@pytest.mark.parametrize("options, error", [
    ({"periodic": "61 * * * *"}, "the minute field '61' has 61, outside 0-59"),
    ({"periodic": "0 0 30 2 *"}, "never"),
    ({"periodic": "* * * * *", "periodic_timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"periodic": "* * * * *", "periodic_missed": "all"}, 'missed ticks are "skip" or "run_once", not "all"'),
])
def test_a_bad_schedule_is_refused_when_the_actor_is_declared(stub_broker, options, error):
    with pytest.raises(ValueError, match=error):
        @dramatiq.actor(**options)
        def periodic():
            pass
    assert "periodic" not in stub_broker.actors


def test_periodic_actors_and_added_schedules_are_the_brokers_tasks(stub_broker):
    @dramatiq.actor(periodic="*/5 * * * *")
    def every_five():
        pass

    @dramatiq.actor(queue_name="reports", periodic="0 30 9 * * mon-fri", periodic_timezone="Europe/Paris",
                    periodic_missed="run_once")
    def standup():
        pass

    @dramatiq.actor
    def plain(x, y=0):
        pass

    added = dramatiq.schedule(plain, "@hourly", args=(1,), kwargs={"y": 2}, name="plain-hourly")
    assert (added.name, added.cron, added.timezone, added.missed) == ("plain-hourly", "@hourly", "UTC", "skip")
    assert (added.actor_name, added.queue_name, added.args, added.kwargs) == ("plain", "default", [1], {"y": 2})
    with pytest.raises(ValueError, match="A schedule named 'plain-hourly' already exists"):
        dramatiq.schedule(plain, "@daily", name="plain-hourly")
    with pytest.raises(ValueError, match="A schedule named 'every_five' already exists"):
        dramatiq.schedule(plain, "@daily", name="every_five")
    with pytest.raises(ValueError, match="the hour field"):
        dramatiq.schedule(plain, "0 25 * * *")

    tasks = {t.name: t for t in periodic_tasks(stub_broker)}
    assert sorted(tasks) == ["every_five", "plain-hourly", "standup"]
    assert (tasks["standup"].queue_name, tasks["standup"].timezone, tasks["standup"].missed) == (
        "reports", "Europe/Paris", "run_once")
    # 09:30 in Paris on Friday 2026-12-04 is 08:30 UTC (winter time).
    assert tasks["standup"].next_after(at(2026, 12, 3, 12, 0)) == at(2026, 12, 4, 8, 30)
    # After Friday's: Monday's.
    assert tasks["standup"].next_after(at(2026, 12, 4, 8, 30)) == at(2026, 12, 7, 8, 30)


def test_a_pass_enqueues_what_is_due_once_and_a_worker_runs_it(stub_broker, stub_worker):
    ran = []
    stub_broker.add_middleware(CurrentMessage())

    @dramatiq.actor
    def report(name, *, loud=False):
        ran.append((name, loud, CurrentMessage.get_current_message().options["periodic_tick"]))

    dramatiq.schedule(report, "0 * * * *", args=("hourly",), kwargs={"loud": True})
    first, second = Scheduler(stub_broker), Scheduler(stub_broker)
    tick = at(2026, 12, 3, 15, 0)

    # Both read the broker's last tick (none yet) before the hour.
    assert first.run_due(tick - 1) == [] and second.run_due(tick - 1) == []
    [outcome] = first.run_due(tick + 2)  # within the grace period
    assert outcome == {"name": "report", "tick_ms": tick * 1000, "enqueued": True, "missed": 0, "error": None}
    # The other one reaches the same tick: the broker has it, not again.
    [again] = second.run_due(tick + 3)
    assert again["enqueued"] is False and again["tick_ms"] == tick * 1000

    stub_broker.join("default")
    stub_worker.join()
    assert ran == [("hourly", True, tick * 1000)]

    [state] = first.schedules(now=tick + 10)
    assert state.name == "report" and state.actor_name == "report" and state.cron == "0 * * * *"
    assert state.last_run == datetime.datetime(2026, 12, 3, 15, 0, tzinfo=datetime.timezone.utc)
    assert state.next_run == datetime.datetime(2026, 12, 3, 16, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("missed, enqueued", [("skip", False), ("run_once", True)])
def test_ticks_missed_while_no_scheduler_ran_follow_the_policy(stub_broker, missed, enqueued):
    @dramatiq.actor(periodic="0 * * * *", periodic_missed=missed)
    def hourly():
        pass

    scheduler = Scheduler(stub_broker)
    tick = at(2026, 12, 3, 10, 0)
    assert scheduler.run_due(tick)[0]["enqueued"] is True
    # Down from 10:00:01 to 14:30: the ticks of 11:00 to 14:00 were missed.
    restarted = Scheduler(stub_broker)
    [outcome] = restarted.run_due(at(2026, 12, 3, 14, 30))
    assert outcome["tick_ms"] == at(2026, 12, 3, 14, 0) * 1000
    assert outcome["enqueued"] is enqueued
    assert outcome["missed"] == (3 if enqueued else 4)
    assert stub_broker.queues["default"].qsize() == (2 if enqueued else 1)


def test_the_embedded_broker_records_ticks_across_schedulers(tmp_path):
    broker = SQLiteBroker(path=str(tmp_path / "broker.sqlite3"))
    try:
        @dramatiq.actor(broker=broker, periodic="*/10 * * * * *")
        def often():
            pass

        tick = at(2026, 12, 3, 15, 0, 10)
        racing = Scheduler(broker)
        assert racing.run_due(tick - 1) == []
        assert Scheduler(broker).run_due(tick)[0]["enqueued"] is True
        assert racing.run_due(tick)[0]["enqueued"] is False  # it was there first
        assert Scheduler(broker).run_due(tick) == []  # a new one knows from the broker
        [state] = Scheduler(broker).schedules(now=tick)
        assert state.last_run == datetime.datetime(2026, 12, 3, 15, 0, 10, tzinfo=datetime.timezone.utc)
    finally:
        broker.close()
    reopened = SQLiteBroker(path=str(tmp_path / "broker.sqlite3"))
    try:
        @dramatiq.actor(broker=reopened, periodic="*/10 * * * * *")
        def often():  # noqa: F811 (the same actor, in a new process)
            pass

        [state] = Scheduler(reopened).schedules(now=tick)
        assert state.last_run is not None and state.next_run == datetime.datetime(
            2026, 12, 3, 15, 0, 20, tzinfo=datetime.timezone.utc)
    finally:
        reopened.close()


def test_a_broker_that_cannot_record_ticks_is_refused():
    # A broker written in Python has nowhere the engine could record ticks.
    broker = EnginelessBroker()

    @dramatiq.actor(broker=broker, periodic="* * * * *")
    def periodic():
        pass

    with pytest.raises(ValueError, match="cannot enqueue periodic ticks yet"):
        Scheduler(broker)
