// Helpers shared by several engine test files (tests/cpp/*.cpp).
#pragma once

#include "dramatiq/actor.hpp"
#include "dramatiq/failure.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"
#include "dramatiq/value.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dramatiq::testing {

// Bounds every wait in the tests so a broken engine fails instead of hanging.
inline constexpr auto kLongWait = std::chrono::milliseconds(10000);

// Lets actors block until `expected` of them run at the same time: proves
// the worker runs that many in parallel. Waits are bounded by `bound`.
class Rendezvous {
 public:
  explicit Rendezvous(int expected, std::chrono::milliseconds bound = kLongWait)
      : expected_(expected), bound_(bound) {}
  // True once `expected` callers are inside at once.
  bool arrive_and_wait() {
    std::unique_lock lock(mutex_);
    arrived_ += 1;
    cv_.notify_all();
    return cv_.wait_for(lock, bound_, [&] { return arrived_ >= expected_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int expected_;
  std::chrono::milliseconds bound_;
  int arrived_ = 0;
};

// A one-shot latch: actors block on it so tests control when they finish.
class Latch {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout = kLongWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A foreign (non-JSON) value, for tests of encoding errors and descriptions.
class CustomObject : public ForeignObject {
 public:
  std::string type_name() const override { return "CustomObject"; }
};

// Captures engine log records (the default sink writes to stderr).
class LogCapture {
 public:
  struct Record {
    log::Level level;
    std::string logger;
    std::string message;  // formatted
    std::string format;   // as the engine passed it, before its arguments
    std::optional<Failure> failure;
  };
  LogCapture() {
    log::set_sink([this](const log::Record& record) {
      std::lock_guard lock(mutex_);
      records_.push_back(Record{record.level, std::string(record.logger), record.text(),
                                std::string(record.format),
                                record.failure ? std::optional<Failure>(*record.failure) : std::nullopt});
    });
  }
  ~LogCapture() { log::set_sink(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::vector<Record> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::vector<Record> matching(log::Level level, const std::string& needle) const {
    std::vector<Record> out;
    for (auto& r : records()) {
      if (r.level == level && r.message.find(needle) != std::string::npos) out.push_back(r);
    }
    return out;
  }
  std::size_t count_at(log::Level level) const {
    std::size_t n = 0;
    for (auto& r : records()) n += r.level == level;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Record> records_;
};

// Remembers each message an actor ran, and when, for tests to inspect afterwards.
class Calls {
 public:
  Value record(const Message& m) {
    std::lock_guard lock(mutex_);
    messages_.push_back(m);
    ran_at_.push_back(current_millis());
    return Value();
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<std::int64_t> ran_at() const {
    std::lock_guard lock(mutex_);
    return ran_at_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
  std::vector<std::int64_t> ran_at_;
};

// Builds an Actor by hand, so tests can declare actors without the Python layer.
inline std::shared_ptr<Actor> make_actor(const std::string& name, std::shared_ptr<ActorBody> body,
                                         const std::string& queue = "default", int priority = 0,
                                         Value options = Value::object()) {
  auto actor = std::make_shared<Actor>();
  actor->actor_name = name;
  actor->queue_name = queue;
  actor->priority = priority;
  actor->options = std::move(options);
  actor->body = std::move(body);
  return actor;
}

// The same for an actor whose body only needs its args and kwargs.
inline std::shared_ptr<Actor> make_actor(const std::string& name, FunctionBody::Function fn,
                                         const std::string& queue = "default", int priority = 0,
                                         Value options = Value::object()) {
  return make_actor(name, std::make_shared<FunctionBody>(std::move(fn)), queue, priority,
                    std::move(options));
}

// Builds a fresh message (new id, current timestamp) with no kwargs.
inline Message make_message(const std::string& actor, Array args,
                            const std::string& queue = "default",
                            Value options = Value::object()) {
  return Message::create(queue, actor, Value(std::move(args)), Value::object(), std::move(options));
}

}  // namespace dramatiq::testing
