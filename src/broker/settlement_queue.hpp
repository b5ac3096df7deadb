// Acknowledgements and rejections of a broker's consumers, sent in batches
// from one background thread, and the broker's heartbeat beside them.
//
// Worker threads finish a message and hand its receipt here without waiting
// on the network. A consumer whose next fetch can carry settlements takes
// its lane's (take/sent/give_back), so under load they cost no round trip
// of their own; what no fetch picked up within SettlementTiming::quiet_delay the
// thread sends itself, every lane in one batch. A message is still settled
// only after its actor and hooks finished, so delivery stays at-least-once.
// While any consumer is open the thread also sends a heartbeat every
// SettlementTiming::heartbeat_interval, even when every worker thread is busy.
//
// A lane is whatever the broker settles through: a queue (Redis), a channel
// (AMQP). The broker supplies the Transport: how a batch goes out.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dramatiq {

// When a SettlementQueue sends (a heartbeat_interval of 0: no heartbeats).
struct SettlementTiming {
  // How long settlements wait for a fetch to carry them.
  std::chrono::milliseconds quiet_delay{2};
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds first_retry_delay{100};
  std::chrono::milliseconds max_retry_delay{5000};
};

class SettlementQueue {
 public:
  struct Pending {
    std::vector<std::string> acks;
    std::vector<std::string> nacks;
    std::size_t size() const { return acks.size() + nacks.size(); }
  };
  using Batch = std::map<std::string, Pending>;  // by lane

  class Transport {
   public:
    virtual ~Transport() = default;
    // Sends `batch` and the heartbeat (an empty batch: the heartbeat
    // only). Throws BrokerConnectionError to have the batch kept and sent
    // again after a backoff; any other exception drops it, logged (the
    // server refused it, and would refuse it again).
    virtual void send(const Batch& batch) = 0;
    // The server took `pending` on `lane` (from send or a fetch).
    virtual void confirmed(const std::string& /*lane*/, const Pending& /*pending*/) {}
  };

  // `logger`: the logger name problems are reported on; `unsent_fate`:
  // what becomes of settlements still unsent at shutdown, for that report.
  SettlementQueue(Transport& transport, std::string logger, std::string unsent_fate,
                  SettlementTiming timing = {});
  ~SettlementQueue() { stop(); }
  SettlementQueue(const SettlementQueue&) = delete;
  SettlementQueue& operator=(const SettlementQueue&) = delete;

  void ack(const std::string& lane, std::string receipt);
  void nack(const std::string& lane, std::string receipt);

  // For a consumer's fetch: takes `lane`'s pending settlements; the
  // consumer then reports them sent, or gives them back if the fetch failed.
  Pending take(const std::string& lane);
  void sent(const std::string& lane, const Pending& settled);
  void give_back(const std::string& lane, Pending settled);

  // A consumer opened or closed; the heartbeat runs while any is open.
  void consumer_opened();
  void consumer_closed();

  // Waits until everything handed in so far was sent (false on timeout).
  bool flush(std::chrono::milliseconds timeout);
  // Sends what is pending (bounded wait) and ends the thread.
  void stop();

 private:
  void add(const std::string& lane, std::string receipt, bool ack);
  // mutex_ held, before adding to pending_: whether to notify the thread.
  bool note_pending_locked();
  void start_thread_locked();
  void run();
  // Sends one batch; false (the batch kept) on a connection error.
  bool send(Batch& batch);

  Transport& transport_;
  const std::string logger_;
  const std::string unsent_fate_;
  const SettlementTiming timing_;
  std::mutex mutex_;
  std::condition_variable work_;     // the thread waits for settlements
  std::condition_variable settled_;  // flush() waits for the thread
  Batch pending_;
  std::chrono::steady_clock::time_point pending_since_{};  // pending_ became non-empty
  // When the thread wakes next by itself (it is notified if sooner is needed).
  std::chrono::steady_clock::time_point thread_wakes_at_{};
  std::uint64_t flush_target_ = 0;  // flush() wants handed_in_ up to here sent now
  std::uint64_t handed_in_ = 0;  // settlements received
  std::uint64_t sent_ = 0;       // settlements sent
  int open_consumers_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dramatiq
