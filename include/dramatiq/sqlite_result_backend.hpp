// A result backend in an SQLite file on this host (by default the embedded
// broker's), shared by every process that opens it: results are stored as
// the encoder's bytes with an expiry, and a blocking get sleeps on the
// file's doorbell, woken by the commit of the result in any process.
#pragma once

#include <memory>

#include "dramatiq/result_backend.hpp"
#include "dramatiq/sqlite_backend_options.hpp"

namespace dramatiq {

// Results in the `dramatiq_results` table of `file` (the broker's default
// file when its path is empty), shared by the host's processes.
class SQLiteResultBackend : public ResultBackend {
 public:
  explicit SQLiteResultBackend(SQLiteBackendOptions file = {}, ResultBackendOptions options = {});
  ~SQLiteResultBackend() override;

  void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) override;
  std::optional<Value> get(const std::string& key) override;
  // Sleeps on the doorbell between looks; no polling.
  std::optional<Value> wait(const std::string& key, std::chrono::milliseconds timeout) override;

  const SQLiteBackendOptions& file() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dramatiq
