// Acknowledgements, rejections and heartbeats of a Redis broker's
// consumers, sent from one background thread.
//
// Worker threads finish a message and hand its id here without waiting on
// the network. A consumer's next fetch carries its queue's settlements
// (take/sent/give_back), so under load they cost no round trip of their
// own; what no fetch picked up within kQuietDelay the thread sends itself,
// all queues in one round trip. A message is still settled only after its
// actor and hooks finished, so delivery stays at-least-once. While any
// consumer is open the thread also refreshes this broker's heartbeat every
// second, even when every worker thread is busy with long-running actors.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis/context.hpp"

namespace dramatiq::redis {

class Settler {
 public:
  explicit Settler(BrokerContext& context) : context_(context) {}
  ~Settler() { stop(); }

  void ack(const std::string& queue, std::string id);
  void nack(const std::string& queue, std::string id);

  struct Pending {
    std::vector<std::string> acks;
    std::vector<std::string> nacks;
    std::size_t size() const { return acks.size() + nacks.size(); }
  };
  // For a consumer's fetch: takes `queue`'s pending settlements; the
  // consumer then reports them sent, or gives them back if the fetch failed.
  Pending take(const std::string& queue);
  void sent(const std::string& queue, const Pending& settled);
  void give_back(const std::string& queue, Pending settled);

  // A consumer opened or closed; the heartbeat runs while any is open.
  void consumer_opened();
  void consumer_closed();

  // Waits until everything handed in so far was sent (false on timeout).
  bool flush(std::chrono::milliseconds timeout);
  // Sends what is pending (bounded wait) and ends the thread.
  void stop();

 private:
  void add(const std::string& queue, std::string id, bool ack);
  // mutex_ held, before adding to pending_: whether to notify the thread.
  bool note_pending_locked();
  void run();
  // Sends one batch; returns false (and keeps it) on a connection error.
  bool send(std::map<std::string, Pending>& batch);

  static constexpr auto kHeartbeatInterval = std::chrono::seconds(1);
  // How long settlements wait for a fetch to carry them.
  static constexpr auto kQuietDelay = std::chrono::milliseconds(2);

  BrokerContext& context_;
  std::mutex mutex_;
  std::condition_variable work_;     // the thread waits for settlements
  std::condition_variable settled_;  // flush() waits for the thread
  std::map<std::string, Pending> pending_;
  std::chrono::steady_clock::time_point pending_since_{};  // pending_ became non-empty
  // When the thread wakes next by itself (it is notified if sooner is needed).
  std::chrono::steady_clock::time_point thread_wakes_at_{};
  std::uint64_t flush_target_ = 0;  // flush() wants handed_in_ up to here sent now
  std::uint64_t handed_in_ = 0;  // settlements received
  std::uint64_t sent_ = 0;       // settlements sent
  int open_consumers_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<Connection> connection_;  // the thread's own
};

}  // namespace dramatiq::redis
