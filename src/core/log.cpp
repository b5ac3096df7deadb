#include "dramatiq/log.hpp"

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>

namespace dramatiq::log {

namespace {
std::mutex sink_mutex;
std::shared_ptr<Sink> current_sink;
std::atomic<int> min_level{static_cast<int>(Level::Info)};
}  // namespace

void set_sink(Sink sink) {
  std::lock_guard lock(sink_mutex);
  current_sink = sink ? std::make_shared<Sink>(std::move(sink)) : nullptr;
}

void set_min_level(Level level) { min_level.store(static_cast<int>(level)); }

bool enabled(Level level) { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view logger, std::string_view message,
           const Failure* failure) {
  if (!enabled(level)) return;
  std::shared_ptr<Sink> sink;
  {
    std::lock_guard lock(sink_mutex);
    sink = current_sink;
  }
  if (sink) {
    (*sink)(level, logger, message, failure);
    return;
  }
  std::cerr << "[" << logger << "] " << message << "\n";
  if (failure) {
    std::cerr << (failure->traceback.empty() ? failure->type_name + ": " + failure->message
                                             : failure->traceback)
              << "\n";
  }
}

}  // namespace dramatiq::log
