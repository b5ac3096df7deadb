#!/usr/bin/env python3
"""Compare upstream Dramatiq and dramatiq-cpp on RabbitmqBroker.

Starts its own rabbitmq-server (tests/python/rabbitmq_support.py: a temp
dir, free loopback ports, its own epmd), then runs bench/rabbitmq_bench.py
in a fresh process per run, for both implementations, alternating which
goes first every round, deleting the bench queue before every run. Prints
medians, ratios and min-max ranges; stops rabbitmq-server by PID at the end.

Workloads (the same as run_redis_bench.py's): throughput (1 process x 8
threads draining --messages pre-enqueued no-op messages; both processes'
CPU printed: the worker's and rabbitmq-server's beam.smp), send (a send
loop, with and without publisher confirms), group (group of 1,000, with
and without confirms), latency (idle send -> actor start p50/p99).

Interpreters: ours as the other drivers choose it (ours_install.py:
--ours-python / --ours-pythonpath / --ours-rev); upstream --upstream-python,
else <repo>/.venv-upstream/bin/python (with pika).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SCRIPT = BENCH_DIR / "rabbitmq_bench.py"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO_ROOT / "tests" / "python"))

import ours_install  # noqa: E402
import run_stub_bench as stub  # noqa: E402  (child env)
from rabbitmq_support import RabbitmqServer  # noqa: E402

UPSTREAM, OURS = stub.UPSTREAM, stub.OURS
log = stub.log

# (name, mode, extra args, [(metric, label, better)])
WORKLOADS = [
    ("throughput", "throughput", [], [("throughput", "no-op throughput (msg/s)", "higher"),
                                      ("worker_cpu_seconds", "worker CPU over drain (s)", "lower"),
                                      ("server_cpu_seconds", "rabbitmq-server CPU over drain (s)", "lower"),
                                      ("worker_cpu_util", "worker CPU / wall (cores)", "-"),
                                      ("server_cpu_util", "rabbitmq-server CPU / wall (cores)", "-")]),
    ("send", "send", [], [("send_us", "actor.send, no confirms (us each)", "lower")]),
    ("send-confirm", "send", ["--confirm"], [("send_us", "actor.send, confirm_delivery (us each)", "lower")]),
    ("group", "group", [], [("group_ms", "group(1000).run(), no confirms (ms)", "lower")]),
    ("group-confirm", "group", ["--confirm"], [("group_ms", "group(1000).run(), confirm_delivery (ms)", "lower")]),
    ("latency", "latency", [], [("p50_ms", "idle send->start p50 (ms)", "lower"),
                                ("p99_ms", "idle send->start p99 (ms)", "lower")]),
]


def delete_queue(server, name):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(server.url))
    try:
        channel = connection.channel()
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(name + suffix)
    finally:
        connection.close()


def run_once(python, kind, server, mode, extra, args):
    delete_queue(server, "bench")
    messages = {"throughput": args.messages, "send": args.sends, "group": 0, "latency": args.latency_messages}[mode]
    argv = [str(python), str(SCRIPT), "--mode", mode, "--url", server.url, "--server-pid", str(server.beam_pid()),
            "--messages", str(messages)] + extra
    env = stub.child_env(kind, args.ours_pythonpath if kind == OURS else None)
    proc = subprocess.run(argv, cwd=str(BENCH_DIR), env=env, capture_output=True, text=True, timeout=1800)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit("error: %s %s run failed (exit %d):\n%s" % (kind, mode, proc.returncode, proc.stderr[-3000:]))
    if result.get("errors"):
        raise SystemExit("error: %s %s: %s" % (kind, mode, result["errors"]))
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ours_install.add_arguments(p)
    p.add_argument("--upstream-python", default=str(REPO_ROOT / ".venv-upstream" / "bin" / "python"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--messages", type=int, default=100000, help="throughput: pre-enqueued messages")
    p.add_argument("--sends", type=int, default=5000)
    p.add_argument("--latency-messages", type=int, default=300)
    p.add_argument("--bench", action="append", choices=[w[0] for w in WORKLOADS],
                   help="only these workloads (repeatable; default all)")
    p.add_argument("--quick", action="store_true", help="1 run, 10k messages, 1k sends, 100 latency samples")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.messages, args.sends, args.latency_messages = 1, 10000, 1000, 100
    ours_install.choose_python(args)
    pythons = {UPSTREAM: args.upstream_python, OURS: args.ours_python}
    chosen = [w for w in WORKLOADS if not args.bench or w[0] in args.bench]

    server = RabbitmqServer()
    server.start()
    results = {(w[0], kind): [] for w in chosen for kind in pythons}
    try:
        for round_index in range(args.runs):
            order = [UPSTREAM, OURS] if round_index % 2 == 0 else [OURS, UPSTREAM]
            for name, mode, extra, _ in chosen:
                for kind in order:
                    log("round %d: %s %s" % (round_index + 1, kind, name))
                    results[(name, kind)].append(run_once(pythons[kind], kind, server, mode, extra, args))
    finally:
        server.close()

    print("RabbitMQ benchmark: %d run(s); throughput over %d messages, %d sends, %d latency samples; "
          "rabbitmq-server %s" % (args.runs, args.messages, args.sends, args.latency_messages,
                                  time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print("%-44s %14s %14s %8s" % ("metric (median, [min-max])", "upstream", "ours", "ratio"))
    for name, mode, extra, metrics in chosen:
        for key, label, better in metrics:
            medians = {}
            cells = []
            for kind in (UPSTREAM, OURS):
                values = [r[key] for r in results[(name, kind)] if r.get(key) is not None]
                medians[kind] = statistics.median(values) if values else None
                cells.append("%.4g [%.3g-%.3g]" % (medians[kind], min(values), max(values)) if values else "-")
            ratio = ""
            if medians[UPSTREAM] and medians[OURS] and better != "-":
                r = medians[OURS] / medians[UPSTREAM] if better == "higher" else medians[UPSTREAM] / medians[OURS]
                ratio = "%.1fx" % r
            print("%-44s %14s %14s %8s" % (label, cells[0], cells[1], ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
