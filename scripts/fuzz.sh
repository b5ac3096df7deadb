#!/usr/bin/env bash
# Runs each libFuzzer target (tests/fuzz/) for a bounded time, starting from
# its committed seed corpus; fails on any crash, leak, timeout (an input
# taking over 10 s) or out-of-memory. Needs the ASan build dir made by
# `scripts/sanitize.sh asan` (it builds the fuzz targets too).
#
#   FUZZ_SECONDS=20 bash scripts/fuzz.sh [target...]   (all by default)
#
# CI runs 20 s per target, two at a time. A longer local run (docs/reliability.md):
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh
# A crash leaves its input in build-asan/fuzz/<target>/crash-*; replay it
# with build-asan/tests/fuzz/fuzz_<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(json_reader message_decoder redis_reply amqp_frames sqlite_rows spool_files schedules); fi
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/sanitizers/ubsan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"

cmake --build build-asan -j 2 --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

run() {  # target
  local target=$1 work="build-asan/fuzz/$1"
  rm -rf "$work" && mkdir -p "$work/corpus"
  # New inputs go to the work corpus; the committed seeds stay as they are.
  "build-asan/tests/fuzz/fuzz_$target" "$work/corpus" "tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/" > "$work/log" 2>&1
}

start=$SECONDS
status=0
pids=()
names=()
for target in "${targets[@]}"; do
  run "$target" &
  pids+=($!)
  names+=("$target")
  # Two at a time: one per core.
  if [ ${#pids[@]} -eq 2 ]; then
    for i in 0 1; do
      if ! wait "${pids[$i]}"; then status=1; echo "fuzz_${names[$i]} FAILED:"; tail -60 "build-asan/fuzz/${names[$i]}/log"; fi
    done
    pids=()
    names=()
  fi
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; echo "fuzz_${names[$i]} FAILED:"; tail -60 "build-asan/fuzz/${names[$i]}/log"; fi
done
for target in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-asan/fuzz/$target/log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz_$target: $runs inputs in ${seconds} s"
done
echo "== fuzzing took $((SECONDS - start)) s"
exit $status
