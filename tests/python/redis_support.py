"""Helpers for tests that need a real Redis server or upstream Dramatiq.

Importable without pytest (benchmarks and scripts may use it too):

* ``RedisServer`` starts its own ``redis-server`` on a free loopback
  port in a fresh temporary directory, stops it by PID and removes the
  directory.  It never talks to a server it did not start and never
  uses port 6379.
* ``upstream_python()`` finds an interpreter with upstream Dramatiq
  2.2.1 and redis-py installed (``$DRAMATIQ_UPSTREAM_PYTHON``, else the
  ``.venv-upstream`` venv that ``scripts/setup.sh`` creates).
* ``wait_until`` polls a condition with a generous, bounded timeout.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER_BINARY = os.environ.get("DRAMATIQ_TEST_REDIS_SERVER", "/usr/bin/redis-server")
UPSTREAM_VENV = REPO_ROOT / ".venv-upstream"
UPSTREAM_VERSION = "2.2.1"

#: Port numbers the harness must never use (a developer's own server).
_RESERVED_PORTS = {6379}

_live_servers: "weakref.WeakSet[RedisServer]" = weakref.WeakSet()


class RedisServerError(RuntimeError):
    """redis-server could not be started or did not answer."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _RESERVED_PORTS:
            return port


def _resp_command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed by redis-server")
        data += chunk
    return data[:-2]


def ping(port: int, password: str | None = None, timeout: float = 1.0) -> bool:
    """True when the server on ``port`` answers PING with PONG (it
    answers -LOADING while it replays its append-only file)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            if password is not None:
                sock.sendall(_resp_command("AUTH", password))
                if not _read_line(sock).startswith(b"+OK"):
                    return False
            sock.sendall(_resp_command("PING"))
            return _read_line(sock) == b"+PONG"
    except OSError:
        return False


class RedisServer:
    """A private redis-server process for one test (or one benchmark).

    Parameters:
      appendonly: run with ``--appendonly yes`` (and ``--appendfsync
        always``) so that data survives ``stop()``/``kill()`` +
        ``start()``.
      unix_socket: also listen on a unix socket in the server's dir
        (``unix_path``), mode 700.
      password: ``--requirepass``.
      port: a fixed port (default: a free one, picked once; ``start()``
        after ``stop()`` reuses it).

    ``start()`` returns once the server answers PING.  Use as a context
    manager, or call ``close()`` to stop it and delete its directory.
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        unix_socket: bool = False,
        password: str | None = None,
        port: int | None = None,
        startup_timeout: float = 20.0,
        binary: str = REDIS_SERVER_BINARY,
    ) -> None:
        if port in _RESERVED_PORTS:
            raise ValueError("refusing to use port %d" % port)
        self.appendonly = appendonly
        self.password = password
        self.startup_timeout = startup_timeout
        self.binary = binary
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.dir = tempfile.mkdtemp(prefix="dramatiq-redis-")
        self.unix_path = os.path.join(self.dir, "redis.sock") if unix_socket else None
        self.log_path = os.path.join(self.dir, "redis-server.log")
        self._process: subprocess.Popen | None = None
        self._starts = 0
        _live_servers.add(self)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (with the password, if any)."""
        return self.url_for(0)

    def url_for(self, db: int = 0, *, with_password: bool = True) -> str:
        auth = ":%s@" % self.password if self.password and with_password else ""
        return "redis://%s127.0.0.1:%d/%d" % (auth, self.port, db)

    @property
    def unix_url(self) -> str:
        if self.unix_path is None:
            raise RuntimeError("this server has no unix socket (unix_socket=False)")
        return "unix://%s?db=0" % self.unix_path

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        if self.appendonly:
            argv += ["--appendfsync", "always"]
        if self.unix_path is not None:
            argv += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv

    def log(self) -> str:
        """What redis-server has written so far (for failure messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self) -> "RedisServer":
        """Start (or restart, on the same port and dir) and wait for PING."""
        if self.running:
            raise RuntimeError("redis-server is already running (pid %d)" % self.pid)
        if not os.path.exists(self.binary):
            raise RedisServerError("%s not found (install the redis-server package)" % self.binary)
        attempts = 1 if (self._fixed_port or self._starts) else 5
        for attempt in range(attempts):
            try:
                self._start_once()
                self._starts += 1
                return self
            except RedisServerError:
                in_use = "Address already in use" in self.log()
                if not in_use or attempt == attempts - 1:
                    raise
                self.port = free_port()  # lost a race for the port; pick another
        return self  # pragma: no cover

    def _start_once(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for us
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise RedisServerError("redis-server exited at startup:\n" + self.log()[-4000:])
            if ping(self.port, self.password):
                return
            time.sleep(0.02)
        self.kill()
        raise RedisServerError(
            "redis-server did not answer PING within %.0fs:\n%s" % (self.startup_timeout, self.log()[-4000:])
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean shutdown that syncs the append-only file),
        SIGKILL if it has not exited after ``timeout`` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout)
        self._process = None

    def kill(self) -> None:
        """SIGKILL, no shutdown work (data written with appendonly is kept:
        it fsyncs every write)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(15)
        self._process = None

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live_servers.discard(self)

    def __enter__(self) -> "RedisServer":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- convenience -------------------------------------------------------------------------

    def client(self, db: int = 0, **kwargs):
        """A redis-py client for inspecting this server (needs redis-py)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password, **kwargs)

    def __repr__(self) -> str:
        return "<RedisServer port=%d pid=%s dir=%s>" % (self.port, self.pid, self.dir)


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_live_servers):
        try:
            server.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


# -- upstream Dramatiq --------------------------------------------------------------------------


def upstream_python() -> str | None:
    """Path to a Python interpreter with upstream Dramatiq 2.2.1 and
    redis-py: ``$DRAMATIQ_UPSTREAM_PYTHON`` if set, else
    ``<repo>/.venv-upstream/bin/python`` if it exists, else None."""
    override = os.environ.get("DRAMATIQ_UPSTREAM_PYTHON")
    if override:
        return override
    candidate = UPSTREAM_VENV / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    return None


_UPSTREAM_PROBE = r"""
import importlib.util, json
import dramatiq, redis
print(json.dumps({
    "version": dramatiq.__version__,
    "file": dramatiq.__file__,
    "has_engine": importlib.util.find_spec("dramatiq._engine") is not None,
}))
"""


def check_upstream_python(python: str) -> str | None:
    """None when ``python`` runs upstream Dramatiq 2.2.1 (not ours) with
    redis-py; otherwise a sentence saying what is wrong."""
    import json

    try:
        proc = subprocess.run(
            [python, "-c", _UPSTREAM_PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env=subprocess_env(upstream=True),
            cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s: %s" % (python, e)
    if proc.returncode != 0:
        return "%s cannot import dramatiq and redis:\n%s" % (python, proc.stderr[-2000:])
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    if info["has_engine"]:
        return "%s imports dramatiq-cpp (%s), not upstream Dramatiq" % (python, info["file"])
    if info["version"] != UPSTREAM_VERSION:
        return "%s has Dramatiq %s, expected %s" % (python, info["version"], UPSTREAM_VERSION)
    return None


def subprocess_env(*, upstream: bool, extra_path: list[str] | tuple[str, ...] = (), **extra: str) -> dict:
    """Environment for a child Python process.

    The child of the interpreter under test (``upstream=False``) keeps
    our PYTHONPATH so that it imports the same ``dramatiq``; an upstream
    child gets only ``extra_path`` so it can never import ours.
    """
    env = dict(os.environ)
    paths = list(extra_path)
    if not upstream and env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ChildProcess:
    """A child process whose output goes to files in ``log_dir`` (shown
    by ``describe()`` when a test fails).  Stop it with ``terminate()``
    (SIGTERM, then SIGKILL after a timeout) or ``kill()``; both are
    no-ops once it has exited."""

    _count = 0

    def __init__(self, argv, *, env, cwd, log_dir, name="child") -> None:
        ChildProcess._count += 1
        stem = os.path.join(str(log_dir), "%s-%d" % (name, ChildProcess._count))
        self.argv = list(argv)
        self.stdout_path, self.stderr_path = stem + ".out", stem + ".err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=str(cwd)
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 60.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stdout(self) -> str:
        with open(self.stdout_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stderr(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def describe(self) -> str:
        state = "running" if self.alive() else "exit code %s" % self.process.returncode
        return "%s (%s)\n--- stdout:\n%s\n--- stderr (tail):\n%s" % (
            " ".join(self.argv),
            state,
            self.stdout()[-3000:],
            self.stderr()[-6000:],
        )


def our_python() -> str:
    """The interpreter running the tests (it imports the dramatiq under test)."""
    return sys.executable


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.02, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or
    ``timeout`` seconds pass (AssertionError naming ``message``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, message))
        time.sleep(interval)
