#!/usr/bin/env python3
"""Runs upstream Dramatiq 2.2.1's own tests/test_rabbitmq.py against the
dramatiq this interpreter imports (ours, or upstream itself as a check of
the harness), on a private rabbitmq-server.

test_rabbitmq.py comes from the dramatiq 2.2.1 sdist on PyPI (``pip
download``; --tests-file names a local copy). The sdist ships neither
upstream's conftest.py nor common.py, so this harness writes its own
(the fixtures and names test_rabbitmq.py uses: ``rabbitmq_broker``,
``rabbitmq_worker``, ``RABBITMQ_CREDENTIALS``, ``skip_unless_rabbit_mq``).
Upstream's tests connect to 127.0.0.1 on RabbitMQ's default port; the
harness points those connections at its own server's port, and puts a
``rabbitmqctl`` first on PATH that talks to its node (one test stops and
starts the app). Not part of CI: it downloads, and takes about a minute.

  python3 scripts/run_upstream_rabbitmq_tests.py [--python PY] [--tests-file F] [pytest args...]
"""

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "python"))

from rabbitmq_support import RabbitmqServer  # noqa: E402

CONFTEST = '''
import pytest

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from .common import RABBITMQ_CREDENTIALS, RABBITMQ_PORT


@pytest.fixture()
def rabbitmq_broker():
    broker = RabbitmqBroker(host="127.0.0.1", port=RABBITMQ_PORT, max_priority=10,
                            credentials=RABBITMQ_CREDENTIALS)
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture()
def rabbitmq_worker(rabbitmq_broker):
    worker = Worker(rabbitmq_broker, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()
'''

COMMON = '''
import pika.credentials
import pytest

RABBITMQ_PORT = {port}
RABBITMQ_USERNAME = "guest"
RABBITMQ_PASSWORD = "guest"
RABBITMQ_CREDENTIALS = pika.credentials.PlainCredentials(RABBITMQ_USERNAME, RABBITMQ_PASSWORD)
# The harness's server is always there.
skip_unless_rabbit_mq = pytest.mark.skipif(False, reason="")
'''


def fetch_tests_file(python, into):
    subprocess.run([python, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                    "dramatiq==2.2.1", "-d", into], check=True)
    [sdist] = [p for p in os.listdir(into) if p.endswith(".tar.gz")]
    with tarfile.open(os.path.join(into, sdist)) as archive:
        member = archive.getmember("dramatiq-2.2.1/tests/test_rabbitmq.py")
        return archive.extractfile(member).read().decode()


def aimed_at(text, port):
    """Upstream's connections to 127.0.0.1 (default port) go to `port`;
    its deliberately dead port 55672 stays dead."""
    text = text.replace('host="127.0.0.1",', 'host="127.0.0.1", port=%d,' % port)
    text = text.replace('port=%d, port=55672' % port, "port=55672")
    text = text.replace('RabbitmqBroker(host="127.0.0.1")', 'RabbitmqBroker(host="127.0.0.1", port=%d)' % port)
    text = text.replace("amqp://127.0.0.1:5672", "amqp://127.0.0.1:%d" % port)
    text = text.replace('@127.0.0.1"', '@127.0.0.1:%d"' % port)
    text = text.replace('dict(host="127.0.0.1", credentials', 'dict(host="127.0.0.1", port=%d, credentials' % port)
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable, help="interpreter whose dramatiq is tested (needs pika, pytest)")
    p.add_argument("--tests-file", help="a local copy of upstream's tests/test_rabbitmq.py")
    args, pytest_args = p.parse_known_args(argv)

    with tempfile.TemporaryDirectory(prefix="dramatiq-upstream-rabbitmq-") as work:
        source = Path(args.tests_file).read_text() if args.tests_file else fetch_tests_file(args.python, work)
        server = RabbitmqServer()
        server.start()
        try:
            tests = Path(work) / "tests"
            tests.mkdir()
            (tests / "__init__.py").write_text("")
            (tests / "conftest.py").write_text(CONFTEST)
            (tests / "common.py").write_text(COMMON.format(port=server.port))
            (tests / "test_rabbitmq.py").write_text(aimed_at(source, server.port))
            bin_dir = Path(work) / "bin"
            bin_dir.mkdir()
            ctl = bin_dir / "rabbitmqctl"
            lines = ["#!/bin/sh"]
            for key, value in server._env().items():
                if key.startswith(("RABBITMQ_", "ERL_")) or key == "HOME":
                    lines.append("export %s='%s'" % (key, value))
            lines.append('exec %s -n %s "$@"' % (Path(server.binary).parent / "rabbitmqctl", server.node_name))
            ctl.write_text("\n".join(lines) + "\n")
            ctl.chmod(0o755)
            env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ.get("PATH", "")))
            env.pop("PYTHONPATH", None)
            return subprocess.call([args.python, "-m", "pytest", "tests/test_rabbitmq.py", "-q", "-rfE",
                                    "-p", "no:cacheprovider"] + pytest_args,
                                   cwd=work, env=env)
        finally:
            server.close()


if __name__ == "__main__":
    sys.exit(main())
