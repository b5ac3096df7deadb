"""Small helpers upstream's worker command builds its logging on, kept
under upstream's names for code that imports them."""

from __future__ import annotations

import contextlib
import sys

__all__ = ["StreamablePipe", "file_or_stderr"]


class StreamablePipe:
    """A write-only text stream over the sending end of a
    ``multiprocessing`` pipe: each ``write`` sends its text as one message
    of bytes, so a ``logging.StreamHandler`` in a child process can log
    through the pipe to its parent.

    Parameters:
      pipe(multiprocessing.connection.Connection): the sending end.
      encoding(str): how text becomes bytes (unencodable characters are
        replaced).
    """

    def __init__(self, pipe, *, encoding="utf-8"):
        self.pipe = pipe
        self.encoding = encoding

    def write(self, text):
        """Send text through the pipe.

        Parameters:
          text: the text to send through the pipe.
        """
        self.pipe.send_bytes(text.encode(self.encoding, errors="replace"))

    def read(self):
        raise NotImplementedError("a StreamablePipe is write-only")

    def flush(self):
        """Nothing to do: every write is sent at once."""

    def fileno(self):
        return self.pipe.fileno()

    def isatty(self):
        return False

    def close(self):
        self.pipe.close()

    @property
    def closed(self):
        return self.pipe.closed


def file_or_stderr(filename, *, mode="a", encoding="utf-8"):
    """A context manager giving the file ``filename`` opened (and closing
    it), or ``sys.stderr`` (left open) when ``filename`` is None.

    Parameters:
      filename(str or None): the file to open.
      mode(str): the mode to open it in.
      encoding(str): its encoding.
    """
    if filename is None:
        return contextlib.nullcontext(sys.stderr)
    return open(filename, mode, encoding=encoding)
