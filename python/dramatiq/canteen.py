"""A block of shared memory in which one process lists paths for others.

Upstream's worker command hands the fork functions its middleware asks
for from the first worker process to boot to the main process this way.
Ours reports them (with each worker's boot status) over a pipe per worker
(``dramatiq.cli``); this module keeps upstream's building blocks for code
that uses them: ``multiprocessing.Value(Canteen)`` shared between
processes, ``canteen_try_init`` to let one of them fill it,
``canteen_add`` and ``canteen_get``.
"""

from __future__ import annotations

import ctypes
import time
from contextlib import contextmanager

__all__ = ["Canteen", "canteen_add", "canteen_get", "canteen_try_init"]

#: Room for paths, in bytes (each path takes its UTF-8 length plus one).
CAPACITY = 1024 * 1024

_SEPARATOR = b";"


class Canteen(ctypes.Structure):
    """The shared block: whether it has been filled (``initialized``), how
    many bytes of ``paths`` are used (``last_position``), and ``paths``:
    each path in UTF-8 followed by ``;``."""

    _fields_ = [
        ("initialized", ctypes.c_bool),
        ("last_position", ctypes.c_int),
        ("paths", ctypes.c_byte * CAPACITY),
    ]


def canteen_add(canteen, path):
    """Append ``path``.

    Parameters:
      canteen(Canteen): the block (or a ``multiprocessing.Value`` of one).
      path(str): the path to append; must not contain ``;``.

    Raises:
      RuntimeError: when the block has no room left for it.
    """
    entry = path.encode("utf-8") + _SEPARATOR
    start = canteen.last_position
    end = start + len(entry)
    if end > len(canteen.paths):
        raise RuntimeError("canteen is full")
    ctypes.memmove(ctypes.addressof(canteen.paths) + start, entry, len(entry))
    canteen.last_position = end


def canteen_get(canteen, timeout=1):
    """The paths listed, once the block has been filled; ``[]`` if it is
    not within ``timeout`` seconds.

    Parameters:
      canteen(Canteen): the block (or a ``multiprocessing.Value`` of one).
      timeout(float): how long to wait for it to be filled, in seconds.
    """
    deadline = time.monotonic() + timeout
    while not canteen.initialized:
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.001)  # the filling process is another process: poll
    used = ctypes.string_at(ctypes.addressof(canteen.paths), canteen.last_position)
    return [path.decode("utf-8") for path in used.split(_SEPARATOR)[:-1]]


@contextmanager
def canteen_try_init(shared):
    """Let exactly one process fill the block: yields True to the first
    caller (which then adds paths; the block counts as filled when the
    ``with`` body ends) and False to every later one.

    Parameters:
      shared: a ``multiprocessing.Value(Canteen)`` (its lock makes the
        choice safe across processes).
    """
    if shared.initialized:
        yield False
        return
    with shared.get_lock():
        if shared.initialized:
            yield False
            return
        yield True
        shared.initialized = True
