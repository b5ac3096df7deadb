"""Turns the peer benchmark's raw results into figures: medians with
min-max over rounds and ratios to upstream Dramatiq, as console text and
as the markdown report.  Pure Python (the plot script imports it from the
matplotlib venv)."""

import statistics

UPSTREAM = "dramatiq"
UPSTREAM_RABBITMQ = "dramatiq-rabbitmq"


def reference_for(system):
    """The upstream system a system's ratios are to: upstream on the same
    broker (RabbitMQ systems' keys end in -rabbitmq), else on Redis."""
    return UPSTREAM_RABBITMQ if system.endswith("-rabbitmq") else UPSTREAM

# workload, result key, label, which way is better, unit for formatting.
METRICS = [
    ("noop", "throughput", "no-op throughput (msg/s)", "higher", "rate"),
    ("fib", "throughput", "small-CPU (fib) throughput (msg/s)", "higher", "rate"),
    ("io", "throughput", "I/O-like (sleep 1-10 ms) throughput (msg/s)", "higher", "rate"),
    ("send", "send_rate", "single-thread send (msg/s)", "higher", "rate"),
    ("batch", "batch_rate", "1,000-message batch enqueue (msg/s)", "higher", "rate"),
    ("latency", "p50_ms", "idle latency send -> start p50 (ms)", "lower", "ms"),
    ("latency", "p99_ms", "idle latency send -> start p99 (ms)", "lower", "ms"),
    ("noop", "worker_cpu_per_10k", "worker CPU s per 10k msgs (no-op)", "lower", "s"),
    ("noop", "server_cpu_per_10k", "broker server CPU s per 10k msgs (no-op)", "lower", "s"),
    ("noop", "peak_rss_mb", "worker peak RSS, MiB (no-op, all processes)", "lower", "mb"),
]

# How many items each figure rests on, shown beside it.
SAMPLE_KEYS = {"noop": "measured_messages", "fib": "measured_messages", "io": "measured_messages",
               "send": "sends", "batch": "reps", "latency": "latency_sends"}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "rate":
        return "{:,.0f}".format(v)
    if unit == "ms":
        return "{:.2f}".format(v) if v < 10 else "{:,.0f}".format(v) if v >= 100 else "{:.1f}".format(v)
    if unit == "s":
        return "{:.2f}".format(v) if v < 10 else "{:.1f}".format(v)
    return "{:.0f}".format(v)


def fmt_ratio(r):
    if r is None:
        return "-"
    return "{:.2f}×".format(r) if r < 10 else "{:.0f}×".format(r) if r >= 100 else "{:.1f}×".format(r)


def one_line(workload, r):
    if workload in ("noop", "fib", "io"):
        redis = "" if r.get("server_cpu_seconds") is None else ", server CPU %.2f s" % r["server_cpu_seconds"]
        return "%s msg/s over %d msgs (%d queued), worker CPU %.2f s%s, peak RSS %.0f MiB" % (
            fmt(r["throughput"], "rate"), r["measured_messages"], r["queued"], r["worker_cpu_seconds"],
            redis, r["peak_rss_mb"])
    if workload == "send":
        return "%s sends/s (%d sends)" % (fmt(r["send_rate"], "rate"), r["sends"])
    if workload == "batch":
        if "unsupported" in r:
            return "n/a: " + r["unsupported"]
        return "%s msg/s (%.1f ms per batch of %d)" % (fmt(r["batch_rate"], "rate"), r["batch_ms"], r["batch_size"])
    return "p50 %s ms, p99 %s ms over %d sends" % (fmt(r["p50_ms"], "ms"), fmt(r["p99_ms"], "ms"),
                                                   r["latency_sends"])


def summarize(meta, results):
    """{"meta", "systems": [(key, label)], "cells": {(metric index, system): cell}, "concurrency"}."""
    systems = [(s["key"], s["label"]) for s in meta["systems"]]
    cells = {}
    concurrency = {}
    for i, (workload, key, _label, _better, _unit) in enumerate(METRICS):
        for system, _ in systems:
            runs = [r for r in results if r["system"] == system and r["workload"] == workload]
            ok = [r for r in runs if "error" not in r]
            for r in ok:
                concurrency[(system, workload)] = r.get("concurrency")
            cell = {"runs": len(ok), "failed": len(runs) - len(ok)}
            unsupported = [r["unsupported"] for r in ok if "unsupported" in r]
            values = [r[key] for r in ok if r.get(key) is not None]
            if unsupported:
                cell["note"] = "n/a: " + unsupported[0]
            elif values:
                cell.update(median=statistics.median(values), min=min(values), max=max(values))
                samples = [r[SAMPLE_KEYS[workload]] for r in ok if SAMPLE_KEYS[workload] in r]
                if samples:
                    cell["samples"] = int(statistics.median(samples))
                if workload in ("noop", "fib", "io"):
                    cell["timed_out"] = sum(1 for r in ok if r.get("timed_out"))
            elif ok and all(key in r and r[key] is None for r in ok):
                cell["note"] = "n/a"  # e.g. server CPU of a system with no server
            elif workload not in meta["workloads"]:
                cell["note"] = "not run"
            else:
                cell["note"] = "failed"
            cells[(i, system)] = cell
        for system, _ in systems:
            c = cells[(i, system)]
            base = cells.get((i, reference_for(system)), {}).get("median")
            if base and c.get("median") is not None:
                c["ratio"] = c["median"] / base
    return {"meta": meta, "systems": systems, "cells": cells, "concurrency": concurrency}


def _cell_headline(c, unit):
    if "median" not in c:
        return c.get("note", "-")
    return "%s (%s)" % (fmt(c["median"], unit), fmt_ratio(c.get("ratio")))


def _table(header, rows, numeric=True):
    align = ["---"] + ["---:" if numeric else "---"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(out)


def headline_table(s):
    header = ["metric (better)"] + [label for _, label in s["systems"]]
    rows = []
    for i, (_w, _k, label, better, unit) in enumerate(METRICS):
        rows.append(["%s (%s)" % (label, better)] + [_cell_headline(s["cells"][(i, key)], unit)
                                                      for key, _ in s["systems"]])
    return _table(header, rows)


def detail_tables(s):
    parts = []
    for i, (workload, _k, label, better, unit) in enumerate(METRICS):
        rows = []
        for key, name in s["systems"]:
            c = s["cells"][(i, key)]
            if "median" not in c:
                rows.append([name, c.get("note", "-"), "", "", str(c["runs"]), ""])
                continue
            notes = []
            if c.get("samples") is not None:
                notes.append("%s %s/run" % ("{:,}".format(c["samples"]),
                                            {"reps": "batches", "sends": "sends",
                                             "latency_sends": "sends"}.get(SAMPLE_KEYS[workload], "msgs")))
            if c.get("timed_out"):
                notes.append("drain time box hit in %d/%d runs" % (c["timed_out"], c["runs"]))
            if c["failed"]:
                notes.append("%d run(s) failed" % c["failed"])
            rows.append([name, fmt(c["median"], unit), "%s–%s" % (fmt(c["min"], unit), fmt(c["max"], unit)),
                         fmt_ratio(c.get("ratio")), str(c["runs"]), "; ".join(notes)])
        parts.append("### %s, %s is better\n\n%s" % (label, better, _table(
            ["system", "median", "min–max", "× Dramatiq 2.2.1", "runs", "per run"], rows)))
    return "\n\n".join(parts)


def text_tables(s):
    return "\n\n".join(["## Headline: median (ratio to Dramatiq 2.2.1)", headline_table(s),
                        "## Each figure: median, min–max over rounds", detail_tables(s)])


def config_table(s):
    rows = []
    meta = s["meta"]
    for sysmeta in meta["systems"]:
        key = sysmeta["key"]
        ours = meta.get("ours_start") or {}
        pkgs = ", ".join(sysmeta["requirements"]) if sysmeta["requirements"] else \
            ("`pip install .` of commit `%s`" % ours.get("commit", "?") if ours.get("installed") else
             "source tree at `%s`, engine built %s" % (ours.get("commit", "?").split(" ")[0], ours.get("engine_built")))
        rows.append([sysmeta["label"], pkgs,
                     s["concurrency"].get((key, "noop"), "-"),
                     s["concurrency"].get((key, "io"), "-"),
                     s["concurrency"].get((key, "latency"), "-")])
    return _table(["system", "packages (PyPI, own venv)", "no-op / fib worker", "I/O worker", "latency worker"], rows,
                  numeric=False)


def markdown(s, png_relpath):
    meta = s["meta"]
    p = meta["params"]
    la0, la1 = meta["loadavg_start"], meta["loadavg_end"]
    lines = [
        "# dramatiq-cpp and other Python task queues on Redis (and dramatiq-cpp's embedded broker)",
        "",
        "Generated by `%s` (bench/run_peer_bench.py; see [benchmarks.md](benchmarks.md)); rerun it rather "
        "than editing this file." % meta["command"],
        "",
        "Run of %s, bench code at commit `%s`%s; %s, %d CPUs, CPython %s, redis-server %s; load average "
        "%.2f at the start, %.2f at the end; the suite took %.0f s." % (
            meta["date"], meta["commit"], " (with uncommitted changes)" if meta.get("dirty") else "",
            meta["host"], meta["nproc"], meta["python"], meta.get("redis_version"), la0[0], la1[0],
            meta["suite_seconds"]),
        "",
        "dramatiq-cpp ran from `%s` at commit `%s` (engine built %s)%s." % (
            meta.get("ours_pythonpath") or meta.get("ours_python"), (meta.get("ours_start") or {}).get("commit"),
            (meta.get("ours_start") or {}).get("engine_built"),
            "" if meta.get("ours_end") == meta.get("ours_start") else
            "; **it changed during the run**, to `%s` (engine built %s)" % (
                (meta.get("ours_end") or {}).get("commit"), (meta.get("ours_end") or {}).get("engine_built"))),
        "",
        "![throughput, enqueue, latency and cost per system](%s)" % png_relpath,
        "",
        "## Headline",
        "",
        "Median of %d round(s); in brackets the ratio to upstream Dramatiq 2.2.1 measured in the same run, on "
        "the same broker (Redis, or RabbitMQ for the RabbitMQ systems) "
        "(for rates above 1× is better, for latency, CPU and memory below 1× is better)." % p["rounds"],
        "",
        headline_table(s),
        "",
        "## How each system runs",
        "",
        "Every system runs the same actor bodies (bench/peers/work.py) through its own decorator and its own "
        "worker command, with its defaults except the concurrency below and per-task INFO logging switched "
        "off (Celery's default). dramatiq-cpp (embedded) is the same package on its embedded broker "
        "(`SQLiteBroker` on a new file per run, default durability): no server, so no server CPU. The broker "
        "server CPU is redis-server's, or for the RabbitMQ systems rabbitmq-server's Erlang VM (beam.smp); "
        "the RabbitMQ systems' ratios are to upstream Dramatiq 2.2.1 on RabbitMQ.",
        "",
        config_table(s),
        "",
        "Batch APIs: Dramatiq `group([...]).run()`; Celery `group([...]).apply_async()`; RQ "
        "`Queue.enqueue_many()`; taskiq has none, so its batch is 1,000 `kiq()` coroutines under "
        "`asyncio.gather`; Huey has none (n/a).",
        "",
        "## Workloads",
        "",
        "- **no-op, fib, I/O-like**: up to %s messages are enqueued before the worker starts (pre-enqueueing "
        "stops after %.0f s for systems that enqueue slower than that; on RabbitMQ the worker starts once "
        "rabbitmq-server is idle again, having written the persistent messages to disk, up to 30 s); the worker command is started and the "
        "clock runs from the first completion to the last, or for at most %.0f s. Completions are counted by "
        "the actors themselves (one byte appended to a shared file per message). fib is an iterative "
        "Fibonacci of a random n in 1..200 (fixed seed); I/O-like sleeps a random 1-10 ms "
        "(`time.sleep`, or `asyncio.sleep` in taskiq's coroutine), so 16 concurrent slots cap it near "
        "16 / 5.5 ms = 2,900 msg/s." % (
            "{:,}".format(p["messages"]), p["prefill_budget"], p["max_drain"]),
        "- **cost** (from the no-op run): CPU seconds (utime+stime from /proc) of every process of the "
        "worker command, and of the broker server (redis-server, or rabbitmq-server's beam.smp), over the timed window, per 10k messages; peak RSS is the sum "
        "of VmHWM over the worker command's processes (supervisor included).",
        "- **send**: the system's single-message enqueue in a loop in one thread, up to %s sends or %.0f s. "
        "**batch**: build and enqueue 1,000 messages, up to %d times (median)." % (
            "{:,}".format(p["sends"]), p["send_budget"], p["reps"]),
        "- **latency**: worker idle for %.1f s after a warm-up message, then one message at a time "
        "(up to %s, or %.0f s): from just before the enqueue call to the actor's first statement "
        "(both `time.perf_counter()`, CLOCK_MONOTONIC, reported through a FIFO)." % (
            p["idle_seconds"], "{:,}".format(p["latency_sends"]), p["latency_budget"]),
        "",
        "## Each figure: median and min–max over rounds",
        "",
        detail_tables(s),
        "",
    ]
    return "\n".join(lines)
