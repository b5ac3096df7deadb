// Publishing on a connection of the broker's pool: persistent messages to
// the default exchange, routed by queue name, with broker_priority as the
// AMQP priority. With confirm_delivery, a batch is published whole and
// then waited for once (publisher confirms); a message the server returns
// as unroutable (its queue is gone) is reported for the broker to declare
// the queue again and republish. A connection the server blocked
// (connection.blocked) makes publishers wait, up to
// blocked_connection_timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rabbitmq/connection.hpp"

namespace dramatiq::rabbitmq {

struct Publication {
  std::string routing_key;  // the queue
  std::string body;
  std::optional<int> priority;
  std::string exchange = {};  // empty: the default exchange (routed by queue name)
  std::optional<std::int64_t> expiration_ms = {};  // the message's TTL in its queue
};

// Sends one persistent message to the default exchange, routed to its
// queue, with its priority (no wait for a confirm or a reply).
void send_persistent(Connection& connection, const Publication& publication, bool mandatory);

class Publisher {
 public:
  Publisher(const RabbitmqBrokerOptions& options, bool confirms);

  Connection& connection() { return connection_; }
  bool healthy() const { return connection_.healthy(); }
  bool confirms() const { return confirms_; }

  // Publishes `publications`; with confirms, returns once the server
  // confirmed every one. Returns the indices of the messages the server
  // returned as unroutable (only with confirms: mandatory publishes).
  // Throws ConnectionClosed when the connection broke or the server
  // nacked a message.
  std::vector<std::size_t> publish(const std::vector<Publication>& publications);

  // Reads what the server sent while the connection sat idle (heartbeats,
  // connection.blocked/unblocked, a close) without waiting.
  void poll_incoming();

  std::chrono::steady_clock::time_point last_used{};

 private:
  // Reads one frame, waiting up to `timeout`; false on timeout. Handles
  // blocked/unblocked and confirms; throws when the connection is gone.
  bool read_frame(std::chrono::milliseconds timeout);
  void wait_while_blocked();

  const RabbitmqBrokerOptions& options_;
  Connection connection_;
  bool confirms_ = false;
  bool blocked_ = false;
  std::uint64_t published_ = 0;   // delivery tags handed out (confirm mode)
  std::uint64_t confirmed_ = 0;   // every tag up to here confirmed
  bool nacked_ = false;
  // Messages the server returned (routing key, body): a return precedes
  // the confirm of its message.
  std::vector<std::pair<std::string, std::string>> returned_;
};

// Publishing connections, one borrowed per publish (never shared while in
// use), kept for the next one while healthy.
class PublisherPool {
 public:
  explicit PublisherPool(const RabbitmqBrokerOptions& options)
      : options_(options), confirms_(options.confirm_delivery) {}

  class Lease {
   public:
    Lease(PublisherPool& pool, std::unique_ptr<Publisher> publisher)
        : pool_(&pool), publisher_(std::move(publisher)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (pool_ && publisher_) pool_->give_back(std::move(publisher_));
    }
    Publisher* operator->() { return publisher_.get(); }
    Publisher& operator*() { return *publisher_; }
    // The connection is broken: do not return it to the pool.
    void discard() { publisher_.reset(); }

   private:
    PublisherPool* pool_;
    std::unique_ptr<Publisher> publisher_;
  };

  // An idle healthy connection, or a new one (throws ConnectionFailed).
  Lease acquire();
  void clear();
  // Publisher confirms for the connections opened from now on (the idle
  // ones are closed).
  void set_confirms(bool confirms);
  bool confirms() const { return confirms_; }

 private:
  void give_back(std::unique_ptr<Publisher> publisher);

  const RabbitmqBrokerOptions& options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Publisher>> idle_;
  std::atomic<bool> confirms_;
};

}  // namespace dramatiq::rabbitmq
