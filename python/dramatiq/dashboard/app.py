"""The dashboard's ASGI application: pages, JSON API and event stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from importlib import resources
from typing import Any, Callable, Optional

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("the dramatiq dashboard needs Starlette: pip install 'dramatiq[dashboard]'") from e

from ..errors import BrokerConnectionError, QueueNotFound


class _CountsCache:
    """Queue counts read at most once per ``refresh`` seconds, however many
    pages and streams ask (each read is a round trip per queue)."""

    def __init__(self, broker: Any, queues: Optional[Callable[[], list]], refresh: float) -> None:
        self.broker = broker
        self.queues = queues or (lambda: sorted(broker.get_declared_queues()))
        self.refresh = refresh
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.snapshot: Optional[dict] = None

    def queue_names(self) -> list:
        return list(self.queues())

    def read(self) -> dict:
        with self.lock:
            if self.snapshot is None or time.monotonic() - self.read_at >= self.refresh:
                queues = [dict(name=name, **self.broker.get_queue_counts(name)) for name in self.queue_names()]
                self.snapshot = {"queues": queues, "at": time.time()}
                self.read_at = time.monotonic()
            return self.snapshot


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


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
      read_only(bool): refuse every action that changes the broker (a 403).
      authorize(callable): called with each request (a Starlette
        ``Request``); a false answer is a 403. The host application's
        authentication goes here.
      refresh(float): seconds between two reads of the counts, and between
        two events of the live stream.
    """
    if broker is None:
        from ..broker import get_broker

        broker = get_broker()
    if refresh <= 0:
        raise ValueError("refresh must be positive")
    cache = _CountsCache(broker, queues, refresh)

    def guarded(endpoint):
        async def handler(request: Request) -> Response:
            if authorize is not None and not authorize(request):
                return _error(403, "not authorized")
            try:
                return await endpoint(request)
            except BrokerConnectionError as e:
                return _error(503, "the broker cannot be reached: %s" % e)
        return handler

    async def index(request: Request) -> Response:
        page = resources.files(__package__).joinpath("static/queues.html").read_text(encoding="utf-8")
        return HTMLResponse(page.replace("{{read_only}}", "true" if read_only else "false"))

    async def list_queues(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(cache.read))

    async def one_queue(request: Request) -> Response:
        name = request.path_params["name"]
        names = await run_in_threadpool(cache.queue_names)
        if name not in names:
            return _error(404, "no queue named %r (known: %s)" % (name, ", ".join(names) or "none"))
        try:
            counts = await run_in_threadpool(broker.get_queue_counts, name)
        except QueueNotFound:
            return _error(404, "no queue named %r" % name)
        return JSONResponse(dict(name=name, **counts))

    async def events(request: Request) -> Response:
        async def stream():
            while True:
                snapshot = await run_in_threadpool(cache.read)
                yield "event: queues\ndata: %s\n\n" % json.dumps(snapshot)
                await asyncio.sleep(refresh)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    routes = [
        Route("/", guarded(index)),
        Route("/api/queues", guarded(list_queues)),
        Route("/api/queues/{name}", guarded(one_queue)),
        Route("/api/events", guarded(events)),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and methods answer in JSON too, as the API does.
        status = getattr(exc, "status_code", 500)
        return _error(status, getattr(exc, "detail", None) or "error")

    app = Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})
    app.state.broker = broker
    app.state.read_only = read_only
    return app
