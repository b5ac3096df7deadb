"""Resident memory around a StubBroker backlog: RSS before, with N messages
queued before any worker starts, and after a worker drained them and
stopped.  Runs with whichever dramatiq the interpreter imports, so the same
script measures ours and upstream side by side:

    python bench/backlog_rss.py --messages 200000
    /path/to/upstream-venv/bin/python bench/backlog_rss.py --messages 200000

Prints one line per stage, in MB (from /proc/self/statm)."""

import argparse
import gc
import os

import dramatiq
from dramatiq.brokers.stub import StubBroker


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    broker = StubBroker()
    dramatiq.set_broker(broker)

    @dramatiq.actor
    def work(i, payload):
        pass

    payload = "x" * 64
    work.send(0, payload)  # everything imported and declared before the baseline
    worker = dramatiq.Worker(broker, worker_threads=args.threads)
    worker.start()
    broker.join(work.queue_name)
    worker.join()
    worker.stop()
    gc.collect()
    print("baseline  %6.1f MB" % rss_mb(), flush=True)

    for i in range(args.messages):
        work.send(i, payload)
    gc.collect()
    print("queued    %6.1f MB  (%d messages)" % (rss_mb(), args.messages), flush=True)

    worker = dramatiq.Worker(broker, worker_threads=args.threads)
    worker.start()
    broker.join(work.queue_name)
    worker.join()
    worker.stop()
    gc.collect()
    print("drained   %6.1f MB" % rss_mb(), flush=True)


if __name__ == "__main__":
    main()
