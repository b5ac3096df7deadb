"""Running coroutine actors: one event loop thread per worker process."""

from __future__ import annotations

import asyncio
import functools
import threading
import concurrent.futures
from typing import Awaitable, Callable, Optional, TypeVar

try:
    from typing import ParamSpec
except ImportError:  # Python 3.9: a plain type variable stands in
    ParamSpec = TypeVar  # type: ignore[misc,assignment]

from .logging import get_logger

P = ParamSpec("P")
R = TypeVar("R")

_event_loop_thread: Optional["EventLoopThread"] = None


def get_event_loop_thread() -> Optional["EventLoopThread"]:
    """The running event loop thread, if the AsyncIO middleware started one."""
    return _event_loop_thread


def set_event_loop_thread(thread: Optional["EventLoopThread"]) -> None:
    """Install (or clear) the global event loop thread.

    Parameters:
      thread: the EventLoopThread actors' coroutines run on, or None.
    """
    global _event_loop_thread
    _event_loop_thread = thread


class EventLoopThread(threading.Thread):
    """A daemon thread running an asyncio loop that actors' coroutines run on.

    Parameters:
      logger: the logger it reports to (by default the module's).
      interrupt_check_ival: seconds between checks for an interrupt of a waiting thread.
    """

    def __init__(self, logger=None, interrupt_check_ival: float = 0.1) -> None:
        super().__init__(daemon=True, name="EventLoopThread")
        self.logger = logger or get_logger(__name__, type(self))
        self.loop = asyncio.new_event_loop()
        self.interrupt_check_ival = interrupt_check_ival
        self._ready = threading.Event()

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()
        self.loop.close()

    def start(self, *, timeout: Optional[float] = None) -> None:
        """Start the thread and wait until its event loop runs.

        Parameters:
          timeout: seconds to wait for the loop to run (RuntimeError after).
        """
        super().start()
        if not self._ready.wait(timeout):
            raise RuntimeError("Event loop failed to start.")

    def stop(self):
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.join()

    def run_coroutine(self, coroutine: Awaitable[R]) -> R:
        """Run ``coroutine`` on the loop and wait for its result from this
        (worker) thread. Interrupts raised in the waiting thread (time
        limits, shutdown) cancel the coroutine.

        Parameters:
          coroutine: the awaitable to run on the loop.
        """
        from .middleware.threading import Interrupt  # here: middleware imports this module

        if not asyncio.iscoroutine(coroutine):
            raise TypeError("A coroutine object is required")
        run = _CancellableRun(coroutine)
        future = asyncio.run_coroutine_threadsafe(run.main(), self.loop)
        try:
            # Wait in short slices so async exceptions raised in this
            # thread get a chance to be delivered. Not future.result(timeout):
            # its timeout is the builtin TimeoutError (Python 3.11+), which a
            # coroutine may raise itself and must then reach the caller.
            while not future.done():
                concurrent.futures.wait([future], timeout=self.interrupt_check_ival)
            return future.result()
        except Interrupt:
            # Cancel the task on the loop, not the concurrent future: that one
            # is done the moment it is cancelled, while the coroutine's cleanup
            # (finally blocks, context managers) has yet to run. The task's
            # end is what completes the future, so waiting on it waits for
            # the cleanup before the interrupt goes on.
            self.loop.call_soon_threadsafe(run.cancel)
            while not future.done():
                concurrent.futures.wait([future], timeout=self.interrupt_check_ival)
            raise
        finally:
            # An exception the coroutine raised leaves with a traceback that
            # holds this frame, whose future holds the exception: a cycle
            # only the garbage collector would break. Let go of the future.
            del future


class _CancellableRun:
    """A coroutine run as a task that can be cancelled from another thread.

    ``main`` and ``cancel`` both run on the loop thread, so whichever comes
    first decides: cancelled before it started, the coroutine never runs
    (and is closed, so it is not reported as never awaited); cancelled while
    running, its task is cancelled and unwinds.
    """

    def __init__(self, coroutine) -> None:
        self.coroutine = coroutine
        self.task: Optional[asyncio.Task] = None
        self.cancelled = False

    async def main(self):
        if self.cancelled:
            self.coroutine.close()
            raise asyncio.CancelledError()
        self.task = asyncio.current_task()
        try:
            return await self.coroutine
        finally:
            # The task keeps the coroutine's exception, whose traceback holds
            # this frame: drop the task so that is not a reference cycle.
            self.task = None

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


def async_to_sync(fn: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """Wrap a coroutine function so calling it runs it on the event loop thread.

    Parameters:
      fn: the coroutine function to wrap.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        thread = get_event_loop_thread()
        if thread is None:
            raise RuntimeError(
                "Global event loop thread not set. Have you added the AsyncIO middleware to your middleware stack?"
            )
        from .middleware.current_message import _ASYNC_MESSAGE, get_current_message

        # The coroutine is made here, as upstream's, and runs in a copy of
        # this thread's context (run_coroutine_threadsafe copies it): set
        # for the copy, the current message is the coroutine's too.
        token = _ASYNC_MESSAGE.set(get_current_message())
        try:
            return thread.run_coroutine(fn(*args, **kwargs))
        finally:
            _ASYNC_MESSAGE.reset(token)

    return wrapper
