"""Prometheus: message metrics counted by the engine, served over HTTP by
the ``dramatiq`` command.

Each worker process's engine counts into its own memory-mapped file in
``DB_PATH`` (atomic adds, no Python per message); the exposition server,
which the worker command runs in a fork process, merges every file of the
directory on each scrape.  See docs/prometheus.md.
"""

from __future__ import annotations

import os
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import _engine
from ..logging import get_logger
from .middleware import Middleware

#: The directory of the per-process metrics files (``dramatiq_prom_db``).
#: Counts of processes that have exited stay part of the totals until the
#: directory is emptied.
DB_PATH = os.getenv("dramatiq_prom_db", "%s/dramatiq-prometheus" % tempfile.gettempdir())

os.makedirs(DB_PATH, exist_ok=True)

#: The address the exposition server binds to (``dramatiq_prom_host``).
HTTP_HOST = os.getenv("dramatiq_prom_host", "0.0.0.0")

#: The port the exposition server listens on (``dramatiq_prom_port``).
HTTP_PORT = int(os.getenv("dramatiq_prom_port", "9191"))

#: The Content-Type of the exposition (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Prometheus(Middleware):
    """Exports message metrics to Prometheus_: messages processed, errored,
    retried and dead-lettered, messages in progress, delayed messages held
    in memory and processing durations, labelled by ``queue_name`` and
    ``actor_name``.  The ``dramatiq`` command serves them on
    ``HTTP_HOST:HTTP_PORT``.

    .. _Prometheus: https://prometheus.io
    """

    def __init__(self) -> None:
        self._native = _engine.Prometheus(DB_PATH)

    @property
    def forks(self):
        """The exposition server, run by the worker command in a fork process."""
        return [_run_exposition_server]


def render_metrics(db_path: str | None = None) -> bytes:
    """The metrics of every process that counted into ``db_path`` (default
    ``DB_PATH``), in Prometheus text format.

    Parameters:
      db_path: the metrics database to read; by default ``DB_PATH``.
    """
    return _engine.render_prometheus_metrics(DB_PATH if db_path is None else db_path)


class _metrics_handler(BaseHTTPRequestHandler):
    """Answers every GET with the current metrics."""

    def do_GET(self) -> None:
        """Serve the metrics."""
        output = render_metrics()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(output)))
        self.end_headers()
        self.wfile.write(output)

    def log_message(self, fmt, *args) -> None:
        """Request logs go to this module's logger, at debug level."""
        get_logger(__name__, type(self)).debug(fmt, *args)


class _SupervisorGone(Exception):
    """The process that started the exposition server has exited."""


class _ExpositionServer(ThreadingHTTPServer):
    """An HTTP server that stops when the process that started it (the
    worker command's supervisor) is gone: a supervisor killed with SIGKILL
    cannot stop its fork processes, and the port must not stay taken."""

    daemon_threads = True

    def __init__(self, address, handler) -> None:
        super().__init__(address, handler)
        self._parent = os.getppid()

    def service_actions(self) -> None:
        """Called by serve_forever between polls."""
        if os.getppid() != self._parent:
            raise _SupervisorGone()


def _run_exposition_server() -> int:
    """Serve the metrics over HTTP until the process is told to stop."""
    logger = get_logger(__name__, "_run_exposition_server")
    logger.debug("Starting exposition server on %s:%d...", HTTP_HOST, HTTP_PORT)
    try:
        httpd = _ExpositionServer((HTTP_HOST, HTTP_PORT), _metrics_handler)
    except OSError as e:
        logger.error("Cannot serve metrics on %s:%d: %s", HTTP_HOST, HTTP_PORT, e)
        return 1
    try:
        httpd.serve_forever(poll_interval=1.0)
    except KeyboardInterrupt:
        pass
    except _SupervisorGone:
        logger.warning("The supervisor process is gone; stopping the exposition server.")
    finally:
        # The worker command stops fork processes with SIGTERM, which
        # arrives here as SystemExit: release the port on the way out.
        logger.debug("Stopping exposition server...")
        httpd.server_close()
    return 0
