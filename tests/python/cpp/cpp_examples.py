"""The C++ example programs (examples/cpp), built against the installed
library: ``cmake/BuildCppExamples.cmake`` installs the C++ build in
``$DRAMATIQ_CPP_BUILD_DIR`` (default ``build-tests``, which scripts/test.sh
builds first) under a prefix of its own, then builds the examples as a
separate CMake project that finds that package. Up to date, it takes a
few seconds (ctest's CppExamplesAgainstInstall ran it already in CI)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def build_dir() -> Path:
    """The C++ build whose install the examples are built against."""
    return Path(os.environ.get("DRAMATIQ_CPP_BUILD_DIR", REPO_ROOT / "build-tests")).resolve()


def _cmake_of(build: Path) -> str:
    # The cmake that configured the build (another version may not read it).
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith("CMAKE_COMMAND:INTERNAL="):
            return line.split("=", 1)[1]
    return "cmake"


def build_examples() -> Path:
    """Build the examples (installing the library first); returns the
    directory holding the ``producer`` and ``worker`` programs."""
    build = build_dir()
    if not (build / "CMakeCache.txt").exists():
        raise RuntimeError(
            "no C++ build in %s: build it first (scripts/test.sh does), or set DRAMATIQ_CPP_BUILD_DIR" % build
        )
    subprocess.run(
        [_cmake_of(build), "-DBUILD_DIR=%s" % build, "-DSOURCE_DIR=%s" % REPO_ROOT, "-P",
         str(REPO_ROOT / "cmake" / "BuildCppExamples.cmake")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return build / "cpp-examples"
