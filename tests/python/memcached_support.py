"""A private memcached server for tests that need one.

Importable without pytest. ``MemcachedServer`` starts its own
``memcached`` on a free loopback port (never 11211), stops it by PID and
removes its temporary directory. It never talks to a server it did not
start.
"""

from __future__ import annotations

import os
import signal
import socket

from server_process import ServerProcess, ServerProcessError

MEMCACHED_BINARY = os.environ.get("DRAMATIQ_TEST_MEMCACHED", "/usr/bin/memcached")


class MemcachedServerError(ServerProcessError):
    """memcached could not be started or did not answer."""


def version(port: int, timeout: float = 1.0) -> str | None:
    """The server's version if something on ``port`` answers the memcached
    ``version`` command, else None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"version\r\n")
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(256)
                if not chunk:
                    return None
                data += chunk
            if data.startswith(b"VERSION "):
                return data[8:-2].decode()
            return None
    except OSError:
        return None


class MemcachedServer(ServerProcess):
    """A private memcached process for one test (or one module).

    ``start()`` returns once the server answers ``version``; ``close()`` (or
    leaving the ``with`` block) stops it by PID and deletes its directory.
    """

    name = "memcached"
    package = "memcached"
    # memcached lingers a second on SIGTERM, not on SIGINT.
    stop_signal = signal.SIGINT
    error = MemcachedServerError

    def __init__(self, *, memory_mb: int = 64, startup_timeout: float = 20.0, binary: str = MEMCACHED_BINARY):
        self.memory_mb = memory_mb
        super().__init__(binary=binary, startup_timeout=startup_timeout)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as pylibmc and MemcachedBackend take it."""
        return "127.0.0.1:%d" % self.port

    def _argv(self) -> list[str]:
        argv = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", str(self.memory_mb)]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root unless told to
        return argv

    def _answers(self) -> bool:
        return version(self.port) is not None

    # -- inspection (plain text protocol, no client library needed) ----------------------------

    def _command(self, line: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(line)
            data = b""
            while not (data.endswith(b"END\r\n") or data.endswith(b"OK\r\n")
                       or data.endswith(b"ERROR\r\n")):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def get(self, key: str) -> tuple[bytes, int] | None:
        """The raw value and flags stored under ``key``, or None."""
        reply = self._command(b"get %s\r\n" % key.encode())
        if not reply.startswith(b"VALUE "):
            return None
        header, rest = reply.split(b"\r\n", 1)
        _, _, flags, length = header.split(b" ")
        return rest[: int(length)], int(flags)

    def flush_all(self) -> None:
        """Drop every item."""
        self._command(b"flush_all\r\n")

    def __repr__(self) -> str:
        return "<MemcachedServer port=%d pid=%s>" % (self.port, self.pid)
