"""Errors raised when fetching results."""

from __future__ import annotations

from ..errors import DramatiqError


class ResultError(DramatiqError):
    """Base class for result errors."""


class ResultTimeout(ResultError):
    """Raised when waiting for a result times out."""


class ResultMissing(ResultError):
    """Raised when a result can't be found."""


class ResultFailure(ResultError):
    """Raised when getting the result of an actor that failed; carries
    the original exception's type name and message."""

    def __init__(self, message="", orig_exc_type="", orig_exc_msg=""):
        super().__init__(message)
        self.orig_exc_type = orig_exc_type
        self.orig_exc_msg = orig_exc_msg
