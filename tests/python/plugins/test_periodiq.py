"""periodiq: the ``periodiq`` scheduler (which imports the broker with
dramatiq.cli.import_broker and reads dramatiq.cli.VERBOSITY) sends a
periodic actor's message, and a ``dramatiq`` worker process runs it with
the PeriodiqMiddleware checking its ``scheduled_at``; the worker command's
own scheduler leaves periodiq's actors to periodiq."""

from plugin_scenarios import bin_of, run_scenario

FILES = {
    "app.py": """
        import os
        import dramatiq
        import redis
        from dramatiq.brokers.redis import RedisBroker
        from dramatiq.middleware import CurrentMessage
        from periodiq import PeriodiqMiddleware, cron

        broker = RedisBroker(url=os.environ["REDIS_URL"])
        broker.add_middleware(PeriodiqMiddleware(skip_delay=60))
        broker.add_middleware(CurrentMessage())
        dramatiq.set_broker(broker)

        @dramatiq.actor(periodic=cron("* * * * *"))
        def tick():
            message = CurrentMessage.get_current_message()
            redis.Redis.from_url(os.environ["REDIS_URL"]).rpush("ticks", message.options["scheduled_at"])
    """,
}

SCENARIO = """
import os, signal, subprocess, sys, time
import redis

client = redis.Redis.from_url(os.environ["REDIS_URL"])
worker = subprocess.Popen([os.environ["DRAMATIQ_BIN"], "app", "--processes", "1", "--threads", "1"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
scheduler = subprocess.Popen([os.environ["PERIODIQ_BIN"], "app", "-v"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
outputs = {}
try:
    deadline = time.monotonic() + 90
    while client.llen("ticks") == 0:
        assert worker.poll() is None and scheduler.poll() is None, "a process exited"
        assert time.monotonic() < deadline, "the periodic actor never ran"
        time.sleep(0.1)
finally:
    for name, process in (("scheduler", scheduler), ("worker", worker)):
        process.send_signal(signal.SIGTERM)
        outputs[name] = process.communicate(timeout=60)[0]
        print("--- %s (exit %s)" % (name, process.returncode))
        print(outputs[name])
scheduled_at = client.lrange("ticks", 0, -1)[0].decode()
import pendulum
pendulum.parse(scheduled_at)  # the scheduler's timestamp, as periodiq writes it
assert "Scheduling Actor(" in outputs["scheduler"] and "tick" in outputs["scheduler"], outputs["scheduler"]
assert "Processing " in outputs["worker"] and "scheduled at " + scheduled_at in outputs["worker"], outputs["worker"]
# periodiq's middleware is on the broker: our own scheduler stays off (no
# tick without periodiq's scheduled_at, none twice).
assert "periodiq schedules the periodic actors" in outputs["worker"], outputs["worker"]
assert "Scheduling 1 periodic task(s)" not in outputs["worker"], outputs["worker"]
assert worker.returncode == 0, worker.returncode
print("SCENARIO OK")
"""


def test_periodic_actor_runs_under_periodiq_and_dramatiq(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, files=FILES,
                 env={"REDIS_URL": redis_server.url, "DRAMATIQ_BIN": bin_of("dramatiq"),
                      "PERIODIQ_BIN": bin_of("periodiq")})
