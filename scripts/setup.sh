#!/usr/bin/env bash
# Installs everything dramatiq-cpp needs to build and test, then builds and
# installs the package (`pip install .`). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages: compiler, the engine's C++ libraries, test frameworks.
packages=(g++ make pkg-config libsimdjson-dev libhiredis-dev libssl-dev libgtest-dev libbenchmark-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python build and test dependencies.
python3 -m pip install -q --disable-pip-version-check \
  "scikit-build-core>=0.8" "nanobind>=2.0" cmake ninja pytest pytest-timeout msgpack

# Build and install the package (engine + extension module).
python3 -m pip install -q --disable-pip-version-check .
python3 -c "import dramatiq, dramatiq._engine; print('dramatiq-cpp installed:', dramatiq.__file__)"
