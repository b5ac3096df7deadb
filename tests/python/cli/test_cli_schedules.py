"""The ``dramatiq`` command's scheduler (issue 18): the first worker
process of every command enqueues the periodic actors' ticks, each tick
once however many commands run on one broker; ``--no-scheduler``;
``dramatiq schedules``."""

import datetime

from cli_support import stop, wait_ready, wait_until, write_app

PERIODIC_APP = '''
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

broker = RedisBroker(url=os.environ["REDIS_URL"])
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)


@dramatiq.actor(periodic="* * * * * *")  # every second
def every_second():
    message = CurrentMessage.get_current_message()
    broker.client.rpush("ticks", "%d %d" % (message.options["periodic_tick"], os.getpid()))


@dramatiq.actor
def report(name):
    broker.client.rpush("reports", name)


dramatiq.schedule(report, "0 0 * * *", args=("daily",), name="daily-report", timezone="Europe/Paris")
'''

SCHEDULING = "Scheduling 2 periodic task(s): every_second, daily-report."


def test_two_commands_on_one_broker_enqueue_each_tick_once(command, redis_client, tmp_path):
    write_app(tmp_path, PERIODIC_APP)
    first = command.start("app", "-p", "2", "-t", "2")
    second = command.start("app", "-p", "2", "-t", "2")
    wait_ready(first, 2)
    wait_ready(second, 2)

    def distinct_ticks():
        return {int(line.split()[0]) for line in redis_client.lrange("ticks", 0, -1)}

    # Three ticks after both commands were scheduling.
    started = max(distinct_ticks() or {0})
    wait_until(lambda: len({t for t in distinct_ticks() if t > started}) >= 3, "three more ticks", first)
    assert stop(first) == 0, first.describe()
    assert stop(second) == 0, second.describe()

    ticks = [int(line.split()[0]) for line in redis_client.lrange("ticks", 0, -1)]
    assert len(ticks) == len(set(ticks)), ticks  # none enqueued twice
    assert all(tick % 1000 == 0 for tick in ticks)
    # Only each command's first worker process schedules.
    for child in (first, second):
        assert child.stderr().count(SCHEDULING) == 1, child.describe()
    assert redis_client.lrange("reports", 0, -1) == []  # its tick is at midnight, Paris time

    listed = command.run("schedules", "app")
    assert listed.process.returncode == 0, listed.describe()
    lines = listed.stdout().splitlines()
    assert lines[0].split() == ["NAME", "ACTOR", "CRON", "TIMEZONE", "MISSED", "LAST", "RUN", "NEXT", "RUN"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    last = datetime.datetime.fromtimestamp(max(ticks) / 1000, tz=datetime.timezone.utc)
    assert last.strftime("%Y-%m-%d %H:%M:%S UTC") in by_name["every_second"]
    assert "* * * * * *" in by_name["every_second"] and "skip" in by_name["every_second"]
    daily = by_name["daily-report"].split()
    assert daily[1:6] == ["report", "0", "0", "*", "*"] and "Europe/Paris" in daily
    assert daily[daily.index("Europe/Paris") + 2] == "-"  # never ran
    next_run = " ".join(daily[-3:])
    assert next_run.endswith(("23:00:00 UTC", "22:00:00 UTC"))  # Paris midnight, winter or summer time


def test_no_scheduler_leaves_the_ticks_to_other_commands(command, redis_client, tmp_path):
    write_app(tmp_path, PERIODIC_APP)
    child = command.start("app", "-p", "1", "-t", "1", "--no-scheduler")
    wait_ready(child, 1)
    # The first worker process decides before it says it is ready.
    assert SCHEDULING not in child.stderr(), child.describe()
    assert stop(child) == 0, child.describe()


def test_schedules_of_an_application_without_any(command, tmp_path):
    write_app(tmp_path)  # the plain application
    listed = command.run("schedules", "app")
    assert listed.process.returncode == 0, listed.describe()
    assert listed.stdout().strip() == "No periodic tasks."


def test_an_unscheduleable_periodic_actor_is_reported(command, tmp_path):
    write_app(tmp_path, PERIODIC_APP.replace('timezone="Europe/Paris"', 'timezone="Nowhere/Else"'))
    listed = command.run("schedules", "app")
    assert listed.process.returncode != 0
    assert "unknown time zone 'Nowhere/Else'" in listed.stderr(), listed.describe()

