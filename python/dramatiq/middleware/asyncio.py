"""AsyncIO: run ``async def`` actors on an event loop thread."""

from __future__ import annotations

from ..asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread
from ..logging import get_logger
from .middleware import Middleware


class AsyncIO(Middleware):
    """Starts an event loop thread when the worker boots and stops it at shutdown."""

    def __init__(self) -> None:
        self.logger = get_logger(__name__, type(self))

    def before_worker_boot(self, broker, worker):
        if get_event_loop_thread() is None:
            thread = EventLoopThread(self.logger)
            thread.start(timeout=1.0)
            set_event_loop_thread(thread)

    def after_worker_shutdown(self, broker, worker):
        thread = get_event_loop_thread()
        if thread is not None:
            thread.stop()
            set_event_loop_thread(None)
