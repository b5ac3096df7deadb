"""The systems the peer benchmark compares: where each one's interpreter
comes from (a venv under bench/.venvs/ built from pinned PyPI packages, or
the source tree for dramatiq-cpp), which adapter in bench/peers/ it uses,
and how its worker is sized for each workload."""

import os
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENVS = BENCH_DIR / ".venvs"

OURS = "dramatiq-cpp"
OURS_EMBEDDED = "dramatiq-cpp-embedded"
OURS_RABBITMQ = "dramatiq-cpp-rabbitmq"
UPSTREAM = "dramatiq"
UPSTREAM_RABBITMQ = "dramatiq-rabbitmq"
OURS_SYSTEMS = (OURS, OURS_EMBEDDED, OURS_RABBITMQ)

# Every peer's redis-py is pinned to the same release.
REDIS_PY = "redis==8.1.0"
HUEY = "huey==3.5.4"

# Peers on an embedded SQLite file (no server), for run_sqlite_bench.py:
# key, label, pip requirements, adapter module.
SQLITE_PEERS = [
    ("huey-sqlite", "Huey 3.5.4 (SqliteHuey)", [HUEY], "tasks_huey_sqlite"),
    ("taskito", "taskito 0.22.0 (SQLite)", ["taskito==0.22.0"], "tasks_taskito"),
]

# key, label, pip requirements (None: our source tree), adapter module.
SYSTEMS = [
    (OURS, "dramatiq-cpp", None, "tasks_dramatiq"),
    # The embedded broker: the same package on its own SQLite file, no server.
    (OURS_EMBEDDED, "dramatiq-cpp (embedded)", None, "tasks_dramatiq_sqlite"),
    (UPSTREAM, "Dramatiq 2.2.1", ["dramatiq==2.2.1", REDIS_PY], "tasks_dramatiq"),
    ("celery", "Celery 5.7.0", ["celery[redis]==5.7.0", REDIS_PY], "tasks_celery"),
    ("rq", "RQ 2.12.0", ["rq==2.12.0", REDIS_PY], "tasks_rq"),
    ("huey", "Huey 3.5.4", [HUEY, REDIS_PY], "tasks_huey"),
    ("taskiq", "taskiq 0.13.0", ["taskiq==0.13.0", "taskiq-redis==1.2.4", REDIS_PY], "tasks_taskiq"),
    # On one private rabbitmq-server (started when any of these is chosen).
    (OURS_RABBITMQ, "dramatiq-cpp (RabbitMQ)", None, "tasks_dramatiq_rabbitmq"),
    (UPSTREAM_RABBITMQ, "Dramatiq 2.2.1 (RabbitMQ)", ["dramatiq==2.2.1", "pika==1.3.2", REDIS_PY],
     "tasks_dramatiq_rabbitmq"),
    ("celery-rabbitmq", "Celery 5.7.0 (RabbitMQ)", ["celery==5.7.0", REDIS_PY], "tasks_celery_rabbitmq"),
]


def uses_rabbitmq(key):
    return key.endswith("-rabbitmq")
PLOT_REQUIREMENTS = ["matplotlib==3.11.2"]

# (processes, threads) per workload.  RQ runs one job at a time per process:
# its CPU-bound runs get one worker process (more would only contend for
# the GIL-free cores with each other), its I/O run one process per slot.
SIZING = {"noop": (1, 8), "fib": (1, 8), "io": (2, 8), "latency": (1, 8)}
SIZING_OVERRIDES = {"rq": {"noop": (1, 1), "fib": (1, 1), "io": (16, 1), "latency": (1, 1)}}


def sizing(system, workload):
    return SIZING_OVERRIDES.get(system, {}).get(workload, SIZING.get(workload, (1, 8)))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_venv(name, requirements, base_python=sys.executable):
    """bench/.venvs/<name> with exactly `requirements` installed from PyPI.
    A stamp file records what was installed, so later runs skip pip."""
    venv = VENVS / name
    py = venv / "bin" / "python"
    stamp = venv / ".bench-requirements"
    wanted = "\n".join(requirements) + "\n"
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    if not py.exists():
        log("creating venv %s" % venv)
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    log("pip install %s into %s" % (" ".join(requirements), venv))
    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"] + requirements)
    if r.returncode != 0:
        raise SystemExit("error: pip install into %s failed (exit %d); PyPI must be reachable"
                         % (venv, r.returncode))
    stamp.write_text(wanted)
    return py


def interpreter(key, requirements, ours_python, ours_pythonpath):
    """(python, env) to run the harness for system `key`."""
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONUNBUFFERED"] = "1"
    if requirements is None:
        # Ours: the installed package, unless a development tree was asked for.
        env.pop("PYTHONPATH", None)
        if ours_pythonpath:
            env["PYTHONPATH"] = ours_pythonpath
        return str(ours_python), env
    # No PYTHONPATH for peers: an in-tree dramatiq must not shadow upstream.
    env.pop("PYTHONPATH", None)
    return str(ensure_venv(key, requirements)), env
