// Filling in a WorkerOptions' unset settings: the environment first, then
// upstream's defaults, so every front door (C++, Python) resolves them once.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include "dramatiq/worker.hpp"

namespace dramatiq {

namespace {

// Reads an integer environment variable the way upstream's int(os.getenv())
// does: surrounding whitespace and a sign are allowed, anything else is an
// error (which upstream raises when dramatiq.worker is imported).
std::optional<int> integer_variable(const char* name) {
  const char* raw = std::getenv(name);
  if (raw == nullptr) return std::nullopt;
  std::string text(raw);
  auto first = text.find_first_not_of(" \t\n\r\f\v");
  auto last = text.find_last_not_of(" \t\n\r\f\v");
  std::string digits = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  errno = 0;
  char* end = nullptr;
  long value = digits.empty() ? 0 : std::strtol(digits.c_str(), &end, 10);
  bool whole = !digits.empty() && end == digits.c_str() + digits.size();
  if (!whole || errno == ERANGE || value < std::numeric_limits<int>::min() ||
      value > std::numeric_limits<int>::max()) {
    throw std::invalid_argument(std::string("$") + name + " must be an integer, not '" + text + "'");
  }
  return static_cast<int>(value);
}

}  // namespace

WorkerEnvironment worker_environment() {
  return WorkerEnvironment{integer_variable("dramatiq_worker_timeout"),
                           integer_variable("dramatiq_queue_prefetch"),
                           integer_variable("dramatiq_delay_queue_prefetch"),
                           integer_variable("dramatiq_restart_delay")};
}

WorkerOptions WorkerOptions::resolved() const {
  WorkerEnvironment environment = worker_environment();
  WorkerOptions options = *this;
  // As upstream: the constructor's argument wins over the environment.
  if (!options.worker_timeout_ms) {
    options.worker_timeout_ms = environment.worker_timeout_ms.value_or(kDefaultWorkerTimeoutMs);
  }
  int threads = std::max(1, options.worker_threads);
  // As upstream, a prefetch of 0 (set or not) means the per-thread default.
  if (options.queue_prefetch <= 0) options.queue_prefetch = environment.queue_prefetch.value_or(0);
  if (options.queue_prefetch <= 0) options.queue_prefetch = std::min(threads * 2, 65535);
  if (options.delay_prefetch <= 0) options.delay_prefetch = environment.delay_prefetch.value_or(0);
  if (options.delay_prefetch <= 0) options.delay_prefetch = std::min(threads * 1000, 65535);
  return options;
}

}  // namespace dramatiq
