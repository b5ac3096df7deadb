// A C++ no-op actor's worker throughput: N messages enqueued up front with
// actor.send, then one Worker (8 threads, worker_timeout 100 ms) processes
// them; prints one JSON object. The same setup as bench/cpp_bench_python.py
// for the Python actor.
//   noop_throughput URL [N] [THREADS]
#include <dramatiq/dramatiq.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: noop_throughput URL [N] [THREADS]\n");
    return 2;
  }
  std::string url = argv[1];
  int count = argc > 2 ? std::stoi(argv[2]) : 100000;
  int threads = argc > 3 ? std::stoi(argv[3]) : 8;
  auto broker = dramatiq::connect(url);
  auto noop = dramatiq::actor(broker, "noop", [](int) {}, {.queue = "bench"});
  broker->flush_all();

  auto enqueue_start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) noop.send(i);
  double enqueue_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - enqueue_start).count();

  dramatiq::Worker worker(broker, {.worker_timeout_ms = 100, .worker_threads = threads});
  double cpu_before = cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  worker.start();
  broker->join("bench");
  worker.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = cpu_seconds() - cpu_before;
  worker.stop();
  broker->close();
  std::printf("{\"messages\": %d, \"enqueue_rate\": %.1f, \"process_seconds\": %.4f, \"throughput\": %.1f, "
              "\"cpu_us_per_message\": %.3f}\n",
              count, count / enqueue_seconds, seconds, count / seconds, cpu / count * 1e6);
  return 0;
}
