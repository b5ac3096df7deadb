"""sentry-sdk's Dramatiq integration: an actor's exception on a worker is
captured as a Sentry event (recorded by an in-memory transport), with the
message id and the integration's mechanism; a successful message sends
none."""

from plugin_scenarios import run_scenario

SCENARIO = """
import os, threading
import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.transport import Transport

events = []
captured = threading.Event()

class RecordingTransport(Transport):
    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                events.append(item.payload.json)
                captured.set()

# Before the broker: the integration patches Broker.__init__.
sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=RecordingTransport(),
                integrations=[DramatiqIntegration()], default_integrations=False)

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)
assert type(broker.middleware[0]).__name__ == "SentryMiddleware", broker.middleware

@dramatiq.actor(max_retries=0)
def fine():
    pass

@dramatiq.actor(max_retries=0)
def broken(x):
    raise ValueError("broken %d" % x)

worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
worker.start()
try:
    fine.send()
    message = broken.send(7)
    assert captured.wait(60), "no Sentry event"
    broker.join(broken.queue_name, timeout=60000)
    worker.join()
finally:
    worker.stop()
    sentry_sdk.flush(timeout=10)

assert len(events) == 1, events
event = events[0]
exception = event["exception"]["values"][-1]
assert exception["type"] == "ValueError" and exception["value"] == "broken 7", exception
assert exception["mechanism"]["type"] == "dramatiq" and exception["mechanism"]["handled"] is False, exception
assert event["extra"]["dramatiq_message_id"] == message.message_id, event["extra"]
assert event["transaction"] == "broken", event.get("transaction")
frames = [f["function"] for f in exception["stacktrace"]["frames"]]
assert "broken" in frames, frames
print("SCENARIO OK")
"""


def test_sentry_captures_an_actor_exception(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, env={"REDIS_URL": redis_server.url})
