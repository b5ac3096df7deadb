"""Periodic tasks: actors declared with a cron schedule, and schedules added
with ``schedule()``, enqueued at their ticks by the engine's scheduler.

An actor is periodic when declared with ``periodic``::

    @dramatiq.actor(periodic="*/5 * * * *")            # every five minutes
    def report(): ...

    @dramatiq.actor(periodic="0 30 9 * * mon-fri",     # seconds first
                    periodic_timezone="Europe/Paris", periodic_missed="run_once")
    def standup(): ...

The ``dramatiq`` command runs the scheduler in its first worker process
(``--no-scheduler`` turns it off). Any number of commands, on any number
of hosts, may run it at once: the broker records each schedule's last
tick and takes a tick only once, so each is enqueued exactly once.
``dramatiq schedules APP`` lists the schedules with their last and next
runs. When periodiq's middleware is on the broker, periodiq does the
scheduling and ours stays off, so no tick fires twice.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, NamedTuple, Optional

from . import _engine
from .actor import Actor
from .broker import Broker

#: periodiq's middleware: when it is on a broker, periodiq schedules.
_PERIODIQ_MIDDLEWARE = ("periodiq", "PeriodiqMiddleware")


def schedule(actor: Actor, cron: Any, *, args: tuple = (), kwargs: Optional[dict] = None,
             name: Optional[str] = None, timezone: Optional[str] = None, missed: Optional[str] = None,
             options: Optional[dict] = None) -> Any:
    """Enqueue a message to ``actor`` at every tick of ``cron``.

    Raises ``ValueError`` saying what is wrong with the expression, the
    zone or the policy, or when the name is taken.

    Parameters:
      actor(Actor): the actor the messages go to (on its broker).
      cron(str): a cron expression, seconds optional ("*/5 * * * *",
        "0 0 9 * * mon-fri", "@hourly"), or periodiq's ``cron(...)``.
      args(tuple): the messages' positional arguments.
      kwargs(dict): their keyword arguments.
      name(str): the schedule's name, unique per broker (its last tick is
        recorded under it); by default the actor's name.
      timezone(str): the IANA zone the expression is read in ("UTC").
      missed(str): what becomes of ticks missed while no scheduler ran:
        "skip" (the default) or "run_once" (the latest, once, at once).
      options(dict): message options (``max_retries``, ...).

    Returns:
      PeriodicTask: the schedule (name, cron, timezone, missed, ...).
    """
    task = _engine.PeriodicTask(name or actor.actor_name, str(cron), timezone or "", missed or "",
                                actor.queue_name, actor.actor_name, list(args), dict(kwargs or {}),
                                dict(options or {}))
    added = _added_schedules(actor.broker)
    if task.name in added or task.name in _declared_on_actors(actor.broker):
        raise ValueError(f"A schedule named {task.name!r} already exists on this broker.")
    added[task.name] = task
    return task


def periodic_tasks(broker: Broker) -> list:
    """Every schedule of ``broker``: its periodic actors' and those added
    with ``schedule()``.

    Parameters:
      broker(Broker): the broker.
    """
    return list(_declared_on_actors(broker).values()) + list(_added_schedules(broker).values())


def scheduled_by_periodiq(broker: Broker) -> bool:
    """Whether periodiq's middleware is on ``broker`` (periodiq then runs
    the schedules and ours stays off).

    Parameters:
      broker(Broker): the broker.
    """
    return any((type(m).__module__, type(m).__name__) == _PERIODIQ_MIDDLEWARE for m in broker.middleware)


class ScheduleState(NamedTuple):
    """A schedule as ``Scheduler.schedules()`` lists it."""

    name: str
    actor_name: str
    cron: str
    timezone: str
    missed: str
    last_run: Optional[datetime.datetime]
    next_run: Optional[datetime.datetime]


class Scheduler:
    """Enqueues a broker's periodic tasks at their ticks, from an engine
    thread (no GIL). Many may run on one broker, in any number of
    processes and hosts: each tick is enqueued once among them.

    Raises ``ValueError`` for a broker that cannot record ticks (a broker
    written in Python).

    Parameters:
      broker(Broker): the broker to enqueue on.
      tasks(list[PeriodicTask]): the schedules; by default
        ``periodic_tasks(broker)``.
    """

    def __init__(self, broker: Broker, tasks: Optional[list] = None) -> None:
        self.broker = broker
        self.tasks = periodic_tasks(broker) if tasks is None else list(tasks)
        self._native = _engine.Scheduler(broker._native, self.tasks)

    def start(self) -> None:
        """Start the scheduler thread (it checks the clock at each tick)."""
        self._native.start()

    def stop(self) -> None:
        """Stop the scheduler thread."""
        self._native.stop()

    def run_due(self, now: Optional[float] = None) -> list:
        """Enqueue what is due at ``now`` once, without the thread.

        Parameters:
          now(float): Unix time (default: the current time).

        Returns:
          list[dict]: per schedule handled: name, tick_ms, enqueued (False:
          another scheduler had), missed (ticks skipped), error.
        """
        return self._native.run_due(time.time() if now is None else now)

    def schedules(self, now: Optional[float] = None) -> list:
        """Each schedule with its last run recorded in the broker and its
        next run.

        Parameters:
          now(float): Unix time to list the next runs after (default: now).

        Returns:
          list[ScheduleState]
        """
        by_name = {task.name: task for task in self.tasks}
        listed = []
        for name, last_ms, next_ms in self._native.states(time.time() if now is None else now):
            task = by_name[name]
            listed.append(ScheduleState(name, task.actor_name, task.cron, task.timezone, task.missed,
                                        _utc(last_ms), _utc(next_ms)))
        return listed


def _utc(milliseconds: Optional[int]) -> Optional[datetime.datetime]:
    if milliseconds is None:
        return None
    return datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.timezone.utc)


def _added_schedules(broker: Broker) -> dict:
    added = broker.__dict__.get("_added_schedules")
    if added is None:
        added = broker.__dict__["_added_schedules"] = {}
    return added


def _declared_on_actors(broker: Broker) -> dict:
    tasks = {}
    for actor in list(broker.actors.values()):
        options = getattr(actor, "options", {})
        if options.get("periodic") is None:
            continue
        tasks[actor.actor_name] = _engine.PeriodicTask(
            actor.actor_name, str(options["periodic"]), options.get("periodic_timezone") or "",
            options.get("periodic_missed") or "", actor.queue_name, actor.actor_name, [], {}, {})
    return tasks
