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

        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            # Wait in short slices so async exceptions raised in this
            # thread get a chance to be delivered. Not future.result(timeout):
            # its timeout is the builtin TimeoutError (Python 3.11+), which a
            # coroutine may raise itself and must then reach the caller.
            while not future.done():
                concurrent.futures.wait([future], timeout=self.interrupt_check_ival)
            return future.result()
        except Interrupt:
            # Cancel the coroutine and let its cleanup (finally blocks,
            # context managers) run before the interrupt goes on.
            self.loop.call_soon_threadsafe(future.cancel)
            while not future.done():
                concurrent.futures.wait([future], timeout=self.interrupt_check_ival)
            raise
        finally:
            # An exception the coroutine raised leaves with a traceback that
            # holds this frame, whose future holds the exception: a cycle
            # only the garbage collector would break. Let go of the future.
            del future


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
