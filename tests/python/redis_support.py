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

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# free_port is re-exported: tests import it from here.
from server_process import ServerProcess, ServerProcessError, free_port  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER_BINARY = os.environ.get("DRAMATIQ_TEST_REDIS_SERVER", "/usr/bin/redis-server")
UPSTREAM_VENV = REPO_ROOT / ".venv-upstream"
UPSTREAM_VERSION = "2.2.1"


class RedisServerError(ServerProcessError):
    """redis-server could not be started or did not answer."""


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


class RedisServer(ServerProcess):
    """A private redis-server process for one test (or one benchmark).

    Parameters:
      appendonly: run with ``--appendonly yes`` (and ``--appendfsync
        always``) so that data survives ``stop()``/``kill()`` +
        ``start()``.
      appendfsync: the fsync policy with ``appendonly`` (``"everysec"``
        still keeps everything across ``stop()``, a clean shutdown, at a
        fraction of the cost of ``"always"``).
      unix_socket: also listen on a unix socket in the server's dir
        (``unix_path``), mode 700.
      password: ``--requirepass``.
      port: a fixed port (default: a free one, picked once; ``start()``
        after ``stop()`` reuses it).

    ``start()`` returns once the server answers PING.  Use as a context
    manager, or call ``close()`` to stop it and delete its directory.
    ``stop()`` is a clean shutdown (SIGTERM syncs the append-only file);
    ``kill()`` does none (data written with appendonly is kept: it fsyncs
    every write).
    """

    name = "redis-server"
    package = "redis-server"
    error = RedisServerError

    def __init__(
        self,
        *,
        appendonly: bool = False,
        appendfsync: str = "always",
        unix_socket: bool = False,
        password: str | None = None,
        port: int | None = None,
        startup_timeout: float = 20.0,
        binary: str = REDIS_SERVER_BINARY,
    ) -> None:
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        super().__init__(binary=binary, port=port, startup_timeout=startup_timeout)
        self.unix_path = os.path.join(self.dir, "redis.sock") if unix_socket else None

    # -- addresses ---------------------------------------------------------------------------

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
            argv += ["--appendfsync", self.appendfsync]
        if self.unix_path is not None:
            argv += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv

    def _answers(self) -> bool:
        return ping(self.port, self.password)

    # -- convenience -------------------------------------------------------------------------

    def client(self, db: int = 0, **kwargs):
        """A redis-py client for inspecting this server (needs redis-py)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password, **kwargs)

    def __repr__(self) -> str:
        return "<RedisServer port=%d pid=%s dir=%s>" % (self.port, self.pid, self.dir)


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

    def __init__(self, argv, *, env, cwd, log_dir, name="child", new_session=False) -> None:
        ChildProcess._count += 1
        stem = os.path.join(str(log_dir), "%s-%d" % (name, ChildProcess._count))
        self.argv = list(argv)
        self.stdout_path, self.stderr_path = stem + ".out", stem + ".err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=str(cwd),
                # Its own process group, for signals sent as a terminal's Ctrl-C is.
                start_new_session=new_session,
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
