"""dramatiq-cpp's embedded broker adapter: tasks_dramatiq.py's actors and
worker on ``SQLiteBroker`` on the run's own file ($PEER_BENCH_SQLITE_PATH;
``durable=True`` when $PEER_BENCH_SQLITE_DURABLE is 1).  No server."""

import os

# Before the import: tasks_dramatiq builds its broker from it (the worker
# command imports this module, so its processes choose the same).
os.environ["PEER_BENCH_DRAMATIQ_SQLITE"] = "1"

import tasks_dramatiq  # noqa: E402
from tasks_dramatiq import ACTORS, broker, concurrency  # noqa: E402,F401

USES_REDIS = False


def worker_argvs(processes, threads):
    return tasks_dramatiq.worker_argvs(processes, threads, module="tasks_dramatiq_sqlite")


class Producer(tasks_dramatiq.Producer):
    def flush(self):
        broker.flush_all()
