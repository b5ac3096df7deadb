// WorkerOptions::resolved and the Worker's effective settings: what a C++
// caller leaves unset comes from upstream's environment variables
// ($dramatiq_worker_timeout, $dramatiq_queue_prefetch,
// $dramatiq_delay_queue_prefetch), else upstream's defaults; what it sets
// wins over the environment.
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

using namespace dramatiq;

namespace {

// Sets (or unsets, with nullopt) an environment variable for one test.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedVariable() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(WorkerOptions, UnsetSettingsGetUpstreamsDefaults) {
  ScopedVariable timeout("dramatiq_worker_timeout", std::nullopt);
  ScopedVariable prefetch("dramatiq_queue_prefetch", std::nullopt);
  ScopedVariable delay_prefetch("dramatiq_delay_queue_prefetch", std::nullopt);
  WorkerOptions options;
  options.worker_threads = 3;
  WorkerOptions resolved = options.resolved();
  EXPECT_EQ(resolved.worker_timeout_ms, kDefaultWorkerTimeoutMs);
  EXPECT_EQ(resolved.queue_prefetch, 6);
  EXPECT_EQ(resolved.delay_prefetch, 3000);
  options.worker_threads = 100;
  EXPECT_EQ(options.resolved().delay_prefetch, 65535);
}

TEST(WorkerOptions, WorkerTimeoutComesFromTheEnvironmentWhenNotGiven) {
  ScopedVariable timeout("dramatiq_worker_timeout", " 250 ");
  EXPECT_EQ(WorkerOptions{}.resolved().worker_timeout_ms, 250);
  auto broker = std::make_shared<StubBroker>();
  Worker worker(broker, WorkerOptions{});
  EXPECT_EQ(worker.worker_timeout_ms(), 250);
}

TEST(WorkerOptions, AGivenWorkerTimeoutWinsOverTheEnvironment) {
  ScopedVariable timeout("dramatiq_worker_timeout", "250");
  WorkerOptions options;
  options.worker_timeout_ms = 40;
  EXPECT_EQ(options.resolved().worker_timeout_ms, 40);
  auto broker = std::make_shared<StubBroker>();
  Worker worker(broker, options);
  EXPECT_EQ(worker.worker_timeout_ms(), 40);
}

TEST(WorkerOptions, PrefetchesComeFromTheEnvironmentWhenNotGiven) {
  ScopedVariable prefetch("dramatiq_queue_prefetch", "7");
  ScopedVariable delay_prefetch("dramatiq_delay_queue_prefetch", "9");
  auto broker = std::make_shared<StubBroker>();
  Worker worker(broker, WorkerOptions{});
  EXPECT_EQ(worker.queue_prefetch(), 7);
  EXPECT_EQ(worker.delay_prefetch(), 9);
  WorkerOptions given;
  given.queue_prefetch = 3;
  EXPECT_EQ(given.resolved().queue_prefetch, 3);
  EXPECT_EQ(given.resolved().delay_prefetch, 9);
}

TEST(WorkerOptions, ANonIntegerVariableIsRejected) {
  for (const char* bad : {"abc", "", "10ms", "1.5", "99999999999"}) {
    ScopedVariable timeout("dramatiq_worker_timeout", bad);
    EXPECT_THROW(WorkerOptions{}.resolved(), std::invalid_argument) << '"' << bad << '"';
  }
  ScopedVariable timeout("dramatiq_worker_timeout", std::nullopt);
  ScopedVariable prefetch("dramatiq_queue_prefetch", "many");
  EXPECT_THROW(WorkerOptions{}.resolved(), std::invalid_argument);
}

}  // namespace
