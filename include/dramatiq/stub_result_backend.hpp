// An in-memory result backend, for tests and single-process programs.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>

#include "dramatiq/result_backend.hpp"

namespace dramatiq {

class StubResultBackend : public ResultBackend {
 public:
  using ResultBackend::ResultBackend;

  void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) override;
  std::optional<Value> get(const std::string& key) override;
  // Wakes as soon as put() stores the key.
  std::optional<Value> wait(const std::string& key, std::chrono::milliseconds timeout) override;
  // Forgets every stored result.
  void clear();

 private:
  struct Entry {
    std::string data;  // encoded
    std::chrono::steady_clock::time_point expires;
  };
  // The live entry for `key`, dropping it if it expired. Call locked.
  const Entry* find_live(const std::string& key);

  std::mutex mutex_;
  std::condition_variable stored_;
  std::map<std::string, Entry> entries_;
};

}  // namespace dramatiq
