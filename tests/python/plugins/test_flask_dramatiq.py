"""flask-dramatiq: ``flask worker`` (which builds its arguments with
dramatiq.cli.make_argument_parser, reads dramatiq.cli.HAS_WATCHDOG and
calls dramatiq.cli.main with the app's broker set globally) runs an actor
declared on the extension, inside the Flask app context."""

from plugin_scenarios import bin_of, run_scenario

FILES = {
    "app.py": """
        import os
        import redis
        from flask import Flask, current_app
        from flask_dramatiq import Dramatiq

        app = Flask(__name__)
        app.config["DRAMATIQ_BROKER"] = "dramatiq.brokers.redis:RedisBroker"
        app.config["DRAMATIQ_BROKER_URL"] = os.environ["REDIS_URL"]
        app.config["GREETING"] = "hello"
        dramatiq = Dramatiq(app)

        @dramatiq.actor(max_retries=0)
        def greet(name):
            # current_app: the extension's middleware pushed the app context.
            redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(
                "greetings", "%s %s" % (current_app.config["GREETING"], name))
    """,
}

SCENARIO = """
import os, signal, subprocess, sys, time
import redis
from app import greet

client = redis.Redis.from_url(os.environ["REDIS_URL"])
worker = subprocess.Popen([os.environ["FLASK_BIN"], "--app", "app", "worker", "--processes", "1", "--threads", "1"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    greet.send("ada")
    deadline = time.monotonic() + 90
    while client.llen("greetings") == 0:
        assert worker.poll() is None, "flask worker exited: %s" % worker.communicate()[0]
        assert time.monotonic() < deadline, "the actor never ran"
        time.sleep(0.1)
finally:
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=60)[0]
print(output)
assert client.lrange("greetings", 0, -1) == [b"hello ada"]
assert worker.returncode == 0, worker.returncode
print("SCENARIO OK")
"""


def test_flask_worker_runs_an_actor_in_the_app_context(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, files=FILES,
                 env={"REDIS_URL": redis_server.url, "FLASK_BIN": bin_of("flask")})
