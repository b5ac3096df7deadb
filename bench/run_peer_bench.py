#!/usr/bin/env python3
"""dramatiq-cpp against upstream Dramatiq and other Python task queues.

One command: builds a venv per peer under bench/.venvs/ from pinned PyPI
packages (first use only), starts one private redis-server, and runs every
workload for every system in the same run, rotating the order of the
systems every round and flushing the server before every run.  Each run is
a fresh process of bench/peer_bench.py in that system's interpreter, which
starts the system's own worker command.  Prints the tables, and writes the
markdown report and the PNG plot (matplotlib from its own venv).

    python3 bench/run_peer_bench.py            # full: 3 rounds, < 15 min
    python3 bench/run_peer_bench.py --quick    # 1 round, short windows, < 3 min

Full runs write docs/benchmarks-peers.md and docs/img/peers.png; --quick
runs write to bench/results/ unless --out-dir is given.  Raw results go to
bench/results/peers[-quick].json.

Exit status: 0 success, 1 a run failed, 2 setup problem.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO_ROOT / "tests" / "python"))

import ours_install  # noqa: E402
import peer_report  # noqa: E402
import peer_systems as ps  # noqa: E402
from redis_resp import Resp  # noqa: E402
from rabbitmq_support import RabbitmqServer  # noqa: E402
from redis_support import RedisServer  # noqa: E402

HARNESS = BENCH_DIR / "peer_bench.py"
WORKLOADS = ("noop", "fib", "io", "send", "batch", "latency")

# Per-run sizes and time boxes: (full, quick).  Slow systems cannot
# enqueue 100k messages or drain them within the suite's time limit, so
# pre-enqueueing stops after PREFILL seconds and the drain is timed for at
# most DRAIN seconds; every figure is a rate over what was actually done.
PARAMS = {
    "rounds": (3, 1),
    "messages": (100000, 20000),
    "prefill_budget": (4.0, 1.5),
    "max_drain": (4.0, 2.0),
    "sends": (10000, 2000),
    "send_budget": (2.5, 1.0),
    "reps": (10, 3),
    "latency_sends": (1000, 200),
    "latency_budget": (5.0, 2.0),
    "idle_seconds": (1.0, 0.5),
}


def harness_argv(python, adapter, workload, system, server, p, amqp=None):
    argv = [python, str(HARNESS), "--adapter", adapter, "--mode", workload, "--url", server.url,
            "--redis-pid", str(server.pid)]
    if amqp is not None and ps.uses_rabbitmq(system):
        argv += ["--server-pid", str(amqp.beam_pid())]
    if workload in ps.SIZING:
        procs, threads = ps.sizing(system, workload)
        argv += ["--processes", str(procs), "--threads", str(threads)]
    if workload in ("noop", "fib", "io"):
        argv += ["--messages", str(p["messages"]), "--prefill-budget", str(p["prefill_budget"]),
                 "--max-drain", str(p["max_drain"])]
    elif workload == "send":
        argv += ["--sends", str(p["sends"]), "--send-budget", str(p["send_budget"])]
    elif workload == "batch":
        argv += ["--reps", str(p["reps"]), "--send-budget", str(p["send_budget"])]
    elif workload == "latency":
        argv += ["--latency-sends", str(p["latency_sends"]), "--latency-budget", str(p["latency_budget"]),
                 "--idle-seconds", str(p["idle_seconds"])]
    return argv


def run_once(argv, env, server, timeout):
    with Resp("127.0.0.1", server.port) as c:
        c.command("FLUSHALL")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=str(BENCH_DIR), env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, "timed out after %ss: %s" % (timeout, (e.stderr or b"")[-2000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else None
    if result is not None:
        result["run_seconds"] = time.perf_counter() - t0
    if proc.returncode != 0 or result is None:
        err = "exit %d: %s" % (proc.returncode, proc.stderr.strip()[-2000:])
        if result and result.get("worker_log_tail"):
            err += "\nworker log tail:\n" + result["worker_log_tail"][-1000:]
        return result, err
    return result, None


def check_identity(system, result):
    """ours must really be dramatiq-cpp, and upstream really upstream."""
    impl = result.get("implementation")
    if system in ps.OURS_SYSTEMS and impl != "dramatiq-cpp":
        return "ours did not import dramatiq-cpp (--ours-python/--ours-pythonpath wrong?)"
    if system in (ps.UPSTREAM, ps.UPSTREAM_RABBITMQ) and (impl is not None or result["versions"].get("dramatiq") != "2.2.1"):
        return "upstream is not dramatiq 2.2.1: %s %s" % (impl, result["versions"])
    return None


def git(*args, repo=REPO_ROOT):
    try:
        return subprocess.run(["git", "-C", str(repo)] + list(args), capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def ours_build(python, pythonpath, installed_commit=None):
    """Which dramatiq-cpp the runs import: the installed commit, or the
    commit of the checkout that holds --ours-pythonpath, and when its engine
    was built.  A development tree can be rebuilt during a run, so the
    driver records this before and after."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run([str(python), "-c", "import dramatiq._engine as e; print(e.__file__)"],
                          env=env, capture_output=True, text=True)
    engine = Path(proc.stdout.strip()).resolve() if proc.returncode == 0 and proc.stdout.strip() else None
    commit = installed_commit[:7] if installed_commit else git("log", "-1", "--format=%h", repo=pythonpath)
    return {"commit": commit, "installed": bool(installed_commit),
            "engine": str(engine) if engine else None,
            "engine_built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(engine.stat().st_mtime))
            if engine else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, short time boxes (< 3 min)")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    ap.add_argument("--systems", default=",".join(s[0] for s in ps.SYSTEMS),
                    help="comma-separated subset of: %s" % ",".join(s[0] for s in ps.SYSTEMS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of %s"
                    % ",".join(WORKLOADS))
    ours_install.add_arguments(ap)
    ap.add_argument("--out-dir", help="where the report goes: <dir>/benchmarks-peers.md and <dir>/img/peers.png "
                    "(default docs/, or bench/results/ with --quick)")
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG (and the matplotlib venv)")
    ap.add_argument("--timeout", type=float, default=180, help="time limit per run, s")
    args = ap.parse_args(argv)

    k = 1 if args.quick else 0
    p = {name: v[k] for name, v in PARAMS.items()}
    if args.rounds:
        p["rounds"] = args.rounds
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    systems = [s for s in ps.SYSTEMS if s[0] in wanted]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if len(systems) != len(wanted) or any(w not in WORKLOADS for w in workloads):
        ap.error("unknown system or workload")
    out_dir = Path(args.out_dir) if args.out_dir else (
        BENCH_DIR / "results" if args.quick else REPO_ROOT / "docs")
    suffix = "-quick" if args.quick else ""
    json_path = BENCH_DIR / "results" / ("peers%s.json" % suffix)

    if args.ours_pythonpath:
        if not list(Path(args.ours_pythonpath).glob("dramatiq/_engine*.so")):
            ps.log("error: no dramatiq/_engine*.so under --ours-pythonpath %s (build first, or point it at a "
                   "checkout that has one)" % args.ours_pythonpath)
            return 2
    try:
        installed_commit = ours_install.choose_python(args)
    except SystemExit as e:
        ps.log(str(e))
        return 2

    t_suite = time.monotonic()
    try:
        interps = {key: ps.interpreter(key, reqs, args.ours_python, args.ours_pythonpath)
                   for key, _, reqs, _ in systems}
        plot_python = None if args.no_plot else ps.ensure_venv("plot", ps.PLOT_REQUIREMENTS)
    except (SystemExit, subprocess.CalledProcessError) as e:
        ps.log(str(e))
        return 2

    meta = {
        "command": shlex.join(["python3", "bench/run_peer_bench.py"] + (sys.argv[1:] if argv is None else argv)),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("log", "-1", "--format=%h"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "host": platform.platform(), "nproc": os.cpu_count(), "python": platform.python_version(),
        "loadavg_start": os.getloadavg(), "params": p,
        "ours_pythonpath": args.ours_pythonpath, "ours_python": args.ours_python,
        "ours_start": ours_build(args.ours_python, args.ours_pythonpath, installed_commit),
        "systems": [{"key": key, "label": label, "requirements": reqs, "adapter": adapter,
                     "sizing": {w: ps.sizing(key, w) for w in ps.SIZING}}
                    for key, label, reqs, adapter in systems],
        "workloads": workloads,
    }
    results = []
    failures = 0
    server = RedisServer()
    server.start()
    amqp = None
    try:
        if any(ps.uses_rabbitmq(key) for key, _, _, _ in systems):
            amqp = RabbitmqServer()
            amqp.start()
            for _, env in interps.values():
                env["PEER_BENCH_AMQP_URL"] = amqp.url
            ps.log("rabbitmq-server pid %d port %d" % (amqp.pid, amqp.port))
        with Resp("127.0.0.1", server.port) as c:
            meta["redis_version"] = c.info("server").get("redis_version")
        ps.log("redis-server %s pid %d port %d; %d rounds; systems %s"
               % (meta["redis_version"], server.pid, server.port, p["rounds"], ",".join(s[0] for s in systems)))
        for rnd in range(p["rounds"]):
            for workload in workloads:
                # Rotate which system goes first, so none always runs right
                # after the same neighbour.
                order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
                for key, label, reqs, adapter in order:
                    python, env = interps[key]
                    ps.log("[round %d/%d] %-8s %-13s ..." % (rnd + 1, p["rounds"], workload, key))
                    hv = harness_argv(python, adapter, workload, key, server, p, amqp)
                    result, err = run_once(hv, env, server, args.timeout)
                    if err is not None and key in ps.OURS_SYSTEMS and "_engine" in err:
                        # build-dev/ or python/ of the checkout we import from
                        # was being updated; try once more.
                        ps.log("  failed on _engine (checkout being rebuilt?); retrying in 10 s")
                        time.sleep(10)
                        result, err = run_once(hv, env, server, args.timeout)
                    if err is None:
                        err = check_identity(key, result)
                    if err is not None:
                        failures += 1
                        ps.log("  FAILED: %s" % err)
                        results.append({"system": key, "workload": workload, "round": rnd, "error": err})
                        continue
                    result.pop("worker_log_tail", None)
                    result.update(system=key, workload=workload, round=rnd)
                    results.append(result)
                    ps.log("  " + peer_report.one_line(workload, result))
    finally:
        server.close()
        if amqp is not None:
            amqp.close()
    meta["loadavg_end"] = os.getloadavg()
    meta["ours_end"] = ours_build(args.ours_python, args.ours_pythonpath, installed_commit)
    if meta["ours_end"] != meta["ours_start"]:
        ps.log("warning: ours changed during the run: %s -> %s" % (meta["ours_start"], meta["ours_end"]))
    meta["suite_seconds"] = time.monotonic() - t_suite

    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    summary = peer_report.summarize(meta, results)
    print(peer_report.text_tables(summary))
    md_path = out_dir / "benchmarks-peers.md"
    png_path = out_dir / "img" / "peers.png"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(peer_report.markdown(summary, png_path.relative_to(md_path.parent)))
    ps.log("report: %s; raw results: %s" % (md_path, json_path))
    if plot_python:
        png_path.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([str(plot_python), str(BENCH_DIR / "peer_plot.py"), str(json_path), str(png_path)])
        if r.returncode != 0:
            ps.log("error: the plot failed")
            failures += 1
        else:
            ps.log("plot: %s" % png_path)
    ps.log("suite took %.0f s" % meta["suite_seconds"])
    if failures:
        ps.log("error: %d run(s) failed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
