"""A private memcached server for tests that need one.

Importable without pytest. ``MemcachedServer`` starts its own
``memcached`` on a free loopback port (never 11211), stops it by PID and
removes its temporary directory. It never talks to a server it did not
start.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

from redis_support import free_port

MEMCACHED_BINARY = os.environ.get("DRAMATIQ_TEST_MEMCACHED", "/usr/bin/memcached")

#: The default memcached port: a developer's own server may listen there.
_RESERVED_PORTS = {11211}

_live_servers: "weakref.WeakSet[MemcachedServer]" = weakref.WeakSet()


class MemcachedServerError(RuntimeError):
    """memcached could not be started or did not answer."""


def _free_port() -> int:
    while True:
        port = free_port()
        if port not in _RESERVED_PORTS:
            return port


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


class MemcachedServer:
    """A private memcached process for one test (or one module).

    ``start()`` returns once the server answers; ``close()`` (or leaving
    the ``with`` block) stops it by PID and deletes its directory.
    """

    def __init__(self, *, memory_mb: int = 64, startup_timeout: float = 20.0, binary: str = MEMCACHED_BINARY):
        self.memory_mb = memory_mb
        self.startup_timeout = startup_timeout
        self.binary = binary
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="dramatiq-memcached-")
        self.log_path = os.path.join(self.dir, "memcached.log")
        self._process: subprocess.Popen | None = None
        _live_servers.add(self)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as pylibmc and MemcachedBackend take it."""
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _argv(self) -> list[str]:
        argv = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", str(self.memory_mb)]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root unless told to
        return argv

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self) -> "MemcachedServer":
        """Start and wait until it answers ``version``."""
        if self.running:
            raise RuntimeError("memcached is already running (pid %d)" % self.pid)
        if not os.path.exists(self.binary):
            raise MemcachedServerError("%s not found (install the memcached package)" % self.binary)
        for attempt in range(5):
            try:
                self._start_once()
                return self
            except MemcachedServerError:
                if attempt == 4 or "Address already in use" not in self.log():
                    raise
                self.port = _free_port()  # lost a race for the port
        return self  # pragma: no cover

    def _start_once(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.dir, start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise MemcachedServerError("memcached exited at startup:\n" + self.log()[-4000:])
            if version(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise MemcachedServerError("memcached did not answer within %.0fs" % self.startup_timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT (memcached lingers a second on SIGTERM, not on SIGINT),
        then SIGKILL if it has not exited after ``timeout`` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout)
        self._process = None

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live_servers.discard(self)

    def __enter__(self) -> "MemcachedServer":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

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


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_live_servers):
        try:
            server.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass
