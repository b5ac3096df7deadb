// Cancellations on Redis: the sorted set <ns>:__cancelled__ holds each
// cancelled message id scored by when its cancellation expires, and the
// channel <ns>:__cancellations__ carries "<id> <expiry>" to every watching
// worker. A watch subscribes first, then reads the set, so no cancellation
// falls between the two; after a lost connection it does both again.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "dramatiq/cancellation.hpp"
#include "redis/context.hpp"

namespace dramatiq::redis {

std::string cancelled_key(const std::string& key_namespace);
std::string cancellations_channel(const std::string& key_namespace);

// Records a cancellation and publishes it, in one MULTI/EXEC (expired
// entries are dropped on the way).
void record_cancellation(BrokerContext& context, const std::string& message_id, std::int64_t expires_ms);

class RedisCancellationWatch : public CancellationWatch {
 public:
  // Reads the cancellations in force before returning (they reach
  // `callback` from this thread), then watches from a thread of its own.
  RedisCancellationWatch(BrokerContext& context, CancellationCallback callback);
  ~RedisCancellationWatch() override;

 private:
  void subscribe_and_load();
  void run();

  BrokerContext& context_;
  CancellationCallback callback_;
  std::unique_ptr<Connection> subscription_;
  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace dramatiq::redis
