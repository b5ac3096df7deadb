"""Results: only the error classes exist so far (the Results middleware and
its backends are not built yet)."""

from .errors import ResultError, ResultFailure, ResultMissing, ResultTimeout

__all__ = ["ResultError", "ResultFailure", "ResultMissing", "ResultTimeout"]
