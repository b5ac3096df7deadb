// One connection to a Redis server, speaking RESP through hiredis's reader
// and command formatter over a transport (plain TCP or Unix socket, or
// TLS: see transport.hpp). Blocking calls with deadlines; pipelining by
// sending several commands before reading their replies.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dramatiq/redis_broker.hpp"
#include "redis/reply_reader.hpp"
#include "redis/transport.hpp"

namespace dramatiq::redis {

using Command = std::vector<std::string>;

class Connection {
 public:
  // Connects, then authenticates, selects the database and names the
  // client. Throws ConnectionFailed, and then keeps no socket open: a
  // refused handshake must not cost a descriptor here and a client there.
  explicit Connection(const RedisConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and returns its reply (error replies included).
  // Throws ConnectionClosed when the connection breaks; the connection is
  // then unusable.
  Reply call(const Command& command);
  // For a command the server holds for up to `server_wait` (BRPOPLPUSH,
  // BLPOP...): waits that long for the reply, plus the usual reply time.
  Reply call_blocking(const Command& command, std::chrono::milliseconds server_wait);
  // Sends every command in one write, then reads their replies in order.
  std::vector<Reply> pipeline(const std::vector<Command>& commands);

  // Buffers a command without waiting for its reply (subscriptions).
  void send(const Command& command);
  // The next reply, or nullopt if none arrived within `timeout` or
  // `wake_fd` (if >= 0) became readable first.
  std::optional<Reply> read(std::chrono::milliseconds timeout, int wake_fd = -1);

  // How long pipeline()/call() keep trying a non-blocking read before they
  // sleep in poll() for the reply (0: sleep at once). A reply usually comes
  // within tens of microseconds on a local network, and the wake-up from
  // poll() can cost more than that (notably on a virtual machine whose
  // cores are idle): callers who wait for the reply, e.g. a producer's
  // send, get it sooner; background threads should not spin. Each try
  // yields the core first, so a redis-server sharing it runs at once.
  void set_reply_spin(std::chrono::microseconds spin) { reply_spin_ = spin; }

  // False once an I/O error or EOF was seen.
  bool healthy() const { return healthy_; }
  // Whether the peer closed (or sent something unasked) since the last
  // reply: a pooled connection in that state must not be reused.
  bool went_stale();

 private:
  void handshake();
  void write_pending(std::optional<std::chrono::steady_clock::time_point> deadline);
  // Reads more bytes into the reader; false if the deadline passed first.
  // `spin`: how long to keep trying a non-blocking read before sleeping in
  // poll() (see set_reply_spin).
  bool fill(std::optional<std::chrono::steady_clock::time_point> deadline,
            std::chrono::microseconds spin = std::chrono::microseconds(0), int wake_fd = -1);
  std::optional<Reply> take_buffered_reply();
  [[noreturn]] void fail(const std::string& what);

  // The transport's result, or fail() when it throws.
  template <typename Operation>
  IoResult io(Operation operation);
  // The transport's wait; an interrupted one leaves this connection broken.
  bool wait(short events, Deadline deadline, int wake_fd = -1);

  RedisConnectionOptions options_;
  // Members, not raw handles: when the constructor throws (a refused
  // AUTH, say) no destructor runs, but members are released.
  ReplyReader reader_;
  std::unique_ptr<Transport> transport_;
  std::string out_;
  bool healthy_ = true;
  std::chrono::microseconds reply_spin_{0};
};

// Throws for an error reply: ConnectionClosed when the server is not ready
// (loading its data after a restart, ...), BrokerError otherwise.
void check(const Reply& reply);

}  // namespace dramatiq::redis
