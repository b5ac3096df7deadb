"""A private PostgreSQL server for the tests (Debian's ``postgresql``
package): a cluster made with initdb in a fresh temporary directory,
served on a free loopback port, stopped by PID. As root (CI), the server
runs as the package's ``postgres`` user (PostgreSQL refuses root)."""

from __future__ import annotations

import glob
import os
import pwd
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from server_process import ServerProcess, ServerProcessError  # noqa: E402


def _bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else "/usr/lib/postgresql/missing/bin"


class PostgresServer(ServerProcess):
    name = "postgres"
    package = "postgresql"
    # "Fast" shutdown: clients are disconnected, no waiting for them.
    stop_signal = signal.SIGINT

    def __init__(self, **kwargs) -> None:
        self.bin_dir = _bin_dir()
        super().__init__(binary=os.path.join(self.bin_dir, "postgres"), **kwargs)
        self.data_dir = os.path.join(self.dir, "data")
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            # setpriv execs the server itself: its PID is the server's.
            self._as_user = ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups"]
        self._initialised = False

    @property
    def url(self) -> str:
        return "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def _initdb(self) -> None:
        if not os.path.exists(self.binary):
            raise ServerProcessError("%s not found (install the %s package)" % (self.binary, self.package))
        result = subprocess.run(
            self._as_user + [os.path.join(self.bin_dir, "initdb"), "-D", self.data_dir, "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--no-sync"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir,
        )
        if result.returncode != 0:
            raise ServerProcessError("initdb failed:\n" + result.stdout.decode(errors="replace"))
        self._initialised = True

    def start(self):
        if not self._initialised:
            self._initdb()
        return super().start()

    def _argv(self) -> list[str]:
        return self._as_user + [
            self.binary, "-D", self.data_dir, "-p", str(self.port), "-h", "127.0.0.1",
            "-k", self.dir,  # its Unix socket in the temp dir, not /var/run
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]

    def _answers(self) -> bool:
        if "ready to accept connections" not in self.log():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _start_once(self) -> None:
        # The log file is opened by this process (root) and handed over as
        # the server's stdout: make it the server user's to write.
        if self._as_user and not os.path.exists(self.log_path):
            open(self.log_path, "ab").close()
            user = pwd.getpwnam("postgres")
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        super()._start_once()
