"""A server program run by the tests (redis-server, memcached): its own
process on a free loopback port, in a fresh temporary directory, stopped
by PID and cleaned up -- at the latest when the interpreter exits. It never
talks to a server it did not start. Importable without pytest.

Subclasses say how to run the program (``_argv``) and how to tell it is
ready (``_answers``).
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

#: The default ports of the servers we run: a developer's own server may
#: listen there, so the tests never use them.
RESERVED_PORTS = {6379, 11211}

_live_servers: "weakref.WeakSet[ServerProcess]" = weakref.WeakSet()


class ServerProcessError(RuntimeError):
    """The server could not be started or did not answer."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


class ServerProcess:
    """One server process; ``start()`` returns once it answers, ``close()``
    (or leaving the ``with`` block) stops it and deletes its directory.

    Parameters:
      binary: the program to run.
      port: a fixed port (default: a free one, picked once; ``start()``
        after ``stop()`` reuses it).
      startup_timeout: seconds to wait for it to answer.
    """

    #: The program's name (messages, directory prefix, log file).
    name = "server"
    #: The Debian package that provides it (for the error when it is missing).
    package = "?"
    #: What stops it promptly and cleanly.
    stop_signal = signal.SIGTERM
    #: The error raised when it does not start.
    error: type = ServerProcessError
    #: Whether the program leaves children behind (a launcher script):
    #: then what is left of its process group is killed once it exited.
    kill_group = False

    def __init__(self, *, binary: str, port: int | None = None, startup_timeout: float = 20.0) -> None:
        if port in RESERVED_PORTS:
            raise ValueError("refusing to use port %d" % port)
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.dir = tempfile.mkdtemp(prefix="dramatiq-%s-" % self.name)
        self.log_path = os.path.join(self.dir, self.name + ".log")
        self._process: subprocess.Popen | None = None
        self._starts = 0
        _live_servers.add(self)

    # -- what subclasses provide -------------------------------------------------------------

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _answers(self) -> bool:
        """Whether the server on ``self.port`` answers yet."""
        raise NotImplementedError

    def _env(self) -> dict | None:
        """The program's environment (None: this process's)."""
        return None

    # -- state -------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """What the server has written so far (for failure messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        """Start (or restart, on the same port and directory) and wait
        until it answers."""
        if self.running:
            raise RuntimeError("%s is already running (pid %d)" % (self.name, self.pid))
        if not os.path.exists(self.binary):
            raise self.error("%s not found (install the %s package)" % (self.binary, self.package))
        # A free port may be taken by someone else before the server binds
        # it: pick another, unless the port was chosen (or already used).
        attempts = 1 if (self._fixed_port or self._starts) else 5
        for attempt in range(attempts):
            try:
                self._start_once()
                self._starts += 1
                return self
            except ServerProcessError:
                if attempt == attempts - 1 or "Address already in use" not in self.log():
                    raise
                self.port = free_port()
        return self  # pragma: no cover

    def _start_once(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=self._env(),
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for the server
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise self.error("%s exited at startup:\n%s" % (self.name, self.log()[-4000:]))
            if self._answers():
                return
            time.sleep(0.02)
        self.kill()
        raise self.error("%s did not answer within %.0fs:\n%s"
                         % (self.name, self.startup_timeout, self.log()[-4000:]))

    def stop(self, timeout: float = 15.0) -> None:
        """``stop_signal``, then SIGKILL if it has not exited after
        ``timeout`` seconds."""
        self._end(self.stop_signal, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all."""
        self._end(signal.SIGKILL, 15.0)

    def _end(self, sig: int, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                if self.kill_group and sig == signal.SIGKILL:
                    os.killpg(process.pid, sig)
                else:
                    os.kill(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if self.kill_group:
            # start_new_session made the server the leader of its group.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._process = None

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live_servers.discard(self)

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_live_servers):
        try:
            server.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass
