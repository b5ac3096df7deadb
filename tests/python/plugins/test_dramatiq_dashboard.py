"""dramatiq-dashboard (installed without its ``dramatiq<2`` pin, which
upstream 2.2.1 does not meet either): its WSGI app reads our Redis keys
with its own Lua script. A producer that enqueued is listed among the
workers (upstream's enqueue heartbeats), queue sizes are right, a
dead-lettered message shows on the queue's failed tab, and a job page
decodes the stored message."""

from plugin_scenarios import run_scenario

SCENARIO = """
import io, os, re
from wsgiref.util import setup_testing_defaults
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq_dashboard import make_wsgi_middleware

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)

@dramatiq.actor(queue_name="emails", max_retries=0)
def send_email(address):
    raise RuntimeError("mail server down")

@dramatiq.actor(queue_name="reports")
def build_report(n):
    pass

def fallback(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not the dashboard"]

app = make_wsgi_middleware("/drama")(fallback)

def get(path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body.decode()

reports = [build_report.send(n) for n in range(3)]
failing = send_email.send("ada@example.com")

status, page = get("/drama/")
assert status.startswith("200"), status
# The producer heartbeats when it enqueues, so the dashboard lists it.
assert broker.broker_id in page, page
assert re.search(r"reports.*?3", page, re.S), page

worker = dramatiq.Worker(broker, queues={"emails"}, worker_timeout=100, worker_threads=1)
worker.start()
try:
    broker.join("emails", timeout=60000)
    worker.join()
finally:
    worker.stop()

status, page = get("/drama/queues/emails/failed")
assert status.startswith("200"), status
# Messages are listed under their Redis ids, which enqueue stamped.
assert failing.options["redis_message_id"] in page, page
status, page = get("/drama/queues/reports/standard/%s" % reports[0].options["redis_message_id"])
assert status.startswith("200"), status
assert "build_report" in page, page
status, page = get("/elsewhere")
assert status.startswith("404") and page == "not the dashboard"
print("SCENARIO OK")
"""


def test_dashboard_lists_workers_queues_and_messages(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, env={"REDIS_URL": redis_server.url})
