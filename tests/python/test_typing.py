"""Type hints as upstream ships them: ``py.typed``, stubs for the extension
module, and annotations such that ``mypy --strict`` says the same of a
user's program with our package as with upstream Dramatiq 2.2.1.

mypy runs once per environment (``--python-executable``: this
interpreter, which has our package installed, and upstream's venv), so
both reports come from the same mypy and the same typeshed."""

import ast
import importlib
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import dramatiq
from dramatiq import _engine

EXAMPLES = pathlib.Path(__file__).parent / "typing_examples"
UPSTREAM_EXAMPLE = EXAMPLES / "upstream_api.py"
OUR_EXAMPLE = EXAMPLES / "our_extras.py"

# The worker command's internals: another module's business (its interface
# is the command line), left as its own engineers annotate it.
_NOT_CHECKED_FOR_PARITY = {"cli"}

_REPORT_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<severity>error|note): (?P<text>.*)$")


def _upstream_python():
    from redis_support import check_upstream_python, upstream_python

    python = upstream_python()
    if python is None:
        pytest.skip("upstream Dramatiq 2.2.1 is not installed (scripts/setup.sh makes .venv-upstream)")
    problem = check_upstream_python(python)
    assert problem is None, problem
    return python


def _start_mypy(python, files, cache_dir):
    """mypy --strict on ``files``, resolving imports in ``python``'s environment."""
    version = "%d.%d" % sys.version_info[:2]
    command = [sys.executable, "-m", "mypy", "--strict", "--python-executable", python, "--python-version",
               version, "--cache-dir", str(cache_dir), "--config-file", os.devnull, "--show-error-codes",
               "--no-error-summary", "--no-color-output", "--no-pretty"] + [str(f) for f in files]
    # From a directory with no dramatiq in it, so only the environment's is found.
    return subprocess.Popen(command, cwd=str(cache_dir.parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")})


def _report(process):
    """{file name: [(line, severity, text), ...]} of a finished mypy run."""
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode in (0, 1), "mypy failed to run:\n" + stdout + stderr
    report = {}
    for line in stdout.splitlines():
        match = _REPORT_LINE.match(line)
        assert match, "unexpected mypy output: " + line
        report.setdefault(pathlib.Path(match["path"]).name, []).append(
            (int(match["line"]), match["severity"], match["text"]))
    return report


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """mypy's reports: ``ours`` (both examples and every public module
    imported) and ``upstream`` (the upstream example), run side by side."""
    import mypy  # noqa: F401  (scripts/setup.sh installs it)
    upstream = _upstream_python()
    directory = tmp_path_factory.mktemp("typing")
    imports = directory / "import_every_module.py"
    imports.write_text("".join("import %s\n" % name for name in _public_module_names()))
    ours_dir, upstream_dir = directory / "ours", directory / "upstream"
    ours_dir.mkdir()
    upstream_dir.mkdir()
    ours = _start_mypy(sys.executable, [UPSTREAM_EXAMPLE, OUR_EXAMPLE, imports], ours_dir / "cache")
    theirs = _start_mypy(upstream, [UPSTREAM_EXAMPLE], upstream_dir / "cache")
    return {"ours": _report(ours), "upstream": _report(theirs)}


def _public_module_names():
    names = ["dramatiq"]
    for info in pkgutil.walk_packages(dramatiq.__path__, "dramatiq."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names) + ["dramatiq._engine"]


def test_mypy_strict_reports_the_same_for_a_user_program_as_with_upstream(reports):
    theirs = reports["upstream"].get(UPSTREAM_EXAMPLE.name, [])
    ours = reports["ours"].get(UPSTREAM_EXAMPLE.name, [])
    # The example is made to trip upstream's annotations in places (a wrong
    # argument type, a wrong result type, upstream's unannotated calls).
    assert any("no-untyped-call" in text for _, _, text in theirs)
    assert any("[arg-type]" in text for _, _, text in theirs)
    assert ours == theirs


def test_mypy_strict_checks_our_additions_with_their_types(reports):
    expected = []
    for number, line in enumerate(OUR_EXAMPLE.read_text().splitlines(), 1):
        match = re.search(r"# expect: ([a-z-]+)", line)
        if match:
            expected.append((number, match[1]))
    found = [(number, re.search(r"\[([a-z-]+)\]$", text)[1])
             for number, severity, text in reports["ours"].get(OUR_EXAMPLE.name, []) if severity == "error"]
    assert found == expected


def test_every_public_module_imports_under_mypy_with_its_types(reports):
    # No "missing library stubs or py.typed marker", no module without a
    # stub (the extension module's is generated at build time).
    assert reports["ours"].get("import_every_module.py", []) == []


def test_the_package_ships_py_typed_and_the_extension_modules_stub():
    package = pathlib.Path(dramatiq.__file__).parent
    assert (package / "py.typed").is_file()
    stub = package / "_engine.pyi"
    assert stub.is_file(), "the wheel has no _engine.pyi (nanobind_add_stub in CMakeLists.txt)"
    tree = ast.parse(stub.read_text())
    declared = {node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    declared |= {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                 for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(target, ast.Name)}
    public = {name for name in dir(_engine) if not name.startswith("_")}
    # Generated from the module itself: nothing it has is missing.
    assert public - declared == set()


def _annotated_functions(package_dir):
    """{"module:Class.method": annotated?} for the public functions and
    methods written in a package's sources (including ``if`` blocks such
    as ``if TYPE_CHECKING:``); overload declarations are left out."""
    functions = {}
    for path in pathlib.Path(package_dir).rglob("*.py"):
        module = ".".join(path.relative_to(package_dir).with_suffix("").parts)
        if any(part.startswith("_") and part != "__init__" for part in module.split(".")):
            continue

        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If):
                    walk(child, prefix)
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if child.name.startswith("_") and child.name != "__init__":
                        continue
                    if any(isinstance(d, ast.Name) and d.id == "overload" for d in child.decorator_list):
                        continue
                    a = child.args
                    arguments = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]
                    functions[prefix + child.name] = child.returns is not None or any(
                        x.annotation is not None for x in arguments)
                elif isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                    walk(child, prefix + child.name + ".")

        walk(ast.parse(path.read_text()), module + ":")
    return functions


def test_our_functions_are_annotated_where_upstreams_are_and_only_there():
    # mypy --strict treats a call to an unannotated function as an error
    # (no-untyped-call), so a user's code that passes with upstream's
    # package (or silences those errors, which --strict then checks are
    # still needed) passes with ours only if the same functions are
    # annotated: beyond the example, for every name both packages have.
    python = _upstream_python()
    upstream_dir = subprocess.run([python, "-c", "import dramatiq, os; print(os.path.dirname(dramatiq.__file__))"],
                                  capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    theirs = _annotated_functions(upstream_dir)
    ours = _annotated_functions(pathlib.Path(dramatiq.__file__).parent)
    differences = {name: ("upstream annotated" if theirs[name] else "upstream unannotated")
                   for name in set(theirs) & set(ours)
                   if theirs[name] != ours[name] and name.split(":")[0] not in _NOT_CHECKED_FOR_PARITY}
    assert differences == {}


def test_the_middleware_hooks_type_checkers_see_are_the_engines():
    # Middleware's hook methods are made at run time from the engine's
    # list; its `if TYPE_CHECKING:` block declares them for type checkers.
    source = pathlib.Path(importlib.import_module("dramatiq.middleware.middleware").__file__).read_text()
    middleware_class = next(node for node in ast.parse(source).body
                            if isinstance(node, ast.ClassDef) and node.name == "Middleware")
    declared = {}
    for block in middleware_class.body:
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING":
            for function in block.body:
                declared[function.name] = (tuple(a.arg for a in function.args.args[1:]),
                                           tuple(a.arg for a in function.args.kwonlyargs))
    assert declared == {name: (tuple(positional), tuple(keyword))
                        for name, positional, keyword, _ in _engine.MIDDLEWARE_HOOKS}
