#include "redis/connection_pool.hpp"

namespace dramatiq::redis {

ConnectionPool::Lease ConnectionPool::acquire() {
  while (true) {
    std::unique_ptr<Connection> connection;
    {
      std::lock_guard lock(mutex_);
      if (idle_.empty()) break;
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
    // A server restart closes idle connections: find out before sending,
    // so a command is never sent on a dead socket and then guessed about.
    if (!connection->went_stale()) return Lease(*this, std::move(connection));
  }
  auto connection = open();
  // Pooled connections serve callers that wait for each reply (producers,
  // result and rate-limit backends): see Connection::set_reply_spin.
  connection->set_reply_spin(kCallerReplySpin);
  return Lease(*this, std::move(connection));
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
  if (!connection || !connection->healthy()) return;
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
}

void ConnectionPool::clear() {
  std::vector<std::unique_ptr<Connection>> dropped;
  std::lock_guard lock(mutex_);
  dropped.swap(idle_);
}

}  // namespace dramatiq::redis
