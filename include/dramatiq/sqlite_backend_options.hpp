// Where the SQLite results and rate-limit backends keep their tables: an
// embedded-broker file (the broker's own, by default) or a file of their own.
#pragma once

#include <cstdint>
#include <string>

namespace dramatiq {

// The file and how it is written, for SQLiteResultBackend and
// SQLiteRateLimiterBackend.
struct SQLiteBackendOptions {
  // Empty: SQLiteBrokerOptions::default_path(), the broker's default file.
  std::string path;
  // Commits also survive power loss (synchronous=FULL).
  bool durable = false;
  // How long one write waits for another process's lock before retrying.
  std::int64_t busy_timeout_ms = 5000;

  // Reads the broker's URL form, `sqlite:///abs/path?durable=1` (the
  // broker-only options are accepted and ignored, so one URL serves the
  // broker and its backends); throws std::invalid_argument.
  static SQLiteBackendOptions from_url(const std::string& url);
  // `path`, or the broker's default file when it is empty.
  std::string resolved_path() const;
};

}  // namespace dramatiq
