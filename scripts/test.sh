#!/usr/bin/env bash
# Runs the whole test suite: the C++ engine tests (GoogleTest), the Python
# API tests (pytest, against the installed package), then the engine tests
# again under sanitizers and the fuzz targets for a bounded time
# (docs/reliability.md; DRAMATIQ_SKIP_SANITIZERS=1 leaves those two out).
# Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== C++ engine tests (GoogleTest)"
cmake -S . -B build-tests -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDRAMATIQ_BUILD_PYTHON=OFF -DDRAMATIQ_BUILD_TESTS=ON -DDRAMATIQ_WERROR=ON >/dev/null
cmake --build build-tests -j 2
(cd build-tests && ctest --output-on-failure -j 2)

echo "== Python API tests (pytest)"
python3 -m pytest tests/python -q --timeout 120 -p no:cacheprovider

echo "== Soak, quick (bench/soak.py: every message counted through worker kills, server restarts, a full disk)"
python3 bench/soak.py --quick

echo "== Schedule soak, quick (bench/schedule_soak.py: racing schedulers SIGKILLed, every tick once)"
python3 bench/schedule_soak.py --quick

if [ "${DRAMATIQ_SKIP_SANITIZERS:-}" != 1 ]; then
  bash scripts/sanitize.sh asan tsan
  echo "== Fuzz targets (libFuzzer, ${FUZZ_SECONDS:-20} s each)"
  bash scripts/fuzz.sh
fi
