"""How the package is installed: its distribution is named ``dramatiq``
(upstream's version with a local label), so installing a plugin that
requires ``dramatiq`` keeps our engine instead of pulling upstream's wheel
over it — with pip and with uv. The installers' dry runs resolve against
PyPI (CI has it)."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys

import pytest

import dramatiq

pytestmark = pytest.mark.superset

# Plugins that declare Requires-Dist: dramatiq. CI installs the first three
# for the plugin scenarios (scripts/setup.sh), after our package; the
# installers must still resolve whichever are missing (dramatiq-sqlite at
# least) without touching our dramatiq.
PLUGINS = ["periodiq", "dramatiq-abort", "django-dramatiq", "dramatiq-sqlite"]


def not_installed(plugins):
    missing = []
    for plugin in plugins:
        try:
            importlib.metadata.distribution(plugin)
        except importlib.metadata.PackageNotFoundError:
            missing.append(plugin)
    return missing


def test_the_distribution_is_dramatiq_with_a_local_version():
    distribution = importlib.metadata.distribution("dramatiq")
    assert distribution.version.startswith(dramatiq.__version__ + "+cpp")
    files = [str(f) for f in distribution.files or []]
    assert any(f.startswith("dramatiq/_engine") for f in files), files[:20]


def test_pip_keeps_our_dramatiq_when_a_plugin_requires_it():
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
         "--report", "-", *PLUGINS],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    names = {item["metadata"]["name"].lower() for item in report["install"]}
    missing = not_installed(PLUGINS)
    assert missing and set(missing) <= names, (missing, names)
    assert "dramatiq" not in names, names


def uv():
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def test_uv_keeps_our_dramatiq_when_a_plugin_requires_it():
    proc = subprocess.run(
        [*uv(), "pip", "install", "--dry-run", "--python", sys.executable, *PLUGINS],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, NO_COLOR="1"),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    installs = [line.split()[1] for line in out.splitlines() if line.strip().startswith("+ ")]
    missing = not_installed(PLUGINS)
    assert missing and all(any(p.startswith(m + "==") for p in installs) for m in missing), out
    assert not any(p.startswith("dramatiq==") for p in installs), out
    assert not any(line.strip().startswith("- dramatiq==") for line in out.splitlines()), out
