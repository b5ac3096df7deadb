"""StubBroker: an in-memory broker for tests (queues live in the engine)."""

from __future__ import annotations

import queue
from collections import defaultdict
from typing import TYPE_CHECKING, Optional

from .. import _engine
from ..broker import Broker, MessageProxy
from ..common import dq_name

if TYPE_CHECKING:
    from ..middleware import Middleware


class _QueueView:
    """One in-memory queue (``broker.queues[name]``), with the parts of the
    ``queue.Queue`` interface that upstream's StubBroker exposes."""

    def __init__(self, native, name: str) -> None:
        self._native = native
        self.name = name

    def qsize(self) -> int:
        return self._native.queue_size(self.name)

    def empty(self) -> bool:
        return self.qsize() == 0

    @property
    def unfinished_tasks(self) -> int:
        """Messages put on this queue and not yet acked or nacked: those
        waiting and those being processed."""
        return self._native.unfinished_tasks(self.name)

    def put(self, data: bytes, block: bool = True, timeout: Optional[float] = None) -> None:
        """Put raw encoded bytes on the queue, as a foreign producer would."""
        self._native.put_raw(self.name, bytes(data))

    put_nowait = put

    def get(self, block: bool = True, timeout: Optional[float] = None) -> bytes:
        """Take the first encoded message off the queue (``queue.Empty`` if none)."""
        wait_ms = 0 if not block else (2**62 if timeout is None else int(timeout * 1000))
        data = self._native.take_raw(self.name, wait_ms)
        if data is None:
            raise queue.Empty
        return data

    def get_nowait(self) -> bytes:
        return self.get(block=False)

    def task_done(self) -> None:
        """Mark an item taken with ``get`` as finished."""
        self._native.task_done(self.name)

    def contents(self) -> list:
        """The encoded messages currently on the queue, in order."""
        return self._native.queue_contents(self.name)


class _StubMessageProxy(MessageProxy):
    """A message of the stub broker, as upstream names it (plugins such as
    dramatiq-eager-broker build them to run messages themselves)."""

    def clear_exception(self) -> None:
        """Keep the exception: the stub's dead letters keep the exception
        their message failed with, so that ``join(fail_fast=True)`` can
        re-raise it and ``dead_letters`` show it. Replace this method with
        ``MessageProxy.clear_exception`` (upstream's tests do) and the
        messages dead-lettered meanwhile keep none: their exceptions, and
        the frames their tracebacks hold, go as soon as the worker is done
        with them."""


_keeps_exception = _StubMessageProxy.clear_exception


def _dead_letters_keep_exceptions() -> bool:
    # The engine asks at each dead-lettering.
    return _StubMessageProxy.clear_exception is _keeps_exception


class _DeadLetterList(list):
    """``broker.dead_letters_by_queue[name]``: one queue's dead letters.

    What is appended here (upstream's tests put their own items there) is
    kept by the broker beside the letters the engine holds: it shows in
    ``dead_letters`` and is dropped by ``clear()`` and ``flush_all()``.
    """

    def __init__(self, broker: "StubBroker", queue_name: str, letters: list) -> None:
        super().__init__(letters)
        self._broker = broker
        self._queue_name = queue_name

    def _added(self) -> list:
        return self._broker._added_dead_letters.setdefault(self._queue_name, [])

    def append(self, item) -> None:
        super().append(item)
        self._added().append(item)

    def extend(self, items) -> None:
        items = list(items)
        super().extend(items)
        self._added().extend(items)

    def __iadd__(self, items):
        self.extend(items)
        return self

    def clear(self) -> None:
        super().clear()
        self._broker._added_dead_letters.pop(self._queue_name, None)
        self._broker._native.clear_dead_letters(self._queue_name)


class _DeadLettersByQueue(defaultdict):
    """``broker.dead_letters_by_queue``: a queue name's missing entry is an
    empty list that writes through to the broker, as the others do."""

    def __init__(self, broker: "StubBroker") -> None:
        super().__init__()
        self._broker = broker

    def __missing__(self, queue_name: str) -> _DeadLetterList:
        letters = self[queue_name] = _DeadLetterList(self._broker, queue_name, [])
        return letters


class StubBroker(Broker):
    """A broker that keeps messages in memory, for tests.

    Parameters:
      middleware: the middleware to install; None installs the default ones.
      fail_fast_default: the ``fail_fast`` of ``join`` calls that do not give it.
    """

    def __init__(self, middleware: Optional[list[Middleware]] = None, *, fail_fast_default: bool = True) -> None:
        self._native = _engine.StubBroker()
        self._added_dead_letters: dict[str, list] = {}
        self._native.set_dead_letters_keep_exceptions(_dead_letters_keep_exceptions)
        self.fail_fast_default = fail_fast_default
        super().__init__(middleware=middleware)

    def get_declared_queues(self) -> set:
        """Every declared queue, delay queues included (as upstream's stub reports them)."""
        return super().get_declared_queues() | self.get_declared_delay_queues()

    @property
    def queues(self) -> dict:
        """Every queue (and delay queue) by name."""
        names = self.get_declared_queues()
        return {name: _QueueView(self._native, name) for name in names}

    @property
    def delay_queues(self) -> set:
        return self.get_declared_delay_queues()

    @property
    def dead_letters(self) -> list[MessageProxy]:
        """Every rejected message (undecodable ones as their raw bytes)."""
        return [message for messages in self.dead_letters_by_queue.values() for message in messages]

    @property
    def dead_letters_by_queue(self) -> dict[str, list]:
        """The rejected messages by queue name. Items appended to a queue's
        list are kept with that queue's dead letters until it is cleared or
        ``flush_all`` runs."""
        letters = _DeadLettersByQueue(self)
        by_queue: dict[str, list] = defaultdict(list)
        for queue_name, message in self._native.dead_letters():
            by_queue[queue_name].append(message)
        for queue_name in dict.fromkeys([*by_queue, *self._added_dead_letters]):
            held = by_queue.get(queue_name, []) + self._added_dead_letters.get(queue_name, [])
            letters[queue_name] = _DeadLetterList(self, queue_name, held)
        return letters

    def flush_all(self) -> None:
        """Drop all messages from all queues, dead letters included."""
        super().flush_all()
        self._added_dead_letters.clear()

    def join(self, queue_name: str, *, timeout: Optional[int] = None, fail_fast: Optional[bool] = None) -> None:
        """Wait until ``queue_name`` and its delay queue are fully processed.

        Raises ``QueueJoinTimeout`` after ``timeout`` ms. With ``fail_fast``
        (default: ``fail_fast_default``), re-raises the exception of the
        queue's first dead-lettered message.

        Parameters:
          queue_name: the queue to wait for.
          timeout: milliseconds to wait at most; None waits as long as it takes.
          fail_fast: re-raise the first dead-lettered message's exception.
        """
        if fail_fast is None:
            fail_fast = self.fail_fast_default
        self._native.join(queue_name, timeout, fail_fast)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue (and its delay queue ``<name>.DQ``).

        Parameters:
          queue_name: the queue's name.
        """
        super().declare_queue(queue_name)

    def _delay_queue_name(self, queue_name: str) -> str:
        return dq_name(queue_name)
