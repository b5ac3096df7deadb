"""Running a plugin scenario: a script in a fresh interpreter, as a user
would run it, so that a plugin's import-time patches and the worker's
processes are those of a real application.

The interpreter is ``$DRAMATIQ_PLUGIN_PYTHON`` when set, else the one
running the tests. Pointing it at a venv with upstream Dramatiq 2.2.1 and
the same plugin versions runs the very same scenarios on upstream (how the
"upstream" column of docs/compatibility.md was filled in)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: Generous bound for one scenario; they take a few seconds.
SCENARIO_TIMEOUT = 120


def plugin_python() -> str:
    return os.environ.get("DRAMATIQ_PLUGIN_PYTHON") or sys.executable


def bin_of(name: str) -> str:
    """A console script installed beside the scenario interpreter."""
    return str(Path(plugin_python()).parent / name)


def run_scenario(tmp_path: Path, script: str, *, env: dict | None = None, files: dict | None = None,
                 timeout: float = SCENARIO_TIMEOUT) -> str:
    """Write ``script`` (and ``files``: relative path -> text) under
    ``tmp_path``, run it there and return its output; fail the test with
    that output unless it exits 0 having printed ``SCENARIO OK``."""
    for relative, text in (files or {}).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tmp_path / "scenario.py").write_text(textwrap.dedent(script))
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.run([plugin_python(), "scenario.py"], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "SCENARIO OK" in proc.stdout, output
    return output
