"""Cancelling messages: ``dramatiq.cancel(message_or_id)`` (or
``message.cancel()``).

A cancelled message that has not started never runs: its actor is skipped,
the message is acked, ``after_skip_message`` is emitted, and a result
backend stores a ``Cancelled`` failure (``get_result`` raises
``ResultFailure`` naming it). A running one is interrupted as TimeLimit
interrupts: ``Cancelled`` is raised in the actor's thread (a C++ actor sees
it at its next check point), the message is acked and not retried. The
broker remembers each cancellation for ``ttl`` (a day by default), so a
message fetched later, or sent again with the same id, is still skipped,
and tells every worker at once.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from .threading import Interrupt


class Cancelled(Interrupt):
    """Raised in an actor's thread when its message is cancelled while it
    runs. An actor may catch it to clean up; the message is not retried."""


def cancel(message_or_id: Union[str, Any], *, broker: Any = None, ttl: Optional[int] = None) -> None:
    """Cancel a message, pending, delayed or running.

    Raises ``ValueError`` for an empty id or a ``ttl`` that is not
    positive, and ``NotImplementedError`` on a broker that cannot cancel.

    Parameters:
      message_or_id(Message | str): the message (what ``send`` returned) or
        its ``message_id``.
      broker(Broker): the broker it was sent to; by default the global one.
      ttl(int): milliseconds the cancellation is remembered (a day by
        default).
    """
    if broker is None:
        from .broker import get_broker

        broker = get_broker()
    message_id = message_or_id if isinstance(message_or_id, str) else message_or_id.message_id
    native = broker._native
    if not native.supports_cancellation:
        raise NotImplementedError(f"{type(broker).__name__} cannot cancel messages yet")
    native.cancel(message_id, ttl)
