#!/usr/bin/env bash
# The engine's GoogleTest suites under sanitizers (docs/reliability.md):
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer):
#         the whole engine and every C++ test, against the real servers the
#         normal run uses (redis-server, memcached, rabbitmq-server, SQLite).
#         The same build dir holds the fuzz targets (scripts/fuzz.sh).
#   tsan  ThreadSanitizer: the engine and the threaded tests (worker, work
#         queue, brokers and their settlement, middleware, results, RabbitMQ).
# Clean means no report at all: every sanitizer stops the test process at
# its first report, which fails the test. Built with clang (Debian's),
# which builds these twice as fast as g++ here.
#
#   bash scripts/sanitize.sh [asan] [tsan]      (both by default)
set -euo pipefail
cd "$(dirname "$0")/.."

parts=("$@")
if [ ${#parts[@]} -eq 0 ]; then parts=(asan tsan); fi
supp="$PWD/tests/sanitizers"

# halt_on_error / abort: the first report fails the test that caused it.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:print_suppressions=0"

configure() {  # build dir, sanitizers, extra cmake arguments...
  local dir=$1 sanitizers=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
    -DDRAMATIQ_BUILD_PYTHON=OFF -DDRAMATIQ_BUILD_TESTS=ON -DDRAMATIQ_WERROR=ON \
    -DDRAMATIQ_SANITIZE="$sanitizers" "$@" >/dev/null
}

for part in "${parts[@]}"; do
  start=$SECONDS
  case "$part" in
    asan)
      echo "== C++ engine tests under AddressSanitizer + UndefinedBehaviorSanitizer"
      configure build-asan address,undefined -DDRAMATIQ_FUZZ=ON
      cmake --build build-asan -j 2
      (cd build-asan && ctest --output-on-failure -j 2)
      ;;
    tsan)
      echo "== C++ threaded engine tests under ThreadSanitizer"
      configure build-tsan thread
      cmake --build build-tsan -j 2 --target threaded_engine_tests rabbitmq_tests
      # Two shards at once (the tests wait on servers and threads more than
      # they compute); the RabbitMQ tests share one server, one process.
      status=0
      GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=0 build-tsan/threaded_engine_tests --gtest_brief=1 \
        > build-tsan/shard0.log 2>&1 &
      shard0=$!
      GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=1 build-tsan/threaded_engine_tests --gtest_brief=1 \
        > build-tsan/shard1.log 2>&1 || status=1
      wait "$shard0" || status=1
      build-tsan/rabbitmq_tests --gtest_brief=1 > build-tsan/rabbitmq.log 2>&1 || status=1
      for log in build-tsan/shard0.log build-tsan/shard1.log build-tsan/rabbitmq.log; do
        if [ $status -ne 0 ] || grep -q "WARNING: ThreadSanitizer" "$log"; then cat "$log"; fi
        if grep -q "WARNING: ThreadSanitizer" "$log"; then status=1; fi
      done
      if [ $status -ne 0 ]; then echo "ThreadSanitizer run failed"; exit 1; fi
      ;;
    *)
      echo "unknown part: $part (asan, tsan)" >&2
      exit 2
      ;;
  esac
  echo "== $part took $((SECONDS - start)) s"
done
