"""The Worker: consumes queues and runs actors, in C++ engine threads."""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import TYPE_CHECKING, Optional

from . import _engine
from .logging import get_logger

if TYPE_CHECKING:
    from .broker import Broker

# The engine resolves a Worker's unset settings (environment, then
# defaults); these constants show what it reads, as upstream's do.
_environment = _engine.worker_environment()
#: Milliseconds an idle worker waits before checking for shutdown when no
#: ``worker_timeout`` is given ($dramatiq_worker_timeout, else 1000).
WORKER_TIMEOUT = _engine.default_worker_timeout()
#: Messages each queue's consumer may hold fetched and unsettled
#: ($dramatiq_queue_prefetch, as upstream; 0: 2 per worker thread).
QUEUE_PREFETCH = _environment["queue_prefetch"] or 0
#: The same for delay queues ($dramatiq_delay_queue_prefetch; 0: 1000 per
#: worker thread).
DELAY_QUEUE_PREFETCH = _environment["delay_queue_prefetch"] or 0
del _environment
#: Milliseconds a consumer thread waits before it opens a new consumer
#: after one failed ($dramatiq_restart_delay, else 3000). A Worker takes
#: ``CONSUMER_RESTART_DELAY_SECS`` as it is when the Worker is made.
CONSUMER_RESTART_DELAY = _engine.default_consumer_restart_delay()
CONSUMER_RESTART_DELAY_SECS = CONSUMER_RESTART_DELAY / 1000

_live_workers: "weakref.WeakSet[Worker]" = weakref.WeakSet()


class Worker:
    """Consumes every declared queue (or ``queues``) with consumer threads
    and runs messages on ``worker_threads`` worker threads. It doesn't block
    the calling thread: call ``join``/``stop`` as needed.

    Parameters:
      broker: the broker to consume from.
      queues: the names of the queues to consume; by default every declared queue.
      worker_timeout: milliseconds a worker thread waits for work before checking for a stop.
      worker_threads: how many worker threads run messages.
    """

    def __init__(self, broker: Broker, *, queues: Optional[set[str]] = None, worker_timeout: Optional[int] = None,
                 worker_threads: Optional[int] = None) -> None:
        # None: the engine's value ($dramatiq_worker_timeout or 1000 ms; 8 threads).
        self.logger = get_logger(__name__, type(self))
        self.broker = broker
        self.consumer_whitelist = set(queues) if queues else None
        self._native = _engine.Worker(broker._native, self.consumer_whitelist, worker_timeout, worker_threads, self,
                                      round(CONSUMER_RESTART_DELAY_SECS * 1000), _patched_process_message_dispatch())
        # Read when the Worker is built, as upstream's: setting (or patching)
        # these module constants changes the prefetch of Workers built after.
        if QUEUE_PREFETCH:
            self._native.queue_prefetch = QUEUE_PREFETCH
        if DELAY_QUEUE_PREFETCH:
            self._native.delay_prefetch = DELAY_QUEUE_PREFETCH
        self._running = False

    @property
    def worker_timeout(self) -> int:
        """Milliseconds an idle consumer waits before checking for shutdown."""
        return self._native.worker_timeout

    @property
    def worker_threads(self) -> int:
        """The number of worker threads."""
        return self._native.worker_threads

    @property
    def queue_prefetch(self) -> int:
        """Messages each queue's consumer may hold fetched and unsettled.
        Setting it changes the consumers opened after: at ``start``, or for
        a queue declared later."""
        return self._native.queue_prefetch

    @queue_prefetch.setter
    def queue_prefetch(self, value: int) -> None:
        self._native.queue_prefetch = value

    @property
    def delay_prefetch(self) -> int:
        """Messages each delay queue's consumer may hold fetched and
        unsettled (set as ``queue_prefetch``)."""
        return self._native.delay_prefetch

    @delay_prefetch.setter
    def delay_prefetch(self, value: int) -> None:
        self._native.delay_prefetch = value

    @property
    def consumers(self) -> dict:
        """The queues (and delay queues) consumed now, each with the
        ``ConsumerThread`` that consumes it (empty until ``start``)."""
        return {name: ConsumerThread(name, ident=None, worker=self) for name in self._native.consumed_queues()}

    @property
    def workers(self) -> list:
        """The running worker threads, as ``WorkerThread`` objects (empty
        until ``start`` and after ``stop``); each can be paused alone."""
        return [WorkerThread(ident=ident, worker=self) for ident in self._native.worker_thread_ids()]

    @property
    def work_queue(self) -> "_WorkQueueView":
        """The messages fetched and waiting for a worker thread (``qsize()``)."""
        return _WorkQueueView(self._native)

    def start(self) -> None:
        """Start the consumer and worker threads."""
        self._native.start()
        self._running = True
        _live_workers.add(self)

    def pause(self) -> None:
        """Pause consuming and processing (waits for in-flight messages)."""
        self._native.pause()

    def resume(self) -> None:
        """Resume after ``pause``; worker threads paused one by one resume too."""
        self._native.resume()

    def join(self) -> None:
        """Wait until every fetched and delayed message has been processed.
        Ctrl-C (``KeyboardInterrupt``) interrupts the wait."""
        self._native.join()

    def stop(self, timeout: Optional[int] = None) -> None:
        """Stop gracefully: running messages finish, prefetched ones are requeued.

        Parameters:
          timeout(int): how long to let running messages finish, in ms
            (``None``: the engine's 600000).  A signal handler's exception
            (Ctrl-C's ``KeyboardInterrupt``) ends that wait early: the
            worker still stops, what runs settles its message when done,
            and the exception propagates.
        """
        if not self._running:
            return
        self._running = False
        try:
            self._native.stop(timeout)
        finally:
            _live_workers.discard(self)


_CURRENT = object()


class ConsumerThread:
    """Describes an engine consumer thread (to thread hooks, and in
    ``Worker.consumers``): which queue it consumes.

    Parameters:
      queue_name(str): the queue.
      ident: the thread's ident (default: the calling thread's, as the
        engine builds it in that thread; None when not known).
      worker(Worker): the worker it belongs to, when known (its
        ``consumer`` is then available).
    """

    def __init__(self, queue_name: str = "", ident=_CURRENT, worker: Optional["Worker"] = None) -> None:
        self.queue_name = queue_name
        self.ident = threading.get_ident() if ident is _CURRENT else ident
        self._worker = worker

    @property
    def consumer(self) -> Optional["_ConsumerView"]:
        """The consumer this thread fetches through, as upstream's
        ``consumer`` attribute (None when its worker is not known or no
        longer consumes the queue)."""
        worker = self._worker
        if worker is None or worker._native.outstanding_messages(self.queue_name) is None:
            return None
        return _ConsumerView(worker, self.queue_name)


class _ConsumerView:
    """A worker's consumer of one queue, seen from Python: how many
    messages it holds, and settling a message by hand on brokers that can
    settle by id (Redis: ``do_ack``/``do_nack``)."""

    def __init__(self, worker: "Worker", queue_name: str) -> None:
        self._worker = worker
        self.broker = worker.broker
        self.queue_name = queue_name

    @property
    def outstanding_message_count(self) -> int:
        """Messages delivered and not settled yet (one whose ack waits for a
        retry after a connection error is no longer counted, as upstream)."""
        return self._worker._native.outstanding_messages(self.queue_name) or 0

    def ack(self, message) -> None:
        """Ack ``message`` on the broker now, by its broker id.

        Parameters:
          message(Message | MessageProxy): a message taken from this queue.
        """
        self._settle("do_ack", message)

    def nack(self, message) -> None:
        """Dead-letter ``message`` on the broker now, by its broker id (an
        id the broker does not hold is left alone).

        Parameters:
          message(Message | MessageProxy): a message taken from this queue.
        """
        self._settle("do_nack", message)

    def _settle(self, method: str, message) -> None:
        settle = getattr(self.broker, method, None)
        message_id = message.options.get("redis_message_id")
        if settle is None or message_id is None:
            raise NotImplementedError(
                f"{type(self.broker).__name__} settles messages through its worker only; "
                f"{method} by id needs the Redis broker"
            )
        settle(self.queue_name, message_id)


class _WorkQueueView:
    """A Worker's queue of fetched messages waiting for a worker thread."""

    def __init__(self, native) -> None:
        self._native = native

    def qsize(self) -> int:
        return self._native.queued_messages

    def empty(self) -> bool:
        return self.qsize() == 0


class _ThreadPausedEvent:
    """Whether a paused worker thread has stopped taking work, with the
    waiting side of ``threading.Event``."""

    def __init__(self, native, ident) -> None:
        self._native = native
        self._ident = ident

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the thread is parked; False if ``timeout`` (seconds) passed first."""
        return self._native.wait_thread_paused(self._ident, timeout)

    def is_set(self) -> bool:
        return self.wait(0)


class WorkerThread:
    """Describes an engine worker thread (to thread hooks, and in
    ``Worker.workers``), and processes its messages when
    ``process_message`` is patched. Those of ``Worker.workers`` can be
    paused one by one.

    Parameters:
      ident: the thread's ident (default: the calling thread's).
      worker: the Worker it belongs to (``Worker.workers`` gives it).
    """

    def __init__(self, ident=_CURRENT, worker: Optional["Worker"] = None) -> None:
        self.ident = threading.get_ident() if ident is _CURRENT else ident
        self._worker = worker

    def _native_worker(self):
        if self._worker is None:
            raise RuntimeError("this WorkerThread was not taken from Worker.workers")
        return self._worker._native

    def pause(self) -> None:
        """Stop this thread taking messages once it finishes the one it
        runs; the Worker's other threads go on (see ``paused_event``)."""
        self._native_worker().pause_thread(self.ident)

    def resume(self) -> None:
        """Let this thread take messages again."""
        self._native_worker().resume_thread(self.ident)

    @property
    def paused_event(self) -> _ThreadPausedEvent:
        """Set once the paused thread has stopped taking work: ``wait(timeout=None)``."""
        return _ThreadPausedEvent(self._native_worker(), self.ident)

    def process_message(self, message) -> None:
        """Process one message on this worker thread: the hooks, the actor,
        its result, as the engine always does. Replace this method (as
        upstream's, ``_WorkerThread.process_message = wrapper``; the
        OpenTelemetry instrumentor does) to wrap every message: Workers
        built after the patch hand each message to it on the thread that
        runs the actor, and the original method, called by the wrapper,
        processes it. Unpatched, the engine never calls Python for it.

        Parameters:
          message(MessageProxy): the message, as middleware hooks see it.
        """
        _engine.process_current_message(message._native)


_original_process_message = WorkerThread.process_message
_thread_objects = threading.local()


def _dispatch_to_patched_process_message(message) -> None:
    thread = getattr(_thread_objects, "worker_thread", None)
    if thread is None:
        thread = _thread_objects.worker_thread = WorkerThread()
    thread.process_message(message)


def _patched_process_message_dispatch():
    """What a new Worker's threads hand messages to: None (the engine's
    fast path) unless ``WorkerThread.process_message`` was replaced."""
    if WorkerThread.process_message is _original_process_message:
        return None
    return _dispatch_to_patched_process_message


#: Upstream's private names for the thread classes, which plugins patch.
_WorkerThread = WorkerThread
_ConsumerThread = ConsumerThread


@atexit.register
def _stop_live_workers() -> None:
    # Engine threads must not outlive the interpreter they call into.
    for worker in list(_live_workers):
        try:
            worker.stop(timeout=5000)
        except Exception:
            pass
