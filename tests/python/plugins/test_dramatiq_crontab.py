"""dramatiq-crontab: ``manage.py crontab`` (APScheduler) sends an
``@interval`` actor's messages, and a worker runs them through the Sentry
cron monitor that the decorator wrapped around ``actor.fn`` after the
actor was declared: the worker process reports the check-ins (recorded by
an in-memory Sentry transport)."""

from plugin_scenarios import run_scenario

FILES = {
    "manage.py": """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    """,
    "proj/__init__.py": "",
    "proj/settings.py": """
        SECRET_KEY = "scenario"
        USE_TZ = True
        TIME_ZONE = "UTC"
        INSTALLED_APPS = ["dramatiq_crontab", "jobs"]
        DATABASES = {}
        DRAMATIQ_CRONTAB = {}  # no REDIS_URL: no scheduler lock
    """,
    "jobs/__init__.py": "",
    "jobs/tasks.py": """
        import os
        import dramatiq
        import redis
        from dramatiq.brokers.redis import RedisBroker
        from dramatiq_crontab import interval

        dramatiq.set_broker(RedisBroker(url=os.environ["REDIS_URL"]))

        @interval(seconds=1)
        @dramatiq.actor(max_retries=0)
        def tick():
            redis.Redis.from_url(os.environ["REDIS_URL"]).rpush("ticks", os.getpid())
    """,
}

SCENARIO = """
import os, signal, subprocess, sys, threading, time
import sentry_sdk
from sentry_sdk.transport import Transport

check_ins = []
finished = threading.Event()

class RecordingTransport(Transport):
    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "check_in":
                check_ins.append(item.payload.json)
                if item.payload.json.get("status") == "ok":
                    finished.set()

sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=RecordingTransport(), default_integrations=False)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
import django
django.setup()
import dramatiq
import redis
from jobs.tasks import tick


client = redis.Redis.from_url(os.environ["REDIS_URL"])
broker = dramatiq.get_broker()
worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
worker.start()
scheduler = subprocess.Popen([sys.executable, "manage.py", "crontab", "--no-heartbeat"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    assert finished.wait(90), ("no check-in", check_ins)
finally:
    scheduler.send_signal(signal.SIGTERM)
    output = scheduler.communicate(timeout=60)[0]
    worker.stop()
    sentry_sdk.flush(timeout=10)
print(output)
assert "Starting scheduler" in output, output
# The actor ran here, inside the monitor dramatiq-crontab put around actor.fn.
assert str(os.getpid()).encode() in client.lrange("ticks", 0, -1)
slugs = {c["monitor_slug"] for c in check_ins}
statuses = [c["status"] for c in check_ins]
assert slugs == {"tick"}, check_ins
assert "in_progress" in statuses and "ok" in statuses, statuses
print("SCENARIO OK")
"""


def test_interval_actor_runs_inside_its_sentry_monitor(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, files=FILES, env={"REDIS_URL": redis_server.url})
