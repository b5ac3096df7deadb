"""A private rabbitmq-server for the tests (and benchmarks), importable
without pytest.

``RabbitmqServer`` runs Debian's rabbitmq-server with its node name,
database, logs and Erlang cookie in a fresh temporary directory, its AMQP,
distribution and epmd ports free loopback ports and its own epmd, and
stops all of it by PID. It never talks to a server it did not start and
never uses port 5672. It takes seconds to boot: the tests start one per
session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess

from server_process import ServerProcess, ServerProcessError, free_port

RABBITMQ_SERVER_SCRIPT = os.environ.get("DRAMATIQ_TEST_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
EPMD_BINARY = "epmd"


class RabbitmqServerError(ServerProcessError):
    """rabbitmq-server could not be started or did not answer."""


def amqp_answers(port: int, timeout: float = 1.0) -> bool:
    """True when something on ``port`` answers the AMQP 0-9-1 protocol
    header with a frame (connection.start)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


class RabbitmqServer(ServerProcess):
    """A private rabbitmq-server process (with its own epmd).

    Parameters:
      port: a fixed AMQP port (default: a free one).
      startup_timeout: seconds to wait for it to answer.
      tls: also listen for AMQP over TLS on ``tls_port``, with a server
        certificate for localhost/127.0.0.1 signed by a CA made for it
        (``tls_files["ca.crt"]``; ``other-ca.crt`` signed nothing).
    """

    name = "rabbitmq-server"
    package = "rabbitmq-server"
    error = RabbitmqServerError
    kill_group = True

    def __init__(self, *, port: int | None = None, startup_timeout: float = 120.0, tls: bool = False) -> None:
        if port == 5672:
            raise ValueError("refusing to use port 5672")
        super().__init__(binary=RABBITMQ_SERVER_SCRIPT, port=port, startup_timeout=startup_timeout)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self._epmd: subprocess.Popen | None = None
        self.tls_port = free_port() if tls else None
        self.tls_files = self._make_certificates() if tls else {}
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n" % self.port)
            if tls:
                f.write("listeners.ssl.default = 127.0.0.1:%d\n" % self.tls_port)
                f.write("ssl_options.cacertfile = %s\n" % self.tls_files["ca.crt"])
                f.write("ssl_options.certfile = %s\n" % self.tls_files["server.crt"])
                f.write("ssl_options.keyfile = %s\n" % self.tls_files["server.key"])
                f.write("ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")

    def _make_certificates(self) -> dict:
        tls_dir = os.path.join(self.dir, "tls")
        os.makedirs(tls_dir)

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=tls_dir, check=True, capture_output=True)

        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt",
                    "-days", "2", "-subj", "/CN=dramatiq-test-" + ca)
        with open(os.path.join(tls_dir, "server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
        return {name: os.path.join(tls_dir, name) for name in os.listdir(tls_dir)}

    @property
    def url(self) -> str:
        return "amqp://guest:guest@127.0.0.1:%d/" % self.port

    def beam_pid(self) -> int:
        """The OS pid of the server's Erlang VM (beam.smp, from the pid file
        it writes at boot): the process whose CPU is the server's."""
        with open(os.path.join(self.dir, "rabbitmq.pid")) as f:
            return int(f.read().strip())

    @property
    def node_name(self) -> str:
        return "dramatiq-test-%d@localhost" % self.port

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "HOME": self.dir,  # the Erlang cookie
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def ctl(self, *args: str) -> str:
        """Runs rabbitmqctl against this node; returns its output."""
        ctl = os.path.join(os.path.dirname(self.binary), "rabbitmqctl")
        proc = subprocess.run([ctl, "-n", self.node_name, *args], capture_output=True, text=True,
                              env=self._env(), cwd=self.dir, timeout=120)
        if proc.returncode != 0:
            raise self.error("rabbitmqctl %s failed:\n%s%s" % (" ".join(args), proc.stdout, proc.stderr))
        return proc.stdout

    def list_queues(self) -> dict:
        """{queue name: (durable, {argument: (AMQP type, value)})} as the
        server reports them."""
        import json

        rows = json.loads(self.ctl("list_queues", "name", "durable", "arguments", "--formatter", "json", "-q"))
        queues = {}
        for row in rows:
            arguments = row["arguments"]
            if isinstance(arguments, list):
                arguments = {entry[0]: tuple(entry[1:]) for entry in arguments}
            queues[row["name"]] = (row["durable"], arguments)
        return queues

    def _argv(self) -> list[str]:
        return [self.binary]

    def _answers(self) -> bool:
        return amqp_answers(self.port)

    def start(self):
        if self._epmd is None or self._epmd.poll() is not None:
            self._epmd = subprocess.Popen(
                [EPMD_BINARY, "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.dir, start_new_session=True,
            )
        return super().start()

    def close(self) -> None:
        super().close()
        if self._epmd is not None:
            if self._epmd.poll() is None:
                self._epmd.send_signal(signal.SIGTERM)
                try:
                    self._epmd.wait(10)
                except subprocess.TimeoutExpired:
                    self._epmd.kill()
                    self._epmd.wait(10)
            self._epmd = None


def delete_queues(server, names):
    """Delete queues (and their .DQ/.XQ) with pika, ignoring missing ones."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(server.url))
    try:
        channel = connection.channel()
        for name in names:
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(name + suffix)
    finally:
        connection.close()


def close_broker(broker, server):
    """Teardown shared by the broker fixtures: drop the test's queues (only
    while the server is up), then close."""
    try:
        if server.running:
            delete_queues(server, broker.get_declared_queues())
    finally:
        broker.close()


def started_or_failed(server: "RabbitmqServer") -> "RabbitmqServer":
    """``server`` started, for a test fixture: when it does not start, it is
    closed and the test fails with the reason."""
    import pytest

    try:
        server.start()
    except RabbitmqServerError as e:
        server.close()
        pytest.fail(str(e))
    return server
