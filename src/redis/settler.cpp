#include "redis/settler.hpp"

#include <algorithm>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq::redis {

namespace {
constexpr const char* kLogger = "dramatiq.broker.RedisBroker";
constexpr auto kFirstRetryDelay = std::chrono::milliseconds(100);
constexpr auto kMaxRetryDelay = std::chrono::seconds(5);
}  // namespace

void Settler::ack(const std::string& queue, std::string id) { add(queue, std::move(id), true); }
void Settler::nack(const std::string& queue, std::string id) { add(queue, std::move(id), false); }

void Settler::add(const std::string& queue, std::string id, bool ack) {
  bool was_idle;
  {
    std::lock_guard lock(mutex_);
    was_idle = pending_.empty();
    auto& pending = pending_[queue];
    (ack ? pending.acks : pending.nacks).push_back(std::move(id));
    handed_in_ += 1;
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
  }
  // While a batch is on the wire, later settlements just join the next one.
  if (was_idle) work_.notify_one();
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
  auto last_heartbeat = std::chrono::steady_clock::time_point{};
  std::unique_lock lock(mutex_);
  while (true) {
    auto heartbeat_due = last_heartbeat + kHeartbeatInterval;
    if (open_consumers_ > 0) {
      work_.wait_until(lock, heartbeat_due, [&] { return !pending_.empty() || stopping_; });
    } else {
      // No consumer: nothing to keep alive, so sleep until there is work.
      work_.wait(lock, [&] { return !pending_.empty() || stopping_ || open_consumers_ > 0; });
    }
    if (stopping_ && pending_.empty()) break;
    bool heartbeat = open_consumers_ > 0 && std::chrono::steady_clock::now() >= heartbeat_due;
    if (pending_.empty() && !heartbeat) continue;
    std::map<std::string, Pending> batch;
    batch.swap(pending_);
    std::uint64_t count = handed_in_ - sent_;
    lock.unlock();
    bool ok = send(batch);
    lock.lock();
    if (ok) {
      last_heartbeat = std::chrono::steady_clock::now();
      sent_ += count;
      retry_delay = kFirstRetryDelay;
      settled_.notify_all();
      continue;
    }
    // Keep the batch (ahead of anything newer) and try again later.
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
    std::size_t left = 0;
    for (auto& [queue, pending] : pending_) left += pending.acks.size() + pending.nacks.size();
    log::write(log::Level::Warning, kLogger,
               std::to_string(left) +
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
