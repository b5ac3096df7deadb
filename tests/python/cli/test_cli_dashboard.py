"""``dramatiq dashboard APP``: serves the application's broker's dashboard
on loopback, until Ctrl-C."""

import json
import signal
import urllib.request

from cli_support import stop, wait_until, write_app
from server_process import free_port

DASHBOARD_APP = '''
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="reports")
def report(name):
    pass


report.send("daily")
'''


def test_the_command_serves_the_queues_of_the_application(command, tmp_path):
    write_app(tmp_path, DASHBOARD_APP)
    port = free_port()
    child = command.start("dashboard", "app", "--port", str(port))
    wait_until(lambda: "Uvicorn running on http://127.0.0.1:%d" % port in child.stderr() or not child.alive(),
               "the dashboard to listen", child)
    assert child.alive(), child.describe()
    with urllib.request.urlopen("http://127.0.0.1:%d/api/queues" % port, timeout=10) as answer:
        queues = {q["name"]: q for q in json.load(answer)["queues"]}
    assert queues["reports"]["ready"] == 1
    assert stop(child, signal.SIGINT) == 0


def test_an_application_that_does_not_import_is_a_clear_error(command, tmp_path):
    child = command.run("dashboard", "missing_module")
    assert child.process.returncode != 0
    assert "dramatiq dashboard: No module named 'missing_module'" in child.stderr()


def test_the_command_serves_the_queues_a_broker_url_names(command, redis_server):
    # No application: the broker from its URL, the queues named.
    assert "or a broker URL" in " ".join(command.run("dashboard", "--help").stdout().split())
    port = free_port()
    child = command.start("dashboard", redis_server.url, "--queue", "reports", "-Q", "other", "--port", str(port))
    wait_until(lambda: "Uvicorn running on http://127.0.0.1:%d" % port in child.stderr() or not child.alive(),
               "the dashboard to listen", child)
    assert child.alive(), child.describe()
    with urllib.request.urlopen("http://127.0.0.1:%d/api/queues" % port, timeout=10) as answer:
        assert [q["name"] for q in json.load(answer)["queues"]] == ["other", "reports"]
    assert stop(child, signal.SIGINT) == 0


def test_a_broker_url_of_no_known_scheme_is_a_clear_error(command):
    child = command.run("dashboard", "nope://somewhere")
    assert child.process.returncode != 0
    assert child.stderr().startswith("dramatiq dashboard: ")
