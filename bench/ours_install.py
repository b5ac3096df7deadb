"""dramatiq-cpp as users get it, for the benchmark drivers.

``ensure_installed()`` returns the interpreter of a venv (bench/.venvs/ours,
git ignores it) into which ``pip install .`` installed a clean copy of one
commit (``git archive``, so nothing untracked or uncommitted and no build
directory of a working tree gets in), with pip's ordinary build isolation:
the build requirements come from PyPI, as they do for a user.  The venv is
reused while what it was built from matches the commit's package files
(PACKAGE_PATHS; a commit touching only bench/, docs/ or tests/ reuses it),
and rebuilt (a few minutes on 2 cores) otherwise.

Measuring a development tree instead is the drivers' explicit
``--ours-pythonpath DIR`` (or ``--ours-python`` for an interpreter that has
ours installed).
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_VENV = BENCH_DIR / ".venvs" / "ours"
STAMP = "dramatiq-cpp-commit"
# What `pip install .` builds from; the rest of the tree does not change it.
PACKAGE_PATHS = ["pyproject.toml", "CMakeLists.txt", "README.md", "src", "include", "python"]

CHECK = "import dramatiq, dramatiq._engine; print(dramatiq.__file__)"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def git(*args):
    return subprocess.run(["git", "-C", str(REPO_ROOT)] + list(args), capture_output=True,
                          check=True).stdout


def resolve_commit(rev):
    return git("rev-parse", "--verify", "%s^{commit}" % rev).decode().strip()


def package_key(commit):
    """The object ids of the commit's package files, one line each."""
    return git("ls-tree", commit, "--", *PACKAGE_PATHS).decode()


def _installed(venv):
    """(commit, package key) the venv was built from, or None if unusable."""
    py = venv / "bin" / "python"
    try:
        commit, _, key = (venv / STAMP).read_text().partition("\n")
    except OSError:
        return None
    ok = subprocess.run([str(py), "-c", CHECK], cwd=str(venv), env=clean_env(),
                        capture_output=True).returncode == 0
    return (commit, key) if ok else None


def clean_env():
    """The environment for building and running the installed package: no
    PYTHONPATH (a source tree on it would shadow what pip installed)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    return env


def ensure_installed(rev="HEAD", venv=DEFAULT_VENV, base_python=sys.executable):
    """(python, commit): an interpreter whose dramatiq is `pip install .` of
    `rev`.  Raises SystemExit with a message when that cannot be done."""
    venv = Path(venv)
    try:
        commit = resolve_commit(rev)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("error: cannot resolve %r in %s: %s" % (rev, REPO_ROOT, e))
    if rev == "HEAD":
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
        if dirty:
            log("warning: the working tree has uncommitted changes; they are NOT measured "
                "(ours is `pip install .` of commit %s)" % commit[:10])
    py = venv / "bin" / "python"
    key = package_key(commit)
    installed = _installed(venv)
    if installed and installed[1] == key:
        same = "" if installed[0] == commit else ", whose package files are those of %s" % commit[:10]
        log("ours: reusing %s (pip install . of %s%s)" % (venv, installed[0][:10], same))
        return str(py), installed[0]
    log("ours: installing commit %s into %s with `pip install .` of a clean copy "
        "(a few minutes) ..." % (commit[:10], venv))
    shutil.rmtree(venv, ignore_errors=True)
    r = subprocess.run([base_python, "-m", "venv", str(venv)])
    if r.returncode != 0 or not py.exists():
        raise SystemExit("error: could not create venv %s" % venv)
    env = clean_env()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="dramatiq-cpp-src-") as src:
        archive = git("archive", "--format=tar", commit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(src)
        proc = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", src],
                              cwd=src, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("error: pip install . of %s failed (exit %d):\n%s"
                         % (commit[:10], proc.returncode, (proc.stdout + proc.stderr)[-4000:]))
    if subprocess.run([str(py), "-c", CHECK], cwd=str(venv), env=env).returncode != 0:
        raise SystemExit("error: %s does not import dramatiq._engine after the install" % py)
    (venv / STAMP).write_text(commit + "\n" + key)
    return str(py), commit


def add_arguments(parser):
    """The options every driver takes to choose which dramatiq-cpp it measures."""
    parser.add_argument("--ours-python", help="interpreter with dramatiq-cpp installed (default: pip install . "
                        "of a clean copy of --ours-rev into bench/.venvs/ours)")
    parser.add_argument("--ours-pythonpath", metavar="DIR",
                        help="measure a development tree: PYTHONPATH for ours (e.g. <checkout>/python with a "
                        "built _engine); runs under --ours-python, or this interpreter")
    parser.add_argument("--ours-rev", default="HEAD", help="commit to install for ours (default HEAD)")


def choose_python(args):
    """Sets ``args.ours_python`` from the options of ``add_arguments``: the
    one given; this interpreter for a development tree (--ours-pythonpath);
    else ``pip install .`` of --ours-rev. Returns the commit installed here
    (None when nothing was installed); SystemExit says why an install failed."""
    if args.ours_python:
        return None
    if args.ours_pythonpath:
        args.ours_python = sys.executable
        return None
    args.ours_python, commit = ensure_installed(args.ours_rev)
    return commit
