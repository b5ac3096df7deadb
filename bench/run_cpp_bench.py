#!/usr/bin/env python3
"""A C++ no-op actor's worker throughput beside the Python actor's, on the
stub broker and on Redis (a private redis-server), with the same setup
(bench/cpp/noop_throughput.cpp, bench/cpp_bench_python.py): N messages sent
up front, one Worker with 8 threads, the processing phase timed; runs
alternate, medians with min-max are printed as a Markdown table.

  python3 bench/run_cpp_bench.py [--messages N] [--runs R] [--build-dir build-tests]

The C++ program is built against the library installed from --build-dir
(cmake/BuildCppExamples.cmake, as the examples are); the Python side runs
with this interpreter's dramatiq (use the venv you installed with
``pip install .``).
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

from redis_support import RedisServer  # noqa: E402


def build(build_dir: Path) -> Path:
    out = build_dir / "cpp-bench"
    subprocess.run(["cmake", "-DBUILD_DIR=%s" % build_dir, "-DSOURCE_DIR=%s" % REPO,
                    "-DPROJECT_DIR=%s" % (REPO / "bench" / "cpp"), "-DOUT_DIR=%s" % out,
                    "-P", str(REPO / "cmake" / "BuildCppExamples.cmake")], check=True, stdout=subprocess.DEVNULL)
    return out / "noop_throughput"


def run(command) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build-dir", default=str(REPO / "build-tests"))
    args = parser.parse_args()
    program = build(Path(args.build_dir).resolve())
    python_side = [sys.executable, str(REPO / "bench" / "cpp_bench_python.py")]

    rows = []
    with RedisServer() as server:
        for broker, url in (("stub", "stub://"), ("redis", server.url)):
            results = {"C++ actor": [], "Python actor": []}
            for _ in range(args.runs):
                results["C++ actor"].append(run([str(program), url, str(args.messages)]))
                results["Python actor"].append(run(python_side + [url, str(args.messages)]))
            for actor, samples in results.items():
                rates = [s["throughput"] for s in samples]
                cpu = [s["cpu_us_per_message"] for s in samples]
                rows.append((broker, actor, statistics.median(rates), min(rates), max(rates), statistics.median(cpu)))

    print("| broker | actor | throughput (msg/s), median (min–max) | worker CPU µs/msg |")
    print("|---|---|---:|---:|")
    for broker, actor, median, low, high, cpu in rows:
        print("| %s | %s | %s (%s–%s) | %.2f |" % (broker, actor, f"{median:,.0f}", f"{low:,.0f}", f"{high:,.0f}", cpu))


if __name__ == "__main__":
    main()
