"""A private rabbitmq-server for the benchmarks (Debian's rabbitmq-server
package): its own epmd and node on free loopback ports, every file
(mnesia, logs, config, enabled plugins, Erlang cookie) in a temp dir, and
both stopped by PID.  Nothing of the system's RabbitMQ service is used."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the script itself, not the su wrapper in /usr/sbin
EPMD = shutil.which("epmd") or "/usr/bin/epmd"
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Why a private server cannot run here (None when it can)."""
    if not SERVER.exists():
        return "%s is missing (Debian package rabbitmq-server)" % SERVER
    if not os.path.exists(EPMD):
        return "epmd is missing (Debian package erlang-base)"
    return None


def amqp_ready(port):
    """True once the node answers an AMQP 0-9-1 protocol header with its
    Connection.Start frame (a method frame, type 1)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(AMQP_HEADER)
            return s.recv(1)[:1] == b"\x01"
    except OSError:
        return False


class RabbitmqServer:
    """start() boots the node (bounded wait for the AMQP handshake);
    close() stops it and its epmd by PID and removes the temp dir."""

    def __init__(self, start_timeout=120):
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = self.epmd = None
        self.port = None

    @property
    def url(self):
        return "amqp://guest:guest@127.0.0.1:%d/%%2F" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        why = available()
        if why:
            raise RuntimeError(why)
        self.dir = Path(tempfile.mkdtemp(prefix="bench-rabbitmq-"))
        self.port, epmd_port, dist_port = free_port(), free_port(), free_port()
        name = "bench%d" % self.port
        (self.dir / "rabbitmq.conf").write_text(
            "listeners.tcp.1 = 127.0.0.1:%d\n"
            "distribution.listener.interface = 127.0.0.1\n"
            "distribution.listener.port_range.min = %d\n"
            "distribution.listener.port_range.max = %d\n"
            "log.console = false\n"
            "log.file.level = warning\n" % (self.port, dist_port, dist_port))
        (self.dir / "enabled_plugins").write_text("[].\n")
        env = dict(os.environ)
        env.update({
            "HOME": str(self.dir),  # the Erlang cookie goes here
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": "%s@localhost" % name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_BASE": str(self.dir),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbitmq.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.dir / "plugins-expand"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.dir / "feature_flags"),
            "RABBITMQ_QUORUM_DIR": str(self.dir / "quorum"),
            "RABBITMQ_STREAM_DIR": str(self.dir / "stream"),
            # exec erl in the foreground (no `&` + wait in the script), so
            # our child's pid is the node's.
            "RUNNING_UNDER_SYSTEMD": "true",
        })
        env.pop("RABBITMQ_ALLOW_INPUT", None)
        self.env = env
        self.log_file = open(self.dir / "server.out", "wb")
        self.epmd = subprocess.Popen([EPMD, "-port", str(epmd_port), "-address", "127.0.0.1"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.proc = subprocess.Popen([str(SERVER)], cwd=str(self.dir), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not amqp_ready(self.port):
            if self.proc.poll() is not None:
                log = self.log()
                self.close()
                raise RuntimeError("rabbitmq-server exited with %s during start-up:\n%s"
                                   % (self.proc.returncode, log[-3000:]))
            if time.monotonic() > deadline:
                log = self.log()
                self.close()
                raise RuntimeError("rabbitmq-server not ready within %ss:\n%s" % (self.start_timeout, log[-3000:]))
            time.sleep(0.2)
        return self

    def log(self):
        out = []
        if self.dir is None:
            return ""
        for path in [self.dir / "server.out"] + sorted((self.dir / "log").glob("*.log")):
            try:
                out.append(path.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)

    def close(self):
        for proc in (self.proc, self.epmd):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)  # the node stops cleanly on SIGTERM
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Its process group: beam and its erl_child_setup helper.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if getattr(self, "log_file", None):
            self.log_file.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
