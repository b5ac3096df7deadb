// An in-memory broker for tests: queues of encoded messages, delay queues
// and dead letters, all inside this process.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "dramatiq/broker.hpp"

namespace dramatiq {

struct DeadLetter {
  std::string queue_name;  // the canonical queue it was rejected from
  std::shared_ptr<MessageProxy> message;
};

class StubBroker : public Broker {
 public:
  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch,
                                    std::chrono::milliseconds timeout) override;
  void flush(const std::string& queue_name) override;
  void flush_all() override;

  // Waits until `queue_name` and its delay queue are empty and every message
  // taken from them was acked or nacked. Returns false on timeout. With
  // fail_fast, returns early and reports the first dead letter of the queue.
  bool join(const std::string& queue_name, std::optional<std::chrono::milliseconds> timeout,
            bool fail_fast, std::shared_ptr<MessageProxy>* first_dead_letter);

  // Puts raw bytes on a queue, as if another producer had (tests, tools).
  void put_raw(const std::string& queue_name, std::string data);
  // Takes the first raw item off a queue (nullopt after `timeout`); the
  // caller reports it finished with task_done, like queue.Queue.
  std::optional<std::string> take_raw(const std::string& queue_name,
                                      std::chrono::milliseconds timeout);
  void task_done(const std::string& queue_name);
  std::size_t queue_size(const std::string& queue_name) const;
  std::vector<std::string> queue_contents(const std::string& queue_name) const;
  std::vector<DeadLetter> dead_letters() const;
  bool worth_spinning_for_work() const override { return true; }

 protected:
  const char* logger_name() const override { return "dramatiq.broker.StubBroker"; }
  bool lists_delay_queues_as_queues() const override { return true; }

  void do_declare_queue(const std::string& queue_name) override;
  void do_enqueue(const std::string& queue_name, const Message& message) override;

 private:
  friend class StubConsumer;
  struct Queue {
    std::deque<std::string> items;
    std::size_t unfinished = 0;  // put but not yet acked/nacked
  };
  void dead_letter(const std::string& queue_name, std::shared_ptr<MessageProxy> message);

  mutable std::mutex mutex_;
  std::condition_variable items_added_;  // consumers wait for messages
  std::condition_variable settled_;      // join() waits for queues to finish
  std::map<std::string, Queue> queues_;
  std::vector<DeadLetter> dead_letters_;
};

}  // namespace dramatiq
