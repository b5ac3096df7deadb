"""The Worker: consumes queues and runs actors, in C++ engine threads."""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Optional

from . import _engine
from .logging import get_logger

#: Default milliseconds an idle worker waits before checking for shutdown.
WORKER_TIMEOUT = 1000

#: Messages each queue's consumer may hold fetched and unsettled
#: ($dramatiq_queue_prefetch, as upstream; 0: 2 per worker thread).
QUEUE_PREFETCH = int(os.getenv("dramatiq_queue_prefetch", 0))
#: The same for delay queues ($dramatiq_delay_queue_prefetch; 0: 1000 per
#: worker thread).
DELAY_QUEUE_PREFETCH = int(os.getenv("dramatiq_delay_queue_prefetch", 0))

_live_workers: "weakref.WeakSet[Worker]" = weakref.WeakSet()


class Worker:
    """Consumes every declared queue (or ``queues``) with consumer threads
    and runs messages on ``worker_threads`` worker threads. It doesn't block
    the calling thread: call ``join``/``stop`` as needed."""

    def __init__(self, broker, *, queues: Optional[set] = None, worker_timeout: int = WORKER_TIMEOUT,
                 worker_threads: int = 8) -> None:
        self.logger = get_logger(__name__, type(self))
        self.broker = broker
        self.worker_timeout = worker_timeout
        self.worker_threads = worker_threads
        self.queue_prefetch = QUEUE_PREFETCH or min(worker_threads * 2, 65535)
        self.delay_prefetch = DELAY_QUEUE_PREFETCH or min(worker_threads * 1000, 65535)
        self.consumer_whitelist = set(queues) if queues else None
        self._native = _engine.Worker(broker._native, self.consumer_whitelist, worker_timeout, worker_threads,
                                      self.queue_prefetch, self.delay_prefetch, self)
        self._running = False

    def start(self) -> None:
        """Start the consumer and worker threads."""
        self._native.start()
        self._running = True
        _live_workers.add(self)

    def pause(self) -> None:
        """Pause consuming and processing (waits for in-flight messages)."""
        self._native.pause()

    def resume(self) -> None:
        """Resume after ``pause``."""
        self._native.resume()

    def join(self) -> None:
        """Wait until every fetched and delayed message has been processed."""
        self._native.join()

    def stop(self, timeout: int = 600000) -> None:
        """Stop gracefully: running messages finish, prefetched ones are
        requeued."""
        if not self._running:
            return
        self._running = False
        self._native.stop(timeout)
        _live_workers.discard(self)


class ConsumerThread:
    """Describes an engine consumer thread to thread hooks: which queue it consumes."""

    def __init__(self, queue_name: str = "") -> None:
        self.queue_name = queue_name
        self.ident = threading.get_ident()


class WorkerThread:
    """Describes an engine worker thread to thread hooks."""

    def __init__(self) -> None:
        self.ident = threading.get_ident()


@atexit.register
def _stop_live_workers() -> None:
    # Engine threads must not outlive the interpreter they call into.
    for worker in list(_live_workers):
        try:
            worker.stop(timeout=5000)
        except Exception:
            pass
