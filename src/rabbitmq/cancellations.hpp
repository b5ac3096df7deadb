// Cancellations on RabbitMQ: a stream (x-queue-type=stream) named
// "dramatiq.__cancellations__" keeps every cancellation, "<id> <expiry ms>",
// for a week (x-max-age; entries also carry their own expiry), and the
// fanout exchange of the same name carries each one at once to a queue of
// every watch's own (a stream delivers in chunks, tens of milliseconds
// late at times). A watch binds its queue first, then consumes the stream
// from its first entry; to know when it has read the history, it appends a
// marker of its own and reads up to it before its constructor returns.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "dramatiq/cancellation.hpp"
#include "rabbitmq/connection.hpp"
#include "rabbitmq/publisher.hpp"

namespace dramatiq::rabbitmq {

inline constexpr const char* kCancellationStream = "dramatiq.__cancellations__";

// Declares the stream and the exchange.
void declare_cancellation_stream(Connection& connection);
// The stream entry of a cancellation.
Publication cancellation_entry(const std::string& message_id, std::int64_t expires_ms);
// The same for the watches' queues (through the fanout exchange).
Publication cancellation_broadcast(const Publication& entry);

class RabbitmqCancellationWatch : public CancellationWatch {
 public:
  RabbitmqCancellationWatch(const RabbitmqBrokerOptions& options, CancellationCallback callback);
  ~RabbitmqCancellationWatch() override;

 private:
  void open();
  // Reads entries for up to `wait`; true if it read `until_marker` (when set).
  bool read(std::chrono::milliseconds wait, const std::string& until_marker = {});
  void run();

  const RabbitmqBrokerOptions& options_;
  CancellationCallback callback_;
  std::unique_ptr<Connection> connection_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace dramatiq::rabbitmq
