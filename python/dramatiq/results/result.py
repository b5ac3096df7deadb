"""How results are stored: values as they are, failures wrapped (the
engine's format, shared with upstream Dramatiq)."""

from __future__ import annotations

from .. import _engine


def wrap_result(res):
    """What is stored for a successful result: the value itself.

    Parameters:
      res: what an actor returned.
    """
    return res


def wrap_exception(e):
    """What is stored for a failure: its exception's type name and text
    under the ``dramatiq.results.Result`` marker.

    Parameters:
      e: the exception an actor raised.
    """
    return _engine.wrap_exception(type(e).__name__, str(e))


def unwrap_result(res):
    """``res`` unchanged, or ``ResultFailure`` raised if it is a stored failure.

    Parameters:
      res: a value as stored.
    """
    return _engine.unwrap_result(res)
