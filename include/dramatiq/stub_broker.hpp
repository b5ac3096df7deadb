// An in-memory broker for tests: queues of encoded messages, delay queues
// and dead letters, all inside this process.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include "dramatiq/broker.hpp"

namespace dramatiq {

struct DeadLetter {
  std::string queue_name;  // the canonical queue it was rejected from
  std::shared_ptr<MessageProxy> message;
};

// The smallest complete broker: what a new broker implements is what this
// one does (consume, the do_* primitives, count_unfinished; the rest is
// optional). See docs/architecture.md.
class StubBroker : public Broker {
 public:
  StubBroker();
  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override;
  void flush(const std::string& queue_name) override;
  void flush_all() override;

  // Puts raw bytes on a queue, as if another producer had (tests, tools).
  void put_raw(const std::string& queue_name, std::string data);
  // Takes the first raw item off a queue (nullopt after `timeout`); the
  // caller reports it finished with task_done, like queue.Queue.
  std::optional<std::string> take_raw(const std::string& queue_name,
                                      std::chrono::milliseconds timeout);
  void task_done(const std::string& queue_name);
  std::size_t queue_size(const std::string& queue_name) const;
  // Messages put on one queue and not yet acked or nacked (queue.Queue's
  // unfinished_tasks: waiting ones and those being processed).
  std::size_t unfinished_tasks(const std::string& queue_name) const;
  std::vector<std::string> queue_contents(const std::string& queue_name) const;
  std::vector<DeadLetter> dead_letters() const;
  // Drops the dead letters of one queue (flush_all drops every queue's).
  void clear_dead_letters(const std::string& queue_name);

  // Whether a message dead-lettered now keeps the exception it failed with
  // (its failure), asked at each dead-lettering, outside the broker's lock.
  // Kept by default: join(fail_fast) re-raises it and dead_letters() shows
  // it. A dead letter that keeps none lets the exception, and the frames
  // its traceback holds, go once the worker is done with the message. A
  // host language answers from its own state (Python: whether
  // dramatiq.brokers.stub._StubMessageProxy.clear_exception still keeps it).
  void set_dead_letters_keep_exceptions(std::function<bool()> keeps);

 protected:
  const char* logger_name() const override { return "dramatiq.broker.StubBroker"; }
  std::size_t count_unfinished(const std::string& queue_name) override;
  void wait_for_settlement(const std::string& queue_name,
                           std::chrono::steady_clock::time_point deadline,
                           std::chrono::milliseconds poll_interval) override;
  std::shared_ptr<MessageProxy> first_dead_letter(const std::string& queue_name) override;

  void do_declare_queue(const std::string& queue_name) override;
  void do_enqueue(const std::string& queue_name, const Message& message) override;
  bool do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) override;
  // Cancellations: a map in memory; watchers are called from the
  // cancelling thread.
  void do_cancel(const std::string& message_id, std::int64_t expires_ms) override;

 public:
  std::optional<std::int64_t> last_tick(const std::string& schedule_name) override;
  bool supports_ticks() const override { return true; }
  bool supports_cancellation() const override { return true; }
  std::unique_ptr<CancellationWatch> watch_cancellations(CancellationCallback callback) override;
  QueueCounts queue_counts(const std::string& queue_name) override;
  // A dead letter's id is its message id.
  std::vector<StoredDeadLetter> list_dead_letters(const std::string& queue_name, std::size_t limit) override;
  std::size_t requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  std::size_t delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  // What the queue and its delay queue hold, not what workers took.
  std::vector<StoredMessage> list_messages(const std::string& queue_name, std::size_t limit) override;
  // Worker records: a map in memory.
  bool keeps_worker_records() const override { return true; }
  void put_worker_record(const WorkerRecord& record) override;
  void remove_worker_record(const std::string& worker_id) override;
  std::vector<WorkerRecord> list_worker_records() override;

 private:
  friend class StubConsumer;
  struct Queue {
    std::deque<std::string> items;
    std::size_t unfinished = 0;  // put but not yet acked/nacked
    std::size_t bytes = 0;       // held in items
    std::size_t peak_bytes = 0;  // the most held since memory was last given back
    void push_back(std::string data);
    void push_front(std::string data);
    std::string pop_front();
    void clear();
    // Whether the queue just emptied after holding enough that the freed
    // memory should go back to the system (see release_free_memory).
    bool drained_after_backlog();
  };
  void dead_letter(const std::string& queue_name, std::shared_ptr<MessageProxy> message);
  bool dead_letters_keep_exceptions() const;
  std::size_t count_unfinished_locked(const std::string& queue_name) const;  // mutex_ held
  // Takes the dead letters of `queue_name` that `ids` names (all when empty) out of dead_letters_.
  std::vector<DeadLetter> take_dead_letters_locked(const std::string& queue_name, const std::vector<std::string>& ids);

  mutable std::mutex mutex_;
  std::condition_variable items_added_;  // consumers wait for messages
  std::condition_variable settled_;      // join() waits for queues to finish
  std::map<std::string, Queue> queues_;
  std::vector<DeadLetter> dead_letters_;
  std::function<bool()> dead_letters_keep_exceptions_;  // mutex_; empty: they do
  std::mutex worker_records_mutex_;
  std::map<std::string, WorkerRecord> worker_records_;
  // Held across a tick's check and enqueue (not mutex_: do_enqueue takes it).
  std::mutex ticks_mutex_;
  std::map<std::string, std::int64_t> last_ticks_;
  // Cancellations in force and the watchers' callbacks, by watch.
  struct Cancellations {
    std::mutex mutex;
    std::map<std::string, std::int64_t> expiry;
    std::map<std::size_t, CancellationCallback> watchers;
    std::size_t next_watch = 0;
  };
  std::shared_ptr<Cancellations> cancellations_ = std::make_shared<Cancellations>();
};

}  // namespace dramatiq
