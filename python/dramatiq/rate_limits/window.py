"""WindowRateLimiter: at most ``limit`` acquisitions in any sliding window."""

from __future__ import annotations

from .. import _engine
from .backend import engine_backend
from .rate_limiter import RateLimiter, backend_attribute, native_attribute, whole


class WindowRateLimiter(RateLimiter):
    """Lets at most ``limit`` acquisitions happen within any ``window``
    seconds (one counter per second, summed over the window). The window
    is in seconds, not ms: per-ms counters would cost too much. Slots are
    not given back on release.

    Parameters:
      backend(RateLimiterBackend): where the counters live.
      key(str): the name of the limit (counters are ``<key>@<unix seconds>``).
      limit(int): acquisitions allowed per window (>= 1).
      window(int): the window, in seconds (>= 1).
    """

    def __init__(self, backend, key, *, limit=1, window=1):
        self._backend = backend
        self._native = _engine.WindowRateLimiter(engine_backend(backend), key, whole(limit), whole(window))

    backend = backend_attribute()
    key = native_attribute("key", "The name of the limit.")
    limit = native_attribute("limit", "Acquisitions allowed per window.")
    window = native_attribute("window", "The window, in seconds.")

    @property
    def window_millis(self):
        """The window, in ms."""
        return self.window * 1000

    def _get_keys(self):
        """The counters of the current window, newest first."""
        return self._native.current_keys()
