"""The dashboard's ASGI application: pages, JSON API and event stream."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import re
import threading
import time
from importlib import resources
from typing import Any, Callable, Optional

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("the dramatiq dashboard needs Starlette: pip install 'dramatiq[dashboard]'") from e

from ..errors import BrokerConnectionError, QueueNotFound

_logger = logging.getLogger("dramatiq.dashboard")


class _Snapshots:
    """Queue counts and worker records read at most once per ``refresh``
    seconds, however many pages and streams ask (each read is a round trip
    per queue, and one for the records)."""

    def __init__(self, broker: Any, queues: Optional[Callable[[], list]], refresh: float) -> None:
        self.broker = broker
        self.queues = queues or (lambda: sorted(broker.get_declared_queues()))
        self.refresh = refresh
        self.lock = threading.RLock()  # read() reads the workers' records too
        self.read_at = 0.0
        self.snapshot: Optional[dict] = None
        self.workers_read_at = 0.0
        self.workers_snapshot: Optional[dict] = None

    def queue_names(self) -> list:
        return list(self.queues())

    def read(self) -> dict:
        with self.lock:
            if self.snapshot is None or time.monotonic() - self.read_at >= self.refresh:
                queues = [dict(name=name, **self.broker.get_queue_counts(name)) for name in self.queue_names()]
                if any(queue["in_flight"] is None for queue in queues):
                    self.fill_in_flight_from_workers(queues)
                self.snapshot = {"queues": queues, "at": time.time()}
                self.read_at = time.monotonic()
            return self.snapshot

    def fill_in_flight_from_workers(self, queues: list) -> None:
        # A broker that cannot count what it delivered and has not had
        # settled (RabbitMQ): the sum of what the workers say they hold.
        try:
            records = self.read_workers()["workers"]
        except NotImplementedError:
            return
        for queue in queues:
            if queue["in_flight"] is None:
                queue["in_flight"] = sum(record["held"].get(queue["name"], 0) for record in records)

    def read_workers(self) -> dict:
        """``{"workers": [...], "at": seconds}``; NotImplementedError when
        the broker keeps no worker records."""
        with self.lock:
            if self.workers_snapshot is None or time.monotonic() - self.workers_read_at >= self.refresh:
                workers = sorted(self.broker.get_worker_records(),
                                 key=lambda record: (record["hostname"], record["pid"], record["started_at"]))
                self.workers_snapshot = {"workers": workers, "at": time.time()}
                self.workers_read_at = time.monotonic()
            return self.workers_snapshot


def _percentile(ordered: list, fraction: float) -> Optional[int]:
    """Nearest-rank percentile of a sorted list (None when it is empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# The counts of a worker's record charted as rates.
_COUNTS = ("processed", "failed", "retried", "skipped")


class _Throughput:
    """What the workers' records tell over the last hour, sampled once per
    ``refresh`` seconds by a thread of the app's (while it is served):
    messages processed, failed, retried and skipped per second, and the 50th and
    99th percentiles of how long messages ran and waited.

    A worker's rate is the change of its counts between its two latest
    records over the time between them, kept until its next record; a
    point sums the rates of the workers listed then. Percentiles are of the
    timings in the records that arrived since the previous point (None when
    none did)."""

    WINDOW_S = 3600

    def __init__(self, snapshots: "_Snapshots", refresh: float) -> None:
        self.snapshots = snapshots
        self.refresh = refresh
        self.points: collections.deque = collections.deque(maxlen=int(self.WINDOW_S / refresh) + 1)
        self.lock = threading.Lock()
        self.latest: dict = {}  # worker id -> its newest record
        self.rates: dict = {}  # worker id -> (processed, failed, skipped) per second
        self.supported = True
        self.stopping = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def sample(self) -> None:
        snapshot = self.snapshots.read_workers()
        durations: list = []
        waits: list = []
        listed = set()
        for record in snapshot["workers"]:
            worker_id = record["worker_id"]
            listed.add(worker_id)
            previous = self.latest.get(worker_id)
            if previous is not None and previous["heartbeat_at"] == record["heartbeat_at"]:
                continue  # read before; its timings are counted already
            if previous is not None and record["heartbeat_at"] > previous["heartbeat_at"]:
                seconds = (record["heartbeat_at"] - previous["heartbeat_at"]) / 1000
                self.rates[worker_id] = tuple((record[count] - previous[count]) / seconds for count in _COUNTS)
            durations.extend(record["recent_durations"])
            waits.extend(record["recent_waits"])
            self.latest[worker_id] = record
        for gone in set(self.latest) - listed:
            self.latest.pop(gone, None)
            self.rates.pop(gone, None)
        totals = {count: round(sum(rate[i] for rate in self.rates.values()), 3) for i, count in enumerate(_COUNTS)}
        durations.sort()
        waits.sort()
        point = {"at": snapshot["at"], "workers": len(listed), **totals,
                 "duration_p50": _percentile(durations, 0.5), "duration_p99": _percentile(durations, 0.99),
                 "wait_p50": _percentile(waits, 0.5), "wait_p99": _percentile(waits, 0.99)}
        with self.lock:
            self.points.append(point)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sample()
            except NotImplementedError:
                self.supported = False
                return
            except Exception as e:  # the broker out of reach for a moment: the next sample tries again
                _logger.debug("Could not sample the workers' records: %s", e)
            self.stopping.wait(self.refresh)

    def start(self) -> None:
        self.stopping.clear()
        self.thread = threading.Thread(target=self.run, name="dramatiq-dashboard-sampler", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(10)

    def since(self, seconds: float) -> list:
        with self.lock:
            points = list(self.points)
        if not points:
            return points
        newest = points[-1]["at"]
        return [point for point in points if point["at"] >= newest - seconds]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _BadRequest(Exception):
    """A request the API refuses: a 4xx with ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: The most dead letters one listing returns.
MAX_DEAD_LETTERS = 1000

# ASCII digits only: str.isdigit() accepts "²", which int() refuses.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
# What a message id may be: upstream's are UUIDs; others' ids are printable words.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")


def _milliseconds(moment: Optional[Any]) -> Optional[int]:
    return None if moment is None else int(moment.timestamp() * 1000)


def _schedule_states(broker: Any) -> dict:
    """The broker's schedules with their last and next runs (ms since the
    epoch); NotImplementedError on a broker that cannot record ticks."""
    from ..schedules import Scheduler

    try:
        scheduler = Scheduler(broker)
    except ValueError as e:
        raise NotImplementedError(str(e)) from e
    return {"schedules": [{"name": state.name, "actor_name": state.actor_name, "cron": state.cron,
                           "timezone": state.timezone or "UTC", "missed": state.missed or "skip",
                           "last_run": _milliseconds(state.last_run), "next_run": _milliseconds(state.next_run)}
                          for state in scheduler.schedules()],
            "at": time.time()}


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it: what the encoder cannot (bytes, a
    pickled object) is shown by its repr."""
    return json.loads(json.dumps(value, default=repr))


def _message_view(message: Any) -> dict:
    """A message as the pages show it; raw bytes that do not decode as text."""
    if isinstance(message, (bytes, bytearray)):
        return {"message_id": None, "actor_name": None, "args": None, "kwargs": None, "options": None,
                "enqueued_at": None, "raw": bytes(message[:4096]).decode("utf-8", "replace")}
    return {"message_id": message.message_id, "actor_name": message.actor_name,
            "args": _json_safe(list(message.args)), "kwargs": _json_safe(dict(message.kwargs)),
            "options": _json_safe(dict(message.options)), "enqueued_at": message.message_timestamp}


def _dead_letter_view(letter: Any) -> dict:
    view: dict = {"id": letter.id, "message_id": letter.message_id, "dead_at": letter.dead_at,
                  "failure": letter.failure, "traceback": letter.traceback}
    message = letter.message
    if isinstance(message, (bytes, bytearray)):
        view.update(actor_name=None, args=None, kwargs=None, options=None, retries=None,
                    raw=bytes(message[:4096]).decode("utf-8", "replace"))
    else:
        options = _json_safe(dict(message.options))
        view.update(actor_name=message.actor_name, args=_json_safe(list(message.args)),
                    kwargs=_json_safe(dict(message.kwargs)), options=options,
                    retries=options.get("retries", 0))
        if view["traceback"] is None and isinstance(options.get("traceback"), str):
            view["traceback"] = options["traceback"]  # the Retries middleware's record
    return view


async def _selection(request: Request) -> list:
    """The dead letters an action names: ``{"ids": [...]}`` or ``{"all": true}``
    (all of them is [])."""
    try:
        body = await request.json()
    except ValueError:
        raise _BadRequest(400, 'the body must be JSON: {"ids": [...]} or {"all": true}')
    if not isinstance(body, dict) or ("ids" in body) == ("all" in body):
        raise _BadRequest(400, 'name the dead letters: {"ids": [...]} or {"all": true}')
    if "all" in body:
        if body["all"] is not True:
            raise _BadRequest(400, '"all" must be true')
        return []
    ids = body["ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise _BadRequest(400, '"ids" must be a non-empty list of dead letter ids (strings)')
    if len(ids) > MAX_DEAD_LETTERS:
        raise _BadRequest(400, "at most %d ids at once" % MAX_DEAD_LETTERS)
    return ids


def create_app(
    broker: Any = None,
    *,
    queues: Optional[Callable[[], list]] = None,
    read_only: bool = False,
    authorize: Optional[Callable[[Any], bool]] = None,
    refresh: float = 1.0,
) -> Starlette:
    """The dashboard of ``broker`` as an ASGI application.

    Parameters:
      broker(Broker): the broker to show; by default the global one.
      queues(callable): returns the queue names to list; by default the
        queues declared on ``broker`` (the application's actors').
      read_only(bool): refuse every action that changes the broker (a 403),
        and show none on the pages.
      authorize(callable): called with each request (a Starlette
        ``Request``); a false answer is a 403. The host application's
        authentication goes here.
      refresh(float): seconds between two reads of the counts and of the
        workers' records, between two events of the live stream, and
        between two points of the throughput charts.
    """
    if broker is None:
        from ..broker import get_broker

        broker = get_broker()
    if refresh <= 0:
        raise ValueError("refresh must be positive")
    cache = _Snapshots(broker, queues, refresh)
    throughput = _Throughput(cache, refresh)

    def guarded(endpoint):
        async def handler(request: Request) -> Response:
            if authorize is not None and not authorize(request):
                return _error(403, "not authorized")
            try:
                return await endpoint(request)
            except _BadRequest as e:
                return _error(e.status, e.message)
            except NotImplementedError as e:
                return _error(501, str(e))
            except BrokerConnectionError as e:
                return _error(503, "the broker cannot be reached: %s" % e)
        return handler

    def changing(endpoint):
        # Actions that change the broker: refused in read-only mode.
        async def handler(request: Request) -> Response:
            if read_only:
                return _error(403, "the dashboard is read-only")
            return await endpoint(request)
        return handler

    async def known_queue(request: Request) -> str:
        name = request.path_params["name"]
        names = await run_in_threadpool(cache.queue_names)
        if name not in names:
            raise _BadRequest(404, "no queue named %r (known: %s)" % (name, ", ".join(names) or "none"))
        return name

    def dead_letter_operation(verb: str):
        return getattr(broker, verb + "_dead_letters")

    def page(name: str) -> Response:
        text = resources.files(__package__).joinpath("static/" + name).read_text(encoding="utf-8")
        return HTMLResponse(text.replace("{{read_only}}", "true" if read_only else "false"))

    async def index(request: Request) -> Response:
        return page("queues.html")

    async def workers_page(request: Request) -> Response:
        return page("workers.html")

    async def list_workers(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(cache.read_workers))

    async def throughput_page(request: Request) -> Response:
        return page("throughput.html")

    async def throughput_points(request: Request) -> Response:
        raw_minutes = request.query_params.get("minutes", "60")
        if not _WHOLE_NUMBER.fullmatch(raw_minutes) or not 1 <= int(raw_minutes) <= 60:
            raise _BadRequest(400, "minutes must be a whole number from 1 to 60")
        await run_in_threadpool(cache.read_workers)  # NotImplementedError: a broker that keeps no records
        return JSONResponse({"points": throughput.since(int(raw_minutes) * 60), "refresh": refresh})

    async def schedules_page(request: Request) -> Response:
        return page("schedules.html")

    async def list_schedules(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(_schedule_states, broker))

    async def cancel_message(request: Request) -> Response:
        from ..cancellation import cancel

        message_id = request.path_params["message_id"]
        if not _MESSAGE_ID.fullmatch(message_id):
            raise _BadRequest(400, "a message id is 1 to 200 letters, digits and . _ : -")
        await run_in_threadpool(lambda: cancel(message_id, broker=broker))
        return JSONResponse({"cancelled": message_id})

    async def queue_page(request: Request) -> Response:
        await known_queue(request)
        return page("queue.html")

    async def dead_letters(request: Request) -> Response:
        name = await known_queue(request)
        raw_limit = request.query_params.get("limit", "100")
        if not _WHOLE_NUMBER.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_DEAD_LETTERS:
            raise _BadRequest(400, "limit must be a whole number from 1 to %d" % MAX_DEAD_LETTERS)
        letters = await run_in_threadpool(dead_letter_operation("get"), name, int(raw_limit))
        return JSONResponse({"queue": name, "dead_letters": [_dead_letter_view(letter) for letter in letters]})

    async def waiting_messages(request: Request) -> Response:
        name = await known_queue(request)
        raw_limit = request.query_params.get("limit", "100")
        if not _WHOLE_NUMBER.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_DEAD_LETTERS:
            raise _BadRequest(400, "limit must be a whole number from 1 to %d" % MAX_DEAD_LETTERS)
        waiting = await run_in_threadpool(broker.get_messages, name, int(raw_limit))
        views = []
        for each in waiting:
            view = _message_view(each.message)
            view["delayed"] = each.delayed
            view["eta"] = (view["options"] or {}).get("eta")
            views.append(view)
        return JSONResponse({"queue": name, "messages": views})

    def dead_letter_action(verb: str, done: str):
        async def action(request: Request) -> Response:
            name = await known_queue(request)
            ids = await _selection(request)
            count = await run_in_threadpool(dead_letter_operation(verb), name, ids)
            if ids and count == 0:
                raise _BadRequest(404, "no dead letter of queue %r has any of these ids" % name)
            return JSONResponse({"queue": name, done: count})
        return action

    async def list_queues(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(cache.read))

    async def one_queue(request: Request) -> Response:
        name = await known_queue(request)
        try:
            counts = await run_in_threadpool(broker.get_queue_counts, name)
        except QueueNotFound:
            return _error(404, "no queue named %r" % name)
        view = dict(name=name, **counts)
        if view["in_flight"] is None:
            await run_in_threadpool(cache.fill_in_flight_from_workers, [view])
        return JSONResponse(view)

    async def events(request: Request) -> Response:
        async def stream():
            keeps_workers = True
            while True:
                snapshot = await run_in_threadpool(cache.read)
                yield "event: queues\ndata: %s\n\n" % json.dumps(snapshot)
                if keeps_workers:
                    try:
                        workers = await run_in_threadpool(cache.read_workers)
                    except NotImplementedError:
                        keeps_workers = False  # the broker keeps none: the workers page says so
                    else:
                        yield "event: workers\ndata: %s\n\n" % json.dumps(workers)
                await asyncio.sleep(refresh)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    routes = [
        Route("/", guarded(index)),
        Route("/api/queues", guarded(list_queues)),
        Route("/schedules", guarded(schedules_page)),
        Route("/api/schedules", guarded(list_schedules)),
        Route("/api/messages/{message_id}/cancel", guarded(changing(cancel_message)), methods=["POST"]),
        Route("/throughput", guarded(throughput_page)),
        Route("/api/throughput", guarded(throughput_points)),
        Route("/workers", guarded(workers_page)),
        Route("/api/workers", guarded(list_workers)),
        Route("/queues/{name}", guarded(queue_page)),
        Route("/api/queues/{name}", guarded(one_queue)),
        Route("/api/queues/{name}/messages", guarded(waiting_messages)),
        Route("/api/queues/{name}/dead", guarded(dead_letters)),
        Route("/api/queues/{name}/dead/requeue", guarded(changing(dead_letter_action("requeue", "requeued"))),
              methods=["POST"]),
        Route("/api/queues/{name}/dead/delete", guarded(changing(dead_letter_action("delete", "deleted"))),
              methods=["POST"]),
        Route("/api/events", guarded(events)),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and methods answer in JSON too, as the API does.
        status = getattr(exc, "status_code", 500)
        return _error(status, getattr(exc, "detail", None) or "error")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        # Sampling runs while the app is served, whether anyone looks or not.
        throughput.start()
        try:
            yield
        finally:
            await run_in_threadpool(throughput.stop)

    # Chart.js, shipped in the package: dashboards often run where no CDN is reachable.
    vendor = resources.files(__package__).joinpath("static", "vendor")
    routes.append(Mount("/static/vendor", StaticFiles(directory=str(vendor))))
    app = Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error}, lifespan=lifespan)
    app.state.broker = broker
    app.state.read_only = read_only
    return app
