#!/usr/bin/env python3
"""Compare upstream Dramatiq and dramatiq-cpp on the StubBroker benchmark.

Runs bench/stub_throughput.py under two interpreters:

  * upstream: bench/.venv-upstream/bin/python (created on first use with
    ``<this python> -m venv`` + ``pip install dramatiq==2.2.1``; PyPI is the
    only network access), or the interpreter given by --upstream-python;
  * ours: by default the package users get: ``pip install .`` of a clean
    copy of HEAD (``git archive``) into bench/.venvs/ours, made on first use
    and whenever HEAD moves (see ours_install.py; uncommitted changes are not
    measured).  --ours-rev REV installs another commit.  Explicitly instead:
    --ours-python PY (an interpreter with ours installed) and/or
    --ours-pythonpath DIR (a development tree, e.g. <checkout>/python with a
    built ``_engine`` in it).  Ours must import dramatiq-cpp
    (``dramatiq._engine`` present).

Runs alternate between the implementations (the order flips every round) and
a table of medians, ratios and min-max ranges is printed per actor.

Exit status: 0 success, 1 a benchmark run failed, 2 setup problem (our package
missing/not dramatiq-cpp, upstream venv could not be prepared).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ours_install  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
SCRIPT = BENCH_DIR / "stub_throughput.py"
DEFAULT_VENV = BENCH_DIR / ".venv-upstream"
UPSTREAM_VERSION = "2.2.1"

UPSTREAM = "upstream"
OURS = "dramatiq-cpp"

# (key, label, direction) -- direction says which way is better.
METRICS = [
    ("enqueue_rate", "enqueue rate (msg/s)", "higher"),
    ("throughput", "throughput (msg/s)", "higher"),
    ("enqueue_seconds", "enqueue time (s)", "lower"),
    ("process_seconds", "process time (s)", "lower"),
    ("cpu_seconds", "cpu during process (s)", "lower"),
    ("cpu_per_msg_us", "cpu per message (us)", "lower"),
    ("voluntary_cs_per_msg", "voluntary ctx switches / msg", "lower"),
    ("stop_seconds", "worker.stop() (s)", "lower"),
    ("peak_rss_mb", "peak RSS (MiB)", "lower"),
]

PROBE = r"""
import json, sys
try:
    import dramatiq
except Exception as e:
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
try:
    import dramatiq._engine
    impl = "dramatiq-cpp"
except ImportError:
    impl = "upstream"
print(json.dumps({"implementation": impl,
                  "version": getattr(dramatiq, "__version__", None),
                  "file": getattr(dramatiq, "__file__", None)}))
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def child_env(kind, ours_pythonpath=None):
    env = dict(os.environ)
    # No inherited PYTHONPATH for either: a source tree on it would shadow
    # the installed package. A development tree is measured only when asked
    # for (--ours-pythonpath).
    env.pop("PYTHONPATH", None)
    if kind == OURS and ours_pythonpath:
        env["PYTHONPATH"] = ours_pythonpath
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def probe(python, kind, ours_pythonpath=None):
    """Return the probe dict for `python`, or {"error": ...}."""
    try:
        proc = subprocess.run(
            [str(python), "-c", PROBE],
            cwd=str(BENCH_DIR), env=child_env(kind, ours_pythonpath),
            capture_output=True, text=True, timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": "cannot run %s: %s" % (python, e)}
    if proc.returncode != 0:
        return {"error": "probe exited %d: %s" % (proc.returncode, proc.stderr.strip()[-2000:])}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "unparseable probe output: %r" % proc.stdout[-2000:]}


def ensure_upstream_venv(venv, base_python):
    py = venv / "bin" / "python"
    if py.exists():
        info = probe(py, UPSTREAM)
        if info.get("implementation") == UPSTREAM and info.get("version") == UPSTREAM_VERSION:
            return py
        log("upstream venv %s is not usable (%s); (re)installing dramatiq==%s"
            % (venv, info.get("error") or info, UPSTREAM_VERSION))
    else:
        log("creating upstream venv %s with %s -m venv" % (venv, base_python))
        r = subprocess.run([base_python, "-m", "venv", str(venv)])
        if r.returncode != 0 or not py.exists():
            raise SystemExit("error: could not create venv %s (exit %d)" % (venv, r.returncode))
    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                        "-q", "dramatiq==%s" % UPSTREAM_VERSION])
    if r.returncode != 0:
        raise SystemExit("error: pip install dramatiq==%s into %s failed (exit %d); "
                         "PyPI must be reachable, or pass --upstream-python"
                         % (UPSTREAM_VERSION, venv, r.returncode))
    info = probe(py, UPSTREAM)
    if info.get("implementation") != UPSTREAM or info.get("version") != UPSTREAM_VERSION:
        raise SystemExit("error: %s still does not import upstream dramatiq %s: %s"
                         % (py, UPSTREAM_VERSION, info))
    return py


def run_once(python, kind, actor, messages, timeout, verify, ours_pythonpath=None):
    cmd = [str(python), str(SCRIPT), "--messages", str(messages), "--actor", actor]
    if verify:
        cmd.append("--verify")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=str(BENCH_DIR), env=child_env(kind, ours_pythonpath),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ss" % timeout
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, "exit %d; stderr tail:\n%s" % (proc.returncode, proc.stderr.strip()[-3000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return None, "no JSON on stdout; stdout tail: %r" % proc.stdout[-2000:]
    try:
        result = json.loads(lines[-1])
    except ValueError as e:
        return None, "bad JSON (%s): %r" % (e, lines[-1][:500])
    result["wall_seconds"] = wall
    return result, None


def fmt(value, key):
    if value is None:
        return "-"
    if key in ("enqueue_rate", "throughput"):
        return "{:,.0f}".format(value)
    if key in ("peak_rss_mb", "cpu_per_msg_us"):
        return "{:.1f}".format(value)
    if key == "voluntary_cs_per_msg":
        return "{:.2f}".format(value)
    return "{:.3f}".format(value)


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def print_table(actor, messages, runs, kinds):
    n_up = len(runs.get(UPSTREAM, []))
    n_ours = len(runs.get(OURS, []))
    print()
    print("== actor=%s  messages=%d  runs: upstream=%d ours=%d ==" % (actor, messages, n_up, n_ours))
    header = ["metric", "better", "upstream med", "ours med", "ours/upst", "upstream min-max", "ours min-max"]
    rows = []
    for key, label, direction in METRICS:
        up_med, up_lo, up_hi = summarize([r.get(key) for r in runs.get(UPSTREAM, [])])
        our_med, our_lo, our_hi = summarize([r.get(key) for r in runs.get(OURS, [])])
        ratio = "-"
        if up_med and our_med is not None:
            ratio = "{:.2f}x".format(our_med / up_med)
        rows.append([
            label, direction,
            fmt(up_med, key), fmt(our_med, key), ratio,
            "-" if up_lo is None else "%s-%s" % (fmt(up_lo, key), fmt(up_hi, key)),
            "-" if our_lo is None else "%s-%s" % (fmt(our_lo, key), fmt(our_hi, key)),
        ])
    if OURS not in kinds:
        keep = [0, 1, 2, 5]
        header = [header[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    if OURS in kinds:
        print("ratio = ours median / upstream median; for rates >1 means ours is faster, "
              "for times/cpu/RSS <1 means ours is better.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=None, help="messages per run (default 100000; 20000 with --quick)")
    p.add_argument("--repeat", type=int, default=None, help="runs per implementation (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="20000 messages, 1 repeat (explicit flags still win)")
    p.add_argument("--actor", choices=("noop", "fib", "both"), default="noop", help="actor(s) to run (default noop)")
    p.add_argument("--upstream-python", help="interpreter with upstream dramatiq %s (skips venv creation)" % UPSTREAM_VERSION)
    ours_install.add_arguments(p)
    p.add_argument("--venv", default=str(DEFAULT_VENV), help="upstream venv location (default bench/.venv-upstream)")
    p.add_argument("--upstream-only", action="store_true", help="measure upstream only (no ours, no ratios)")
    p.add_argument("--allow-upstream-ours", action="store_true",
                   help="harness self-test: accept an upstream dramatiq as 'ours'")
    p.add_argument("--verify", action="store_true", help="pass --verify (count actor invocations) to each run")
    p.add_argument("--timeout", type=float, default=900, help="per-run timeout in seconds (default 900)")
    p.add_argument("--json", metavar="PATH", help="also write all raw results to PATH")
    args = p.parse_args(argv)

    messages = args.messages if args.messages is not None else (20000 if args.quick else 100000)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if messages <= 0 or repeat <= 0:
        p.error("--messages and --repeat must be positive")
    actors = ["noop", "fib"] if args.actor == "both" else [args.actor]

    pythons = {}
    # --- ours -----------------------------------------------------------------
    if not args.upstream_only:
        try:
            ours_install.choose_python(args)
        except SystemExit as e:
            log(str(e))
            return 2
        info = probe(args.ours_python, OURS, args.ours_pythonpath)
        if "error" in info:
            log("error: `import dramatiq` fails under %s (PYTHONPATH %s):\n  %s\n"
                "Pass --ours-python/--ours-pythonpath correctly, or neither to measure pip install . of HEAD; "
                "use --upstream-only to measure upstream alone."
                % (args.ours_python, args.ours_pythonpath, info["error"]))
            return 2
        if info["implementation"] != OURS and not args.allow_upstream_ours:
            log("error: %s imports UPSTREAM dramatiq %s from %s (no dramatiq._engine), not dramatiq-cpp.\n"
                "Pass an --ours-python that has dramatiq-cpp installed, or neither option to measure "
                "pip install . of HEAD."
                % (args.ours_python, info.get("version"), info.get("file")))
            return 2
        log("ours:     %s%s -> %s %s (%s)" % (
            args.ours_python, " PYTHONPATH=%s" % args.ours_pythonpath if args.ours_pythonpath else "",
            info["implementation"], info.get("version"), info.get("file")))
        pythons[OURS] = args.ours_python

    # --- upstream -------------------------------------------------------------
    if args.upstream_python:
        info = probe(args.upstream_python, UPSTREAM)
        if info.get("implementation") != UPSTREAM:
            log("error: --upstream-python %s does not import upstream dramatiq: %s" % (args.upstream_python, info))
            return 2
        if info.get("version") != UPSTREAM_VERSION:
            log("warning: --upstream-python has dramatiq %s, not %s" % (info.get("version"), UPSTREAM_VERSION))
        up_py = args.upstream_python
    else:
        try:
            up_py = ensure_upstream_venv(Path(args.venv), sys.executable)
        except SystemExit as e:
            log(str(e))
            return 2
        info = probe(up_py, UPSTREAM)
    log("upstream: %s -> %s %s (%s)" % (up_py, info.get("implementation"), info.get("version"), info.get("file")))
    pythons[UPSTREAM] = str(up_py)

    kinds = [UPSTREAM] if args.upstream_only else [UPSTREAM, OURS]
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    log("host: %s, %s CPUs, load avg %s; messages=%d repeat=%d actors=%s"
        % (platform.platform(), os.cpu_count(), load, messages, repeat, ",".join(actors)))

    all_results = []
    failures = 0
    per_actor = {}
    for actor in actors:
        runs = {k: [] for k in kinds}
        for i in range(repeat):
            order = kinds if i % 2 == 0 else list(reversed(kinds))
            for kind in order:
                log("[%s %d/%d] %s ..." % (actor, i + 1, repeat, kind))
                result, err = run_once(pythons[kind], kind, actor, messages, args.timeout, args.verify,
                                       args.ours_pythonpath)
                if err is None and result.get("implementation") != kind and not (
                        kind == OURS and args.allow_upstream_ours):
                    err = "expected implementation %s, run reported %s" % (kind, result.get("implementation"))
                if err is not None:
                    failures += 1
                    log("  FAILED: %s" % err)
                    continue
                log("  enqueue %s msg/s, throughput %s msg/s, cpu %.2fs, peak RSS %.1f MiB"
                    % (fmt(result["enqueue_rate"], "enqueue_rate"), fmt(result["throughput"], "throughput"),
                       result["cpu_seconds"], result["peak_rss_mb"]))
                result["kind"] = kind
                result["round"] = i
                runs[kind].append(result)
                all_results.append(result)
        per_actor[actor] = runs
        print_table(actor, messages, runs, kinds)
    sys.stdout.flush()

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"messages": messages, "repeat": repeat, "pythons": pythons,
                       "ours_pythonpath": args.ours_pythonpath,
                       "results": all_results}, f, indent=2)
        log("raw results written to %s" % args.json)

    if failures:
        log("error: %d run(s) failed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
