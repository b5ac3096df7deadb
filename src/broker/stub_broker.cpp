#include "dramatiq/stub_broker.hpp"

#include <algorithm>
#include <set>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"

namespace dramatiq {

namespace {

// A backlog this large (encoded bytes) is given back to the system once
// drained; smaller ones are left to malloc's free lists for reuse.
constexpr std::size_t kReleaseAfterBytes = 16u << 20;

// A drained backlog leaves its messages' memory in malloc's free lists,
// where glibc keeps it: 200k queued messages would keep ~60 MB resident
// for the life of the process. Hand the free pages back (called without
// the broker's lock: it walks every arena).
void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

void StubBroker::Queue::push_back(std::string data) {
  bytes += data.size();
  peak_bytes = std::max(peak_bytes, bytes);
  items.push_back(std::move(data));
}

void StubBroker::Queue::push_front(std::string data) {
  bytes += data.size();
  peak_bytes = std::max(peak_bytes, bytes);
  items.push_front(std::move(data));
}

std::string StubBroker::Queue::pop_front() {
  std::string data = std::move(items.front());
  items.pop_front();
  bytes -= std::min(bytes, data.size());
  return data;
}

void StubBroker::Queue::clear() {
  items.clear();
  bytes = 0;
}

bool StubBroker::Queue::drained_after_backlog() {
  if (!items.empty() || peak_bytes < kReleaseAfterBytes) return false;
  peak_bytes = 0;
  // The deque's block map grew with the backlog too.
  items.shrink_to_fit();
  return true;
}

class StubConsumer : public Consumer {
 public:
  StubConsumer(StubBroker& broker, std::string queue_name)
      : broker_(broker), queue_name_(std::move(queue_name)) {}

  std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override {
    std::string data;
    bool drained;
    {
      std::unique_lock lock(broker_.mutex_);
      auto it = broker_.queues_.find(queue_name_);
      if (it == broker_.queues_.end()) throw QueueNotFound(queue_name_);
      auto& queue = it->second;
      if (!broker_.items_added_.wait_for(lock, timeout, [&] { return !queue.items.empty() || interrupted_; }) ||
          queue.items.empty()) {
        interrupted_ = false;
        return nullptr;
      }
      data = queue.pop_front();
      drained = queue.drained_after_backlog();
    }
    if (drained) release_free_memory();
    return decode_delivery(queue_name_, std::move(data));
  }

  void interrupt_wait() override {
    {
      std::lock_guard lock(broker_.mutex_);
      interrupted_ = true;
    }
    broker_.items_added_.notify_all();
  }

  void ack(MessageProxy&) override { broker_.task_done(queue_name_); }

  void nack(MessageProxy& message) override {
    // The proxy is copied: the worker clears its own after processing.
    auto letter = std::make_shared<MessageProxy>(message);
    if (!broker_.dead_letters_keep_exceptions()) letter->failure.reset();
    broker_.dead_letter(queue_name_, std::move(letter));
    broker_.task_done(queue_name_);
  }

  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override {
    auto encoder = get_encoder();
    std::lock_guard lock(broker_.mutex_);
    auto& queue = broker_.queues_[queue_name_];
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      const auto& m = **it;
      queue.push_front(m.decode_error ? m.raw : encoder->encode(m.message));
    }
    broker_.items_added_.notify_all();
  }

 private:
  StubBroker& broker_;
  std::string queue_name_;
  bool interrupted_ = false;  // broker_.mutex_
};

StubBroker::StubBroker()
    : Broker(BrokerTraits{.hands_over_in_process = true, .lists_delay_queues_as_queues = true}) {}

std::unique_ptr<Consumer> StubBroker::consume(const std::string& queue_name, int /*prefetch*/) {
  std::lock_guard lock(mutex_);
  if (!queues_.count(queue_name)) throw QueueNotFound(queue_name);
  return std::make_unique<StubConsumer>(*this, queue_name);
}

void StubBroker::do_declare_queue(const std::string& queue_name) {
  std::lock_guard lock(mutex_);
  queues_.try_emplace(queue_name);
}

void StubBroker::do_enqueue(const std::string& queue_name, const Message& message) {
  std::string data = encode_for_broker(message);
  // Held until consumed, possibly by the hundred thousand: keep only the
  // bytes, not the encoder's growth room.
  data.shrink_to_fit();
  put_raw(queue_name, std::move(data));
}

bool StubBroker::do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) {
  std::lock_guard lock(ticks_mutex_);
  auto it = last_ticks_.find(schedule_name);
  if (it != last_ticks_.end() && it->second >= tick_ms) return false;
  do_enqueue(message.queue_name, message);
  last_ticks_[schedule_name] = tick_ms;
  return true;
}

namespace {
class StubCancellationWatch : public CancellationWatch {
 public:
  StubCancellationWatch(std::function<void()> stop) : stop_(std::move(stop)) {}
  ~StubCancellationWatch() override { stop_(); }

 private:
  std::function<void()> stop_;
};
}  // namespace

void StubBroker::do_cancel(const std::string& message_id, std::int64_t expires_ms) {
  // Called under the lock, so that a watcher being removed is not called
  // after its watch is gone.
  std::lock_guard lock(cancellations_->mutex);
  auto& expiry = cancellations_->expiry[message_id];
  expiry = std::max(expiry, expires_ms);
  for (auto& [id, callback] : cancellations_->watchers) callback(message_id, expires_ms);
}

std::unique_ptr<CancellationWatch> StubBroker::watch_cancellations(CancellationCallback callback) {
  auto cancellations = cancellations_;
  std::lock_guard lock(cancellations->mutex);
  const std::int64_t now = current_millis();
  for (const auto& [id, expiry] : cancellations->expiry) {
    if (expiry > now) callback(id, expiry);
  }
  std::size_t watch = cancellations->next_watch++;
  cancellations->watchers[watch] = std::move(callback);
  return std::make_unique<StubCancellationWatch>([cancellations, watch] {
    std::lock_guard lock(cancellations->mutex);
    cancellations->watchers.erase(watch);
  });
}

std::optional<std::int64_t> StubBroker::last_tick(const std::string& schedule_name) {
  std::lock_guard lock(ticks_mutex_);
  auto it = last_ticks_.find(schedule_name);
  if (it == last_ticks_.end()) return std::nullopt;
  return it->second;
}

void StubBroker::put_raw(const std::string& queue_name, std::string data) {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue_name);
  if (it == queues_.end()) throw QueueNotFound(queue_name);
  it->second.push_back(std::move(data));
  it->second.unfinished += 1;
  items_added_.notify_all();
}

std::optional<std::string> StubBroker::take_raw(const std::string& queue_name,
                                                std::chrono::milliseconds timeout) {
  std::string data;
  bool drained;
  {
    std::unique_lock lock(mutex_);
    auto it = queues_.find(queue_name);
    if (it == queues_.end()) throw QueueNotFound(queue_name);
    auto& queue = it->second;
    if (!items_added_.wait_for(lock, timeout, [&] { return !queue.items.empty(); })) return std::nullopt;
    data = queue.pop_front();
    drained = queue.drained_after_backlog();
  }
  if (drained) release_free_memory();
  return data;
}

void StubBroker::task_done(const std::string& queue_name) {
  std::lock_guard lock(mutex_);
  auto& queue = queues_[queue_name];
  if (queue.unfinished > 0) queue.unfinished -= 1;
  if (queue.unfinished == 0) settled_.notify_all();
}

void StubBroker::dead_letter(const std::string& queue_name, std::shared_ptr<MessageProxy> message) {
  std::lock_guard lock(mutex_);
  dead_letters_.push_back(DeadLetter{canonical_queue_name(queue_name), std::move(message)});
}

void StubBroker::set_dead_letters_keep_exceptions(std::function<bool()> keeps) {
  std::lock_guard lock(mutex_);
  dead_letters_keep_exceptions_ = std::move(keeps);
}

bool StubBroker::dead_letters_keep_exceptions() const {
  std::function<bool()> keeps;
  {
    std::lock_guard lock(mutex_);
    keeps = dead_letters_keep_exceptions_;
  }
  // Called without the lock: a host's answer may take its interpreter's lock.
  return !keeps || keeps();
}

void StubBroker::flush(const std::string& queue_name) {
  bool drained = false;
  {
    std::lock_guard lock(mutex_);
    auto it = queues_.find(queue_name);
    if (it != queues_.end()) {
      it->second.unfinished -= std::min(it->second.unfinished, it->second.items.size());
      it->second.clear();
      drained = it->second.drained_after_backlog();
    }
    settled_.notify_all();
  }
  if (drained) release_free_memory();
}

void StubBroker::flush_all() {
  bool drained = false;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, queue] : queues_) {
      // What is being processed stays unfinished until it is settled, as
      // flush(queue) leaves it.
      queue.unfinished -= std::min(queue.unfinished, queue.items.size());
      queue.clear();
      drained = queue.drained_after_backlog() || drained;
    }
    dead_letters_.clear();
  }
  settled_.notify_all();
  if (drained) release_free_memory();
}

std::vector<StoredDeadLetter> StubBroker::list_dead_letters(const std::string& queue_name, std::size_t limit) {
  std::vector<DeadLetter> letters;
  {
    std::lock_guard lock(mutex_);
    for (const auto& letter : dead_letters_) {
      if (letters.size() >= limit) break;
      if (letter.queue_name == queue_name) letters.push_back(letter);
    }
  }
  std::vector<StoredDeadLetter> out;
  out.reserve(letters.size());
  for (const auto& letter : letters) {  // encoded without the lock: the encoder may be the host's
    const MessageProxy& proxy = *letter.message;
    StoredDeadLetter stored;
    stored.id = proxy.message.message_id;
    stored.message_id = proxy.message.message_id;
    stored.data = proxy.decode_error ? proxy.raw : get_encoder()->encode(proxy.message);
    if (proxy.failure) {
      stored.failure_type = proxy.failure->type_name;
      stored.failure_message = proxy.failure->message;
      stored.traceback = proxy.failure->traceback;
    }
    out.push_back(std::move(stored));
  }
  return out;
}

std::vector<DeadLetter> StubBroker::take_dead_letters_locked(const std::string& queue_name,
                                                             const std::vector<std::string>& ids) {
  std::set<std::string> wanted(ids.begin(), ids.end());
  std::vector<DeadLetter> taken;
  std::vector<DeadLetter> kept;
  for (auto& letter : dead_letters_) {
    bool chosen = letter.queue_name == queue_name &&
                  (wanted.empty() || wanted.count(letter.message->message.message_id) > 0);
    (chosen ? taken : kept).push_back(std::move(letter));
  }
  dead_letters_ = std::move(kept);
  return taken;
}

std::size_t StubBroker::requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  std::vector<DeadLetter> taken;
  {
    std::lock_guard lock(mutex_);
    taken = take_dead_letters_locked(queue_name, ids);
  }
  for (auto& letter : taken) {
    const MessageProxy& proxy = *letter.message;
    put_raw(queue_name, proxy.decode_error ? proxy.raw : get_encoder()->encode(proxy.message));
  }
  return taken.size();
}

std::size_t StubBroker::delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  return take_dead_letters_locked(queue_name, ids).size();
}

std::vector<StoredMessage> StubBroker::list_messages(const std::string& queue_name, std::size_t limit) {
  std::lock_guard lock(mutex_);
  if (!queues_.count(queue_name)) throw QueueNotFound(queue_name);
  std::vector<StoredMessage> messages;
  for (const auto& [name, delayed] : {std::pair{queue_name, false}, std::pair{delay_queue_name(queue_name), true}}) {
    auto it = queues_.find(name);
    if (it == queues_.end()) continue;
    for (const auto& data : it->second.items) {
      if (messages.size() >= limit) return messages;
      messages.push_back(StoredMessage{data, delayed});
    }
  }
  return messages;
}

void StubBroker::put_worker_record(const WorkerRecord& record) {
  std::lock_guard lock(worker_records_mutex_);
  worker_records_[record.worker_id] = record;
}

void StubBroker::remove_worker_record(const std::string& worker_id) {
  std::lock_guard lock(worker_records_mutex_);
  worker_records_.erase(worker_id);
}

std::vector<WorkerRecord> StubBroker::list_worker_records() {
  const std::int64_t now = current_millis();
  std::lock_guard lock(worker_records_mutex_);
  std::vector<WorkerRecord> records;
  for (auto it = worker_records_.begin(); it != worker_records_.end();) {
    if (it->second.expires_at_ms <= now) {
      it = worker_records_.erase(it);
    } else {
      records.push_back(it->second);
      ++it;
    }
  }
  return records;
}

std::size_t StubBroker::count_unfinished_locked(const std::string& queue_name) const {
  std::size_t count = 0;
  for (const auto& name : {queue_name, delay_queue_name(queue_name)}) {
    auto it = queues_.find(name);
    if (it != queues_.end()) count += std::max(it->second.items.size(), it->second.unfinished);
  }
  return count;
}

std::size_t StubBroker::count_unfinished(const std::string& queue_name) {
  std::lock_guard lock(mutex_);
  if (!queues_.count(queue_name)) throw QueueNotFound(queue_name);
  return count_unfinished_locked(queue_name);
}

QueueCounts StubBroker::queue_counts(const std::string& queue_name) {
  std::lock_guard lock(mutex_);
  auto queue = queues_.find(queue_name);
  if (queue == queues_.end()) throw QueueNotFound(queue_name);
  QueueCounts counts;
  counts.ready = static_cast<std::int64_t>(queue->second.items.size());
  counts.in_flight = static_cast<std::int64_t>(queue->second.unfinished - queue->second.items.size());
  // Delayed ones a worker holds until their eta are still delayed.
  if (auto delayed = queues_.find(delay_queue_name(queue_name)); delayed != queues_.end()) {
    counts.delayed = static_cast<std::int64_t>(delayed->second.unfinished);
  }
  for (const auto& letter : dead_letters_) counts.dead += letter.queue_name == queue_name;
  return counts;
}

void StubBroker::wait_for_settlement(const std::string& queue_name,
                                     std::chrono::steady_clock::time_point deadline,
                                     std::chrono::milliseconds /*poll_interval*/) {
  std::unique_lock lock(mutex_);
  settled_.wait_until(lock, deadline, [&] { return count_unfinished_locked(queue_name) == 0; });
}

std::shared_ptr<MessageProxy> StubBroker::first_dead_letter(const std::string& queue_name) {
  std::lock_guard lock(mutex_);
  for (auto& letter : dead_letters_) {
    if (letter.queue_name == queue_name) return letter.message;
  }
  return nullptr;
}

std::size_t StubBroker::queue_size(const std::string& queue_name) const {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue_name);
  if (it == queues_.end()) throw QueueNotFound(queue_name);
  return it->second.items.size();
}

std::size_t StubBroker::unfinished_tasks(const std::string& queue_name) const {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue_name);
  if (it == queues_.end()) throw QueueNotFound(queue_name);
  return it->second.unfinished;
}

std::vector<std::string> StubBroker::queue_contents(const std::string& queue_name) const {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue_name);
  if (it == queues_.end()) throw QueueNotFound(queue_name);
  return {it->second.items.begin(), it->second.items.end()};
}

std::vector<DeadLetter> StubBroker::dead_letters() const {
  std::lock_guard lock(mutex_);
  return dead_letters_;
}

void StubBroker::clear_dead_letters(const std::string& queue_name) {
  std::vector<DeadLetter> dropped;  // destroyed after the lock: a letter may own a host's objects
  {
    std::lock_guard lock(mutex_);
    auto kept = std::stable_partition(dead_letters_.begin(), dead_letters_.end(),
                                      [&](const DeadLetter& letter) { return letter.queue_name != queue_name; });
    dropped.assign(std::make_move_iterator(kept), std::make_move_iterator(dead_letters_.end()));
    dead_letters_.erase(kept, dead_letters_.end());
  }
}

}  // namespace dramatiq
