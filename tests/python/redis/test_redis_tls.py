"""RedisBroker over TLS (``rediss://`` and ``ssl=True``) against a real
redis-server listening only on a TLS port, with certificates made for the
test by the openssl command."""

import shutil
import socket
import ssl
import subprocess
import time

import pytest

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import redis_support


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA; a server certificate for 127.0.0.1 (its IP subjectAltName);
    one for another name only ("elsewhere"); a client certificate."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=dramatiq-test-ca", cwd=d)  # fmt: skip
    names = {"server": "IP:127.0.0.1", "elsewhere": "DNS:elsewhere.example", "client": "DNS:client"}
    for name, alt_name in names.items():
        (d / (name + ".ext")).write_text("subjectAltName=%s\n" % alt_name)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name, cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
                cwd=d)  # fmt: skip
    return {p.name: str(p) for p in d.iterdir()}


def tls_ping(port, ca_file, certs):
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    context.load_cert_chain(certs["client.crt"], certs["client.key"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
            with context.wrap_socket(raw) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def tls_server(certificates, tmp_path):
    """A redis-server with TLS only (no plain port); clients may present a
    certificate (required when the test asks for it)."""
    def start(require_client_certificate=False, identity="server"):
        port = redis_support.free_port()
        process = subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
             "--tls-cert-file", certificates[identity + ".crt"], "--tls-key-file", certificates[identity + ".key"],
             "--tls-ca-cert-file", certificates["ca.crt"],
             "--tls-auth-clients", "yes" if require_client_certificate else "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 20
        while not tls_ping(port, certificates["ca.crt"], certificates):
            assert process.poll() is None, "redis-server exited (built without TLS support?)"
            assert time.monotonic() < deadline, "redis-server did not answer over TLS"
            time.sleep(0.02)
        return port

    started = []
    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=15)


def run_messages(broker, count=5):
    """Send ``count`` messages and process them with a worker; returns what ran."""
    dramatiq.set_broker(broker)
    seen = []

    @dramatiq.actor(queue_name="tls")
    def record(x):
        seen.append(x)

    for i in range(count):
        record.send(i)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        broker.join("tls", timeout=10000)
    finally:
        worker.stop()
    return sorted(seen)


def test_rediss_url_with_ca(tls_server, certificates):
    port = tls_server()
    broker = RedisBroker(url="rediss://127.0.0.1:%d/0?ssl_ca_certs=%s" % (port, certificates["ca.crt"]))
    try:
        assert run_messages(broker) == [0, 1, 2, 3, 4]
    finally:
        broker.close()


def test_ssl_keyword_parameters_with_client_certificate(tls_server, certificates):
    port = tls_server(require_client_certificate=True)
    broker = RedisBroker(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=certificates["ca.crt"],
        ssl_certfile=certificates["client.crt"],
        ssl_keyfile=certificates["client.key"],
    )
    try:
        assert run_messages(broker) == [0, 1, 2, 3, 4]
    finally:
        broker.close()


def test_certificate_for_another_host_is_refused(tls_server, certificates):
    port = tls_server(identity="elsewhere")
    url = "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s" % (port, certificates["ca.crt"])
    broker = RedisBroker(url=url)
    broker.declare_queue("tls")
    with pytest.raises(connection_errors(), match="(?i)certificate verify failed|mismatch"):
        broker.enqueue(dramatiq.Message(queue_name="tls", actor_name="a", args=(), kwargs={}, options={}))
    broker.close()
    # Unless the hostname check is turned off (the CA still vouches for it).
    broker = RedisBroker(url=url + "&ssl_check_hostname=false")
    try:
        assert run_messages(broker, count=1) == [0]
    finally:
        broker.close()


def connection_errors():
    """dramatiq's connection errors, or redis-py's (upstream raises those)."""
    import redis

    return (dramatiq.errors.BrokerConnectionError, redis.exceptions.ConnectionError)


def test_untrusted_server_certificate_is_refused(tls_server):
    port = tls_server()
    broker = RedisBroker(url="rediss://127.0.0.1:%d/0" % port)  # the system CAs don't know ours
    broker.declare_queue("tls")
    with pytest.raises(connection_errors(), match="certificate verify failed"):
        broker.enqueue(dramatiq.Message(queue_name="tls", actor_name="a", args=(), kwargs={}, options={}))
    broker.close()


def test_certificate_checks_can_be_turned_off(tls_server):
    port = tls_server()
    broker = RedisBroker(url="rediss://127.0.0.1:%d/0?ssl_cert_reqs=none" % port)
    try:
        assert run_messages(broker, count=2) == [0, 1]
    finally:
        broker.close()
