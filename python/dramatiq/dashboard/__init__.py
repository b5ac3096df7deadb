"""A web dashboard for any dramatiq broker (docs/dashboard.md).

``create_app(broker)`` returns an ASGI application (Starlette) to serve
with any ASGI server or to mount in an existing web app;
``dramatiq dashboard APP`` serves it with uvicorn. Needs the ``dashboard``
extra: ``pip install dramatiq[dashboard]``.

In progress: the queues page (counts per queue, refreshed live through
server-sent events) and its JSON API exist; workers, plots, message
browsing and dead-letter actions do not yet.
"""

from .app import create_app

__all__ = ["create_app"]
