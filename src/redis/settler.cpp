#include "redis/settler.hpp"

#include <algorithm>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq::redis {

namespace {
using Clock = std::chrono::steady_clock;
constexpr const char* kLogger = "dramatiq.broker.RedisBroker";
constexpr auto kFirstRetryDelay = std::chrono::milliseconds(100);
constexpr auto kMaxRetryDelay = std::chrono::seconds(5);
}  // namespace

void Settler::ack(const std::string& queue, std::string id) { add(queue, std::move(id), true); }
void Settler::nack(const std::string& queue, std::string id) { add(queue, std::move(id), false); }

namespace {
std::size_t count_of(const std::map<std::string, Settler::Pending>& batch) {
  std::size_t count = 0;
  for (const auto& [queue, pending] : batch) count += pending.size();
  return count;
}
}  // namespace

bool Settler::note_pending_locked() {
  if (pending_.empty()) pending_since_ = Clock::now();
  // The thread must wake by pending_since_ + kQuietDelay; notify it only
  // when it sleeps longer than that (while it is awake it is unset).
  return thread_wakes_at_ > pending_since_ + kQuietDelay;
}

void Settler::add(const std::string& queue, std::string id, bool ack) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    wake = note_pending_locked();
    auto& pending = pending_[queue];
    (ack ? pending.acks : pending.nacks).push_back(std::move(id));
    handed_in_ += 1;
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
  }
  if (wake) work_.notify_one();
}

Settler::Pending Settler::take(const std::string& queue) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(queue);
  if (it == pending_.end()) return {};
  Pending taken = std::move(it->second);
  pending_.erase(it);
  return taken;
}

void Settler::sent(const std::string& queue, const Pending& settled) {
  if (settled.size() == 0) return;
  context_.held().remove(queue, settled.acks);
  context_.held().remove(queue, settled.nacks);
  {
    std::lock_guard lock(mutex_);
    sent_ += settled.size();
  }
  settled_.notify_all();
}

void Settler::give_back(const std::string& queue, Pending settled) {
  if (settled.size() == 0) return;
  bool wake;
  {
    std::lock_guard lock(mutex_);
    wake = note_pending_locked();
    auto& pending = pending_[queue];
    // Older settlements go first.
    settled.acks.insert(settled.acks.end(), pending.acks.begin(), pending.acks.end());
    settled.nacks.insert(settled.nacks.end(), pending.nacks.begin(), pending.nacks.end());
    pending = std::move(settled);
  }
  if (wake) work_.notify_one();
}

void Settler::consumer_opened() {
  {
    std::lock_guard lock(mutex_);
    open_consumers_ += 1;
    stopping_ = false;
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  work_.notify_one();
}

void Settler::consumer_closed() {
  std::lock_guard lock(mutex_);
  open_consumers_ -= 1;
}

bool Settler::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::uint64_t target = handed_in_;
  flush_target_ = std::max(flush_target_, target);
  work_.notify_one();
  return settled_.wait_for(lock, timeout, [&] { return sent_ >= target || !thread_.joinable(); });
}

void Settler::stop() {
  flush(std::chrono::seconds(5));
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread.swap(thread_);
  }
  work_.notify_all();
  if (thread.joinable()) thread.join();
}

void Settler::run() {
  auto retry_delay = kFirstRetryDelay;
  auto last_heartbeat = Clock::time_point{};
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_ && pending_.empty()) break;
    auto now = Clock::now();
    auto heartbeat_at = last_heartbeat + kHeartbeatInterval;
    bool heartbeat_due = open_consumers_ > 0 && now >= heartbeat_at;
    bool send_due = !pending_.empty() &&
                    (stopping_ || flush_target_ > sent_ || now >= pending_since_ + kQuietDelay);
    if (!send_due && !heartbeat_due) {
      auto wake_at = Clock::time_point::max();
      if (open_consumers_ > 0) wake_at = heartbeat_at;
      if (!pending_.empty()) wake_at = std::min(wake_at, pending_since_ + kQuietDelay);
      thread_wakes_at_ = wake_at;
      if (wake_at == Clock::time_point::max()) {
        work_.wait(lock);
      } else {
        work_.wait_until(lock, wake_at);
      }
      thread_wakes_at_ = Clock::time_point{};
      continue;
    }
    std::map<std::string, Pending> batch;
    batch.swap(pending_);
    std::size_t count = count_of(batch);
    lock.unlock();
    bool ok = send(batch);
    lock.lock();
    if (ok) {
      last_heartbeat = Clock::now();
      sent_ += count;
      retry_delay = kFirstRetryDelay;
      settled_.notify_all();
      continue;
    }
    // Keep the batch (ahead of anything newer) and try again later.
    if (pending_.empty()) pending_since_ = Clock::now();
    for (auto& [queue, pending] : pending_) {
      auto& kept = batch[queue];
      kept.acks.insert(kept.acks.end(), pending.acks.begin(), pending.acks.end());
      kept.nacks.insert(kept.nacks.end(), pending.nacks.begin(), pending.nacks.end());
    }
    pending_.swap(batch);
    if (stopping_) break;
    work_.wait_for(lock, retry_delay, [&] { return stopping_; });
    retry_delay = std::min<std::chrono::milliseconds>(retry_delay * 2, kMaxRetryDelay);
  }
  if (!pending_.empty()) {
    log::write(log::Level::Warning, kLogger,
               std::to_string(count_of(pending_)) +
                   " acknowledgements could not be sent before shutdown; those messages will be "
                   "redelivered after the heartbeat timeout.");
  }
  settled_.notify_all();
}

bool Settler::send(std::map<std::string, Pending>& batch) {
  try {
    if (!connection_ || !connection_->healthy()) connection_ = context_.pool().open();
    std::vector<Command> invocations;
    for (auto& [queue, pending] : batch) {
      std::vector<std::string> arguments{"0", std::to_string(pending.acks.size())};
      arguments.reserve(2 + pending.acks.size() + pending.nacks.size());
      arguments.insert(arguments.end(), pending.acks.begin(), pending.acks.end());
      arguments.insert(arguments.end(), pending.nacks.begin(), pending.nacks.end());
      invocations.push_back(context_.invocation(Operation::Fetch, queue, std::move(arguments)));
    }
    if (invocations.empty()) {
      invocations.push_back(context_.invocation(Operation::Heartbeat, ""));
    }
    context_.run_all(*connection_, invocations);
    for (auto& [queue, pending] : batch) {
      context_.held().remove(queue, pending.acks);
      context_.held().remove(queue, pending.nacks);
    }
    return true;
  } catch (const BrokerConnectionError& e) {
    connection_.reset();
    log::write(log::Level::Warning, kLogger,
               std::string("Could not send acknowledgements: ") + e.what() + ". Retrying.");
    return false;
  } catch (const std::exception& e) {
    // The server refused the batch itself; retrying would fail the same way.
    log::write(log::Level::Error, kLogger,
               std::string("Redis rejected a batch of acknowledgements: ") + e.what());
    return true;
  }
}

}  // namespace dramatiq::redis
