// Idle connections kept for producers and housekeeping calls, so a send
// does not pay for a new connection each time.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "redis/connection.hpp"

namespace dramatiq::redis {

class ConnectionPool {
 public:
  explicit ConnectionPool(RedisConnectionOptions options) : options_(std::move(options)) {}

  // A connection borrowed from the pool; it goes back when the lease ends,
  // unless it broke.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    ~Lease() { pool_.give_back(std::move(connection_)); }
    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    ConnectionPool& pool_;
    std::unique_ptr<Connection> connection_;
  };

  // An idle connection the server has not closed, or a new one (which may
  // throw ConnectionFailed).
  Lease acquire();
  // Opens a connection outside the pool (consumers keep their own).
  std::unique_ptr<Connection> open() const { return std::make_unique<Connection>(options_); }
  void clear();
  const RedisConnectionOptions& options() const { return options_; }

 private:
  void give_back(std::unique_ptr<Connection> connection);

  static constexpr std::size_t kMaxIdle = 16;
  static constexpr std::chrono::microseconds kCallerReplySpin{100};
  RedisConnectionOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace dramatiq::redis
