"""A StubBroker backlog gives its memory back once drained, as upstream's
does (200k queued messages used to keep ~60 MB resident for the life of the
process).  bench/backlog_rss.py prints the same figures for a person."""

import subprocess
import sys
import textwrap

BACKLOG_SCRIPT = """
import gc
import os
import dramatiq
from dramatiq.brokers.stub import StubBroker

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

broker = StubBroker()
dramatiq.set_broker(broker)

@dramatiq.actor
def work(i, payload):
    pass

def drain():
    worker = dramatiq.Worker(broker, worker_threads=4)
    worker.start()
    broker.join(work.queue_name)
    worker.join()
    worker.stop()
    gc.collect()

work.send(0, "x" * 64)
drain()
baseline = rss()
for i in range(150000):
    work.send(i, "x" * 64)
gc.collect()
queued = rss()
drain()
print(baseline, queued, rss())
"""


def test_memory_of_a_drained_backlog_is_returned():
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(BACKLOG_SCRIPT)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    baseline, queued, drained = (int(n) for n in done.stdout.split())
    backlog = queued - baseline
    assert backlog > 20_000_000, done.stdout  # the backlog did take memory
    # Most of it is back (upstream keeps ~6% of it).
    assert drained - baseline < backlog / 4, "baseline %d, queued %d, drained %d" % (baseline, queued, drained)
