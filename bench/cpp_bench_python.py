#!/usr/bin/env python3
"""The Python side of bench/run_cpp_bench.py: a Python no-op actor on the
broker a URL names, measured exactly as bench/cpp/noop_throughput.cpp
measures the C++ one (N messages sent up front, then one Worker with 8
threads, worker_timeout 100 ms; the processing phase is timed). Prints one
JSON object.

  python cpp_bench_python.py URL [N] [THREADS]
"""

import json
import logging
import resource
import sys
import time

import dramatiq
from dramatiq.brokers import from_url


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    logging.basicConfig(level=logging.WARNING)
    url = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    broker = from_url(url)
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name="bench")
    def noop(i):
        pass

    broker.flush_all()
    start = time.perf_counter()
    for i in range(count):
        noop.send(i)
    enqueue_seconds = time.perf_counter() - start

    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    worker.start()
    broker.join("bench")
    worker.join()
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    worker.stop()
    broker.close()
    print(json.dumps({"messages": count, "enqueue_rate": round(count / enqueue_seconds, 1),
                      "process_seconds": round(seconds, 4), "throughput": round(count / seconds, 1),
                      "cpu_us_per_message": round(cpu / count * 1e6, 3)}))


if __name__ == "__main__":
    main()
