#include <algorithm>
#include <cmath>
#include <random>

#include "core/saturating.hpp"
#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
constexpr const char* kLogger = "dramatiq.middleware.retries.Retries";

double uniform(double low, double high) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(low, high)(generator);
}

std::int64_t int_option(const Value& v, std::int64_t fallback) {
  if (v.is_int()) return v.as_int();
  return v.is_number() ? saturating_int64(v.as_number(), fallback) : fallback;
}
}  // namespace

std::int64_t compute_backoff(std::int64_t attempts, std::int64_t factor, std::int64_t max_backoff) {
  double backoff = static_cast<double>(factor) * std::pow(2.0, std::min<std::int64_t>(attempts, 32));
  backoff = std::floor(backoff * uniform(1, 2));
  if (backoff > static_cast<double>(max_backoff)) {
    backoff = std::floor(static_cast<double>(max_backoff) * uniform(0.5, 1));
  }
  // A negative factor (a producer's min_backoff) means no wait.
  return saturating_int64(std::max(backoff, 0.0), 0);
}

void Retries::after_process_message(Broker& broker, MessageProxy& proxy, const Value*,
                                    const Failure* failure) {
  // A cancelled message is not retried (nor failed: it is acked).
  if (!failure || failure->is_cancellation) return;
  auto actor = broker.actor_of(proxy);
  Value& options = proxy.message.options;
  Value throws = message_or_actor_option(proxy, *actor, "throws", Value());
  if (!throws.is_null() && failure->matches(throws)) {
    log::write(log::Level::Info, kLogger, "Aborting message %r.", {proxy.message.message_id});
    proxy.fail();
    return;
  }
  std::int64_t retries = options.get_int("retries", 0);
  options.set("retries", saturating_add(retries, 1));
  options.set("traceback", failure->traceback.empty()
                               ? failure->type_name + ": " + failure->message
                               : failure->traceback);
  options.set("requeue_timestamp", current_millis());

  Value limit = max_retries;
  if (const Value* v = options.find("max_retries")) {
    limit = *v;
  } else if (const Value* v = actor->options.find("max_retries")) {
    limit = *v;
  }
  Value predicate = retry_when;
  if (const Value* v = actor->options.find("retry_when")) predicate = *v;

  bool exhausted;
  if (predicate.is_foreign()) {
    Value exception = failure->host_exception ? Value(failure->host_exception) : Value(failure->message);
    Value verdict = predicate.as_foreign()->call(Array{Value(retries), exception});
    exhausted = !(verdict.is_bool() ? verdict.as_bool() : !verdict.is_null());
  } else {
    exhausted = limit.is_number() && static_cast<double>(retries) >= limit.as_number();
  }

  if (exhausted) {
    log::write(log::Level::Warning, kLogger, "Retries exceeded for message %r.",
               {proxy.message.message_id});
    proxy.fail();
    Value target = message_or_actor_option(proxy, *actor, "on_retry_exhausted", Value());
    if (target.is_string()) {
      auto callback = broker.get_actor(target.as_string());
      Object details{{"retries", retries}, {"max_retries", limit}};
      send_to_actor(broker, *callback, Array{proxy.message.to_value(), Value(std::move(details))});
    }
    return;
  }

  std::int64_t delay;
  if (failure->is_retry && failure->retry_delay) {
    delay = *failure->retry_delay;
  } else {
    // Unlike most options, a backoff set on the message wins whenever present.
    auto backoff_option = [&](const char* name, std::int64_t fallback) {
      if (const Value* v = options.find(name)) return int_option(*v, fallback);
      if (const Value* v = actor->options.find(name)) return int_option(*v, fallback);
      return fallback;
    };
    std::int64_t low = backoff_option("min_backoff", min_backoff);
    std::int64_t high = backoff_option("max_backoff", max_backoff);
    delay = compute_backoff(retries, low, std::min(high, kDefaultMaxBackoff));
  }
  log::write(log::Level::Info, kLogger, "Retrying message %r in %d milliseconds.",
             {proxy.message.message_id, static_cast<std::int64_t>(delay)});
  broker.enqueue(proxy.message, delay);
}

}  // namespace dramatiq
