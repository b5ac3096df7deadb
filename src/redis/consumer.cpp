#include "redis/consumer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "redis/enqueue.hpp"

namespace dramatiq::redis {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kFirstReconnectDelay = std::chrono::milliseconds(500);
constexpr auto kMaxReconnectDelay = std::chrono::seconds(5);
constexpr auto kSettleOnCloseTimeout = std::chrono::seconds(5);

std::string seconds_text(std::chrono::milliseconds delay) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(delay.count()) / 1000.0);
  return text;
}
}  // namespace

RedisConsumer::RedisConsumer(BrokerContext& context, SettlementQueue& settler, std::string queue,
                             int prefetch)
    : context_(context), settler_(settler), queue_(std::move(queue)),
      prefetch_(std::max(1, prefetch)),
      logger_("dramatiq.broker.RedisBroker.Consumer(" + queue_ + ")"),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  settler_.consumer_opened();
}

void RedisConsumer::interrupt_wait() {
  if (wake_fd_ < 0) return;
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

bool RedisConsumer::take_interruption() {
  if (wake_fd_ < 0) return false;
  std::uint64_t count = 0;
  return ::read(wake_fd_, &count, sizeof count) == static_cast<ssize_t>(sizeof count);
}

RedisConsumer::~RedisConsumer() {
  try {
    close();
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_, std::string("Error closing the consumer: ") + e.what());
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::shared_ptr<MessageProxy> RedisConsumer::next(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  while (true) {
    if (!buffer_.empty()) {
      Fetched fetched = std::move(buffer_.front());
      buffer_.pop_front();
      buffered_ = buffer_.size();
      lock.unlock();
      return deliver(std::move(fetched));
    }
    if (closed_) return nullptr;
    if (disconnected_ && Clock::now() < reconnect_at_) {
      lock.unlock();
      auto left = std::chrono::ceil<std::chrono::milliseconds>(std::min(reconnect_at_, deadline) - Clock::now());
      pollfd wake{wake_fd_, POLLIN, 0};
      if (::poll(&wake, wake_fd_ >= 0 ? 1 : 0, static_cast<int>(std::max<std::int64_t>(0, left.count()))) > 0) {
        take_interruption();
      }
      return nullptr;
    }
    try {
      if (!connection_) connect();
      int wanted = std::min(prefetch_ - unsettled_.load(), kMaxFetch);
      if (wanted > 0 && fetch(wanted) > 0) continue;
      if (Clock::now() >= deadline || !wait_for_wakeup(deadline)) return nullptr;
    } catch (const BrokerConnectionError& e) {
      disconnect_after(e);
    }
  }
}

void RedisConsumer::connect() {
  // No reply spin here (unlike pooled connections): with batched worker
  // wake-ups, spinning on each fetch cost more CPU than the poll() wake-up
  // it saves, on a machine whose cores redis-server shares.
  auto connection = context_.pool().open();
  auto subscription = context_.pool().open();
  subscription->send({"SUBSCRIBE", wakeup_channel(context_.key_namespace(), queue_)});
  auto confirmation = subscription->read(std::chrono::seconds(10));
  if (!confirmation || confirmation->is_error()) {
    throw ConnectionFailed("Redis did not confirm the subscription to wake-up signals");
  }
  connection_ = std::move(connection);
  subscription_ = std::move(subscription);
  if (disconnected_) {
    log::write(log::Level::Info, logger_,
               "Reconnected to Redis at " + context_.options().connection.describe() + ".");
    return_strays();
  }
  disconnected_ = false;
  reconnect_delay_ = std::chrono::milliseconds(0);
}

std::size_t RedisConsumer::fetch(int wanted) {
  // The fetch also carries what this queue's worker threads finished.
  SettlementQueue::Pending settled = settler_.take(queue_);
  std::vector<std::string> arguments{std::to_string(wanted), std::to_string(settled.acks.size())};
  arguments.reserve(2 + settled.size());
  arguments.insert(arguments.end(), settled.acks.begin(), settled.acks.end());
  arguments.insert(arguments.end(), settled.nacks.begin(), settled.nacks.end());
  Reply reply;
  try {
    reply = context_.run(*connection_, Operation::Fetch, queue_, std::move(arguments));
  } catch (...) {
    settler_.give_back(queue_, std::move(settled));  // settling again is harmless
    throw;
  }
  settler_.sent(queue_, settled);
  FetchReply fetched = split_fetch_reply(std::move(reply));
  for (const auto& id : fetched.ids_without_data) {
    log::write(log::Level::Warning, logger_,
               "Message id '" + id + "' was on queue '" + queue_ +
                   "' without its message data; it was dropped from the queue.");
  }
  std::vector<std::string> taken_ids;
  taken_ids.reserve(fetched.messages.size());
  for (auto& message : fetched.messages) {
    taken_ids.push_back(message.id);
    buffer_.push_back(Fetched{std::move(message.id), std::move(message.data)});
  }
  context_.held().add(queue_, taken_ids);
  buffered_ = buffer_.size();
  return taken_ids.size();
}

void RedisConsumer::return_strays() {
  Reply members = connection_->call({"SMEMBERS", context_.ack_set_key(queue_)});
  check(members);
  std::vector<std::string> ids;
  for (auto& member : members.elements) ids.push_back(std::move(member.str));
  auto strays = context_.held().strays(queue_, ids);
  if (strays.empty()) return;
  // The requeue script skips any id settled in the meantime.
  Reply returned = context_.run(*connection_, Operation::Requeue, queue_, std::move(strays));
  if (returned.integer > 0) {
    log::write(log::Level::Warning, logger_,
               "Put " + std::to_string(returned.integer) +
                   " message(s) back on queue '" + queue_ +
                   "': they were fetched while the connection broke and never delivered.");
  }
}

bool RedisConsumer::wait_for_wakeup(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (!subscription_->read(std::max(left, std::chrono::milliseconds(0)), wake_fd_)) {
    take_interruption();
    return false;
  }
  // One fetch serves every signal that arrived meanwhile.
  while (subscription_->read(std::chrono::milliseconds(0))) {
  }
  return true;
}

void RedisConsumer::disconnect_after(const std::exception& error) {
  connection_.reset();
  subscription_.reset();
  reconnect_delay_ = reconnect_delay_.count() == 0
                         ? std::chrono::milliseconds(kFirstReconnectDelay)
                         : std::min<std::chrono::milliseconds>(reconnect_delay_ * 2, kMaxReconnectDelay);
  reconnect_at_ = Clock::now() + reconnect_delay_;
  log::write(disconnected_ ? log::Level::Warning : log::Level::Critical, logger_,
             std::string("Consumer encountered a connection error: ") + error.what());
  log::write(log::Level::Info, logger_, "Reconnecting in " + seconds_text(reconnect_delay_) + " seconds.");
  disconnected_ = true;
}

std::shared_ptr<MessageProxy> RedisConsumer::deliver(Fetched fetched) {
  auto proxy = decode_delivery(queue_, std::move(fetched.data), std::move(fetched.id));
  unsettled_ += 1;
  return proxy;
}

void RedisConsumer::ack(MessageProxy& message) {
  if (auto host = context_.host_ack.load()) {
    (*host)(queue_, message.receipt);  // a throw leaves it unsettled
  } else {
    settler_.ack(queue_, message.receipt);
  }
  unsettled_ -= 1;
}

void RedisConsumer::nack(MessageProxy& message) {
  if (auto host = context_.host_nack.load()) {
    (*host)(queue_, message.receipt);
  } else {
    settler_.nack(queue_, message.receipt);
  }
  unsettled_ -= 1;
}

void RedisConsumer::enqueue_and_ack(const Message& message, MessageProxy& delivered) {
  std::vector<std::string> arguments{delivered.receipt, message.queue_name};
  add_enqueue_arguments(message, arguments);
  // A pooled connection: the consumer's own may be waiting for a wake-up.
  auto lease = context_.pool().acquire();
  Reply moved = context_.run(*lease, Operation::MoveDue, queue_, std::move(arguments));
  if (moved.integer == 0) {
    log::write(log::Level::Warning, logger_,
               "Delayed message " + message.describe() +
                   " was handed to another worker (this one missed its heartbeat); that worker moves it.");
  }
  context_.held().remove(queue_, {delivered.receipt});
  unsettled_ -= 1;
}

void RedisConsumer::requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) {
  std::vector<std::string> ids;
  for (const auto& message : messages) ids.push_back(message->receipt);
  unsettled_ -= static_cast<int>(messages.size());
  std::lock_guard lock(mutex_);
  requeue_ids(std::move(ids));
}

void RedisConsumer::requeue_ids(std::vector<std::string> ids) {
  if (ids.empty()) return;
  std::size_t count = ids.size();
  try {
    if (connection_ && connection_->healthy()) {
      context_.run(*connection_, Operation::Requeue, queue_, ids);
    } else {
      auto lease = context_.pool().acquire();
      context_.run(*lease, Operation::Requeue, queue_, ids);
    }
    context_.held().remove(queue_, ids);
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_,
               "Could not requeue " + std::to_string(count) + " message(s) on queue '" + queue_ +
                   "': " + e.what() + ". They return to the queue after the heartbeat timeout.");
  }
}

void RedisConsumer::close() {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  closed_ = true;
  std::vector<std::string> unstarted;
  for (auto& fetched : buffer_) unstarted.push_back(std::move(fetched.id));
  buffer_.clear();
  buffered_ = 0;
  requeue_ids(std::move(unstarted));
  settler_.flush(kSettleOnCloseTimeout);
  connection_.reset();
  subscription_.reset();
  settler_.consumer_closed();
}

}  // namespace dramatiq::redis
