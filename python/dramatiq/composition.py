"""Composing messages: pipelines (one after another, results passed
along) and groups (side by side)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .broker import get_broker
from .results.errors import ResultMissing

if TYPE_CHECKING:
    from .message import Message


def _remaining(deadline: Optional[float], timeout):
    if deadline is None:
        return timeout
    return max(0, int((deadline - time.monotonic()) * 1000))


class pipeline:
    """Chain messages: each one's result is appended to the next one's
    arguments (unless it sets ``pipe_ignore``).

    Parameters:
      children: the messages or pipelines to chain, in order.
      broker: the broker to enqueue on; by default the global broker.
    """

    messages: list[Message[Any]]

    def __init__(self, children: Iterable[Message[Any] | pipeline], *, broker=None) -> None:
        self.broker = broker or get_broker()
        self.messages = []
        for child in children:
            if isinstance(child, pipeline):
                self.messages.extend(message.copy() for message in child.messages)
            else:
                self.messages.append(child.copy())
        for message, next_message in zip(self.messages, self.messages[1:]):
            message.options["pipe_target"] = next_message.asdict()

    def __len__(self) -> int:
        return len(self.messages)

    def __or__(self, other) -> "pipeline":
        return type(self)(self.messages + [other], broker=self.broker)

    def __str__(self) -> str:
        return "pipeline([%s])" % ", ".join(str(m) for m in self.messages)

    @property
    def completed(self):
        """Whether the last message has a result (needs the Results middleware)."""
        try:
            self.messages[-1].get_result(backend=self.broker.get_results_backend())
            return True
        except ResultMissing:
            return False

    @property
    def completed_count(self):
        """How many messages, from the start, have results."""
        backend = self.broker.get_results_backend()
        for count, message in enumerate(self.messages):
            try:
                message.get_result(backend=backend)
            except ResultMissing:
                return count
        return len(self.messages)

    def run(self, *, delay=None):
        """Enqueue the first message (the rest follow as each finishes).

        Parameters:
          delay: milliseconds to wait before the first message may be processed.
        """
        delay = max(delay or 0, self.messages[0].options.get("delay") or 0) or None
        self.broker.enqueue(self.messages[0], delay=delay)
        return self

    def get_result(self, *, block=False, timeout=None):
        """The result of the last message.

        Parameters:
          block: wait for the result (else ``ResultMissing`` if it is not there).
          timeout: milliseconds to wait, when blocking.
        """
        return self.messages[-1].get_result(backend=self.broker.get_results_backend(), block=block, timeout=timeout)

    def get_results(self, *, block=False, timeout=None):
        """A generator over every message's result, in order.

        Parameters:
          block: wait for the results (else ``ResultMissing`` if one is not there).
          timeout: milliseconds to wait for each result, when blocking.
        """
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        backend = self.broker.get_results_backend()
        for message in self.messages:
            yield message.get_result(backend=backend, block=block, timeout=_remaining(deadline, timeout))


class group:
    """Run messages, pipelines or groups in parallel.

    Parameters:
      children: the messages, pipelines or groups to run.
      broker: the broker to enqueue on; by default the global broker.
    """

    def __init__(self, children, *, broker=None):
        self.children = list(children)
        self.broker = broker or get_broker()
        self.completion_callbacks = []

    def __len__(self) -> int:
        return len(self.children)

    def __str__(self) -> str:
        return "group([%s])" % ", ".join(str(c) for c in self.children)

    def add_completion_callback(self, message):
        """Enqueue ``message`` once every member has finished (needs GroupCallbacks).

        Parameters:
          message: the message to enqueue when the group completes.
        """
        self.completion_callbacks.append(message.asdict())

    @property
    def completed(self):
        """Whether every member has a result."""
        return self.completed_count == len(self)

    @property
    def completed_count(self):
        """How many members have results."""
        count = 0
        backend = self.broker.get_results_backend()
        for child in self.children:
            try:
                if isinstance(child, group):
                    list(child.get_results())
                elif isinstance(child, pipeline):
                    child.get_result()
                else:
                    child.get_result(backend=backend)
                count += 1
            except ResultMissing:
                pass
        return count

    def run(self, *, delay=None):
        """Enqueue every member.

        Parameters:
          delay: milliseconds to wait before the members may be processed.
        """
        children = self.children
        if self.completion_callbacks:
            children = self._with_completion_options()
        messages = []
        for child in children:
            if isinstance(child, (group, pipeline)):
                child.run(delay=delay)
            else:
                messages.append(child)
        if messages:
            self.broker.enqueue_all(messages, delay=delay)
        return self

    def _with_completion_options(self) -> list:
        from uuid import uuid4

        from .middleware.group_callbacks import GroupCallbacks

        for middleware in self.broker.middleware:
            if isinstance(middleware, GroupCallbacks):
                middleware.create_barrier(completion_uuid := str(uuid4()), len(self.children))
                break
        else:
            raise RuntimeError(
                "GroupCallbacks middleware not found! Did you forget to set it up? "
                "It is required if you want to use group callbacks."
            )
        options = {"group_completion_uuid": completion_uuid, "group_completion_callbacks": self.completion_callbacks}
        children = []
        for child in self.children:
            if isinstance(child, group):
                raise NotImplementedError("Nested groups with completion callbacks are not supported.")
            if isinstance(child, pipeline):
                messages = child.messages[:]
                messages[-1] = messages[-1].copy(options=options)
                children.append(pipeline(messages, broker=child.broker))
            else:
                children.append(child.copy(options=options))
        return children

    def get_results(self, *, block=False, timeout=None):
        """A generator over every member's result, in order.

        Parameters:
          block: wait for the results (else ``ResultMissing`` if one is not there).
          timeout: milliseconds to wait for all of them together, when blocking.
        """
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        backend = self.broker.get_results_backend()
        for child in self.children:
            remaining = _remaining(deadline, timeout)
            if isinstance(child, group):
                yield list(child.get_results(block=block, timeout=remaining))
            elif isinstance(child, pipeline):
                yield child.get_result(block=block, timeout=remaining)
            else:
                yield child.get_result(backend=backend, block=block, timeout=remaining)

    def wait(self, *, timeout=None):
        """Block until every member has a result.

        Parameters:
          timeout: milliseconds to wait for all of them together (``ResultTimeout``).
        """
        for _ in self.get_results(block=True, timeout=timeout):
            pass
