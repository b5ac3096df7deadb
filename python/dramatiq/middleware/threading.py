"""Interrupting threads: the names of ``dramatiq.threading``, where
upstream's middleware modules import them from."""

from __future__ import annotations

from ..threading import Interrupt, current_platform, is_gevent_active, raise_thread_exception, supported_platforms

__all__ = ["Interrupt", "current_platform", "is_gevent_active", "raise_thread_exception", "supported_platforms"]
