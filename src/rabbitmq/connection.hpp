// One AMQP connection (rabbitmq-c) with one channel, and the translation of
// rabbitmq-c's replies into the engine's errors. rabbitmq-c connections are
// not thread-safe: each Connection has exactly one owner at a time (a
// publisher lease, or a consumer's I/O thread).
#pragma once

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "dramatiq/errors.hpp"
#include "dramatiq/rabbitmq_options.hpp"

namespace dramatiq::rabbitmq {

// The server closed the channel (e.g. 404 NOT_FOUND for a queue that does
// not exist, 406 PRECONDITION_FAILED for a queue declared with other
// arguments); the connection itself is still usable.
class ChannelClosed : public ConnectionClosed {
 public:
  ChannelClosed(int reply_code, const std::string& text)
      : ConnectionClosed(text), reply_code(reply_code) {}
  int reply_code;
};

// The server kept the connection blocked (connection.blocked, e.g. a
// memory alarm) for longer than blocked_connection_timeout. Not retried:
// another connection would be blocked as well.
class ConnectionBlockedTimeout : public ConnectionClosed {
 public:
  using ConnectionClosed::ConnectionClosed;
};

class Connection {
 public:
  static constexpr amqp_channel_t kChannel = 1;

  // Connects to the first of `options.servers` that answers (each tried
  // connection_attempts times, retry_delay apart) and opens the channel.
  // Throws ConnectionFailed when none does.
  explicit Connection(const RabbitmqBrokerOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t state() const { return state_; }
  const RabbitmqConnectionOptions& server() const { return *server_; }
  int fd() const;
  // Negotiated heartbeat in seconds (0: none).
  int heartbeat() const;
  // False once the connection failed; it is then only good for closing.
  bool healthy() const { return healthy_; }

  // Throws for a failed synchronous reply: ChannelClosed (and reopens
  // the channel) when the server closed only the channel, ConnectionClosed
  // (and the connection is unhealthy) otherwise.
  void check(amqp_rpc_reply_t reply, const std::string& what);
  // Throws ConnectionClosed for a failed status code of rabbitmq-c.
  void check_status(int status, const std::string& what);
  // The server sent channel.close / connection.close outside an RPC:
  // answers it and throws as check() does.
  [[noreturn]] void closed_by_server(const amqp_method_t& method, const std::string& what);
  // Opens the channel again after the server closed it.
  void reopen_channel();

  // Closes channel and connection politely (errors ignored).
  void close();
  // Gives the connection up without a goodbye (the server may not be reading).
  void abandon();

 private:
  void open(const RabbitmqConnectionOptions& server);
  void destroy();
  [[noreturn]] void fail(const std::string& message);

  const RabbitmqBrokerOptions& options_;
  const RabbitmqConnectionOptions* server_ = nullptr;
  amqp_connection_state_t state_ = nullptr;
  bool healthy_ = false;
  bool channel_open_ = false;
};

// amqp_bytes_t view of a string (rabbitmq-c does not keep it).
inline amqp_bytes_t bytes_of(const std::string& text) {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}
inline std::string string_of(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

}  // namespace dramatiq::rabbitmq
