"""opentelemetry-instrumentor-dramatiq: instrumenting (it checks the
``dramatiq`` distribution's version, then patches Actor.message_with_options
and dramatiq.worker._WorkerThread.process_message) gives a producer span
per send and a consumer span per processed message, in the same trace,
recorded by an in-memory exporter."""

from plugin_scenarios import run_scenario

SCENARIO = """
import os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry_instrumentor_dramatiq import DramatiqInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
DramatiqInstrumentor().instrument()
assert DramatiqInstrumentor().is_instrumented_by_opentelemetry, "instrumented nothing"

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)
done = []

@dramatiq.actor
def greet(name):
    done.append(name)

worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
worker.start()
try:
    sent = [greet.send(name) for name in ("ada", "grace")]
    broker.join(greet.queue_name, timeout=60000)
    worker.join()
finally:
    worker.stop()
provider.force_flush()

assert sorted(done) == ["ada", "grace"], done
spans = exporter.get_finished_spans()
producers = {s.attributes["message_id"]: s for s in spans if s.name == "dramatiq.producer.greet"}
consumers = {s.attributes["message_id"]: s for s in spans if s.name == "dramatiq.worker.WorkerThread"}
ids = {m.message_id for m in sent}
assert set(producers) == ids, [s.name for s in spans]
assert set(consumers) == ids, [s.name for s in spans]
for message_id in ids:
    producer, consumer = producers[message_id], consumers[message_id]
    assert consumer.kind == trace.SpanKind.CONSUMER and consumer.attributes["actor_name"] == "greet"
    assert consumer.status.status_code == trace.StatusCode.OK, consumer.status
    # The trace context travelled in the message: one trace per send.
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
print("SCENARIO OK")
"""


def test_spans_for_send_and_process(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, env={"REDIS_URL": redis_server.url})
