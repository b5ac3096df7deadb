#include "redis/cancellations.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

#include "core/integer_text.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq::redis {

namespace {
constexpr const char* kLogger = "dramatiq.broker.RedisBroker";
constexpr auto kReconnectDelay = std::chrono::milliseconds(500);
}  // namespace

std::string cancelled_key(const std::string& key_namespace) { return key_namespace + ":__cancelled__"; }
std::string cancellations_channel(const std::string& key_namespace) { return key_namespace + ":__cancellations__"; }

void record_cancellation(BrokerContext& context, const std::string& message_id, std::int64_t expires_ms) {
  const std::string key = cancelled_key(context.key_namespace());
  auto connection = context.pool().acquire();
  auto replies = connection->pipeline({
      {"MULTI"},
      {"ZREMRANGEBYSCORE", key, "-inf", std::to_string(current_millis())},
      {"ZADD", key, "GT", std::to_string(expires_ms), message_id},
      {"PUBLISH", cancellations_channel(context.key_namespace()), message_id + " " + std::to_string(expires_ms)},
      {"EXEC"},
  });
  for (const auto& reply : replies) check(reply);
  if (replies.back().is_nil()) throw ConnectionClosed("Redis did not run the cancellation's transaction");
}

RedisCancellationWatch::RedisCancellationWatch(BrokerContext& context, CancellationCallback callback)
    : context_(context), callback_(std::move(callback)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  try {
    subscribe_and_load();
  } catch (const BrokerConnectionError& e) {
    // The thread keeps trying; messages fetched meanwhile are not checked.
    log::write(log::Level::Warning, kLogger, std::string("Could not watch cancellations yet: ") + e.what());
    subscription_.reset();
  }
  thread_ = std::thread([this] { run(); });
}

RedisCancellationWatch::~RedisCancellationWatch() {
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

void RedisCancellationWatch::subscribe_and_load() {
  auto subscription = context_.pool().open();
  subscription->send({"SUBSCRIBE", cancellations_channel(context_.key_namespace())});
  auto confirmation = subscription->read(std::chrono::seconds(10));
  if (!confirmation || confirmation->is_error()) {
    throw ConnectionFailed("Redis did not confirm the subscription to cancellations");
  }
  auto connection = context_.pool().acquire();
  std::string after_now = "(";  // exclusive: what expires now is over
  after_now.append(std::to_string(current_millis()));
  Reply in_force = connection->call(
      {"ZRANGEBYSCORE", cancelled_key(context_.key_namespace()), after_now, "+inf", "WITHSCORES"});
  check(in_force);
  for (std::size_t i = 0; i + 1 < in_force.elements.size(); i += 2) {
    auto expiry = parse_int64(in_force.elements[i + 1].str);
    if (expiry) callback_(in_force.elements[i].str, *expiry);
  }
  subscription_ = std::move(subscription);
}

void RedisCancellationWatch::run() {
  while (!stopping_) {
    try {
      if (!subscription_) {
        subscribe_and_load();
        log::write(log::Level::Info, kLogger, "Watching cancellations again.");
      }
      auto message = subscription_->read(std::chrono::seconds(1), wake_fd_);
      if (!message) continue;
      // ["message", channel, "<id> <expiry>"]
      if (message->elements.size() != 3 || message->elements[0].str != "message") continue;
      const std::string& payload = message->elements[2].str;
      auto space = payload.rfind(' ');
      if (space == std::string::npos) continue;
      auto expiry = parse_int64(std::string_view(payload).substr(space + 1));
      if (expiry) callback_(payload.substr(0, space), *expiry);
    } catch (const std::exception& e) {
      if (stopping_) break;
      log::write(log::Level::Warning, kLogger, std::string("Lost the watch on cancellations: ") + e.what());
      subscription_.reset();
      pollfd woken{wake_fd_, POLLIN, 0};
      ::poll(&woken, 1, static_cast<int>(kReconnectDelay.count()));  // ends early when stopping
    }
  }
}

}  // namespace dramatiq::redis
