"""Results: store what actors return, get it back with ``message.get_result()``."""

from __future__ import annotations

from .backend import Missing, ResultBackend
from .errors import ResultError, ResultFailure, ResultMissing, ResultTimeout
from .middleware import Results

__all__ = [
    "Missing",
    "ResultBackend",
    "ResultError",
    "ResultFailure",
    "ResultTimeout",
    "ResultMissing",
    "Results",
]
