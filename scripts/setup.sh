#!/usr/bin/env bash
# Installs everything dramatiq-cpp needs to build and test, then builds and
# installs the package (`pip install .`). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages: compiler, the engine's C++ libraries, test frameworks.
# clang: the sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh; its
# compiler-rt brings libFuzzer and the sanitizer runtimes). tzdata: the IANA time zones periodic
# schedules are read in (src/schedule/time_zone.cpp). chromium, chromium-driver: the dashboard's
# browser tests (tests/python/dashboard).
packages=(g++ make pkg-config libsimdjson-dev libhiredis-dev libssl-dev libgtest-dev libbenchmark-dev
  redis-server memcached libmemcached-dev libsqlite3-dev librabbitmq-dev rabbitmq-server erlang-base
  postgresql clang tzdata chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # The tests start their own rabbitmq-server (and redis-server, memcached):
  # the packages must not start system services, so deny service starts
  # during the install (policy-rc.d exit 101) unless a policy exists already.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# Python build and test dependencies. mypy checks a typed user program
# against our package and against upstream's (tests/python/test_typing.py;
# one mypy for both, pointed at each environment with --python-executable).
python3 -m pip install -q --disable-pip-version-check \
  "scikit-build-core>=0.8" "nanobind>=2.0" cmake ninja pytest pytest-timeout msgpack redis watchdog \
  prometheus_client uv pylibmc pika mypy starlette uvicorn httpx selenium

# Upstream Dramatiq 2.2.1 in its own venv, for the Redis and RabbitMQ interop
# tests (tests/python/redis, tests/python/rabbitmq, tests/python/rate_limits;
# $DRAMATIQ_UPSTREAM_PYTHON overrides its path). pika is upstream's RabbitMQ client.
upstream_ok() {
  .venv-upstream/bin/python -c \
    "import dramatiq, redis, pylibmc, pytest, msgpack, pika; assert dramatiq.__version__ == '2.2.1'" >/dev/null 2>&1
}
if ! upstream_ok; then
  if [ ! -x .venv-upstream/bin/python ]; then
    rm -rf .venv-upstream
    if ! python3 -m venv .venv-upstream; then
      # Debian's own python3 needs the venv module from a separate package.
      rm -rf .venv-upstream
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv-upstream
    fi
  fi
  # pylibmc (built against libmemcached-dev) for the memcached rate-limit interop tests.
  .venv-upstream/bin/pip install -q --disable-pip-version-check dramatiq==2.2.1 redis pylibmc pytest msgpack pika dramatiq-abort==1.2.1
  upstream_ok
fi

# Build and install the package (engine + extension module). Releases before
# the distribution was named "dramatiq" were "dramatiq-cpp": remove such an
# install so that two distributions never own the same files.
if python3 -m pip show -q dramatiq-cpp >/dev/null 2>&1; then
  python3 -m pip uninstall -q -y dramatiq-cpp
fi
python3 -m pip install -q --disable-pip-version-check .
python3 -c "import dramatiq, dramatiq._engine; print('dramatiq-cpp installed:', dramatiq.__file__)"

# Third-party brokers written in Python that the tests run on our Worker
# (tests/python/python_brokers; dramatiq-postgres against a private
# PostgreSQL from the postgresql package). After our package, so that
# their `dramatiq` requirement is ours.
python3 -m pip install -q --disable-pip-version-check dramatiq-eager-broker dramatiq-postgres "psycopg[pool]"
python3 -c "import dramatiq._engine, dramatiq_eager_broker, dramatiq_postgres"

# Third-party plugins for the scenarios in tests/python/plugins/
# (docs/compatibility.md, "Third-party plugins"), pinned. Installed after
# our package, so that their Requires-Dist: dramatiq is met by ours and pip
# must keep it. dramatiq-dashboard pins dramatiq<2, which upstream 2.2.1
# does not meet either: it goes in without its dependencies (jinja2 and
# redis come with the others). About 60 s on a clean machine, ~3 s after.
plugins=(sentry-sdk==2.75.0 django-dramatiq==0.15.0 Django==5.2.19 dramatiq-abort==1.2.1 periodiq==0.14.0
  opentelemetry-instrumentor-dramatiq==0.1.4 opentelemetry-sdk==1.45.2 dramatiq-crontab==1.2.1
  dramatiq-workflow==0.3.0 flask-dramatiq==0.8.0 Flask==3.1.3)
python3 -m pip install -q --disable-pip-version-check "${plugins[@]}"
python3 -m pip install -q --disable-pip-version-check --no-deps dramatiq-dashboard==0.4.0
# Still our engine after the plugins went in.
python3 -c "import dramatiq._engine"
