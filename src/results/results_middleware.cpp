#include "dramatiq/broker.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/results.hpp"

namespace dramatiq {

namespace {

constexpr const char* kLogger = "dramatiq.results.middleware.Results";

Failure named_failure(std::string type_name, std::string message) {
  Failure failure;
  failure.type_name = std::move(type_name);
  failure.message = std::move(message);
  return failure;
}

// Why a result could not be stored, named as a Python user would know it.
Failure storage_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const JsonEncodeError& e) {
    return named_failure("TypeError", e.what());
  } catch (const BrokerConnectionError& e) {
    return named_failure("ConnectionError", e.what());
  } catch (const HostException& e) {
    return e.failure();
  } catch (const std::exception& e) {
    return named_failure("ResultError", e.what());
  }
}

std::string describe(const MessageProxy& message) {
  return message.message.message_id + " (" + message.message.actor_name + ")";
}

}  // namespace

Results::Settings Results::settings_for(Broker& broker, const MessageProxy& message) const {
  // As upstream: a message option wins when present (even when false),
  // then the actor's option, then this middleware's default.
  auto actor = message.actor ? message.actor : broker.find_actor(message.message.actor_name);
  if (!actor) return {};
  auto lookup = [&](std::string_view name) -> const Value* {
    if (const Value* v = message.message.options.find(name)) return v;
    return actor->options.find(name);
  };
  Settings settings{store_results, result_ttl};
  if (const Value* v = lookup("store_results")) settings.store = truthy(*v);
  if (const Value* v = lookup("result_ttl"); v && v->is_number()) {
    settings.ttl = static_cast<std::int64_t>(v->as_number());
  }
  return settings;
}

void Results::after_process_message(Broker& broker, MessageProxy& message, const Value* result,
                                    const Failure* failure) {
  Settings settings = settings_for(broker, message);
  if (settings.store && failure && failure->is_cancellation) {
    backend->store_exception(message.message, *failure, settings.ttl);  // acked: no after_nack
    return;
  }
  if (settings.store && !failure) {
    try {
      backend->store_result(message.message, result ? *result : Value(), settings.ttl);
    } catch (...) {
      // Upstream only logs here and acks, leaving callers to time out.
      // Failing the message instead dead-letters it, and after_nack stores
      // the reason, so get_result() raises ResultFailure explaining it.
      Failure why = storage_failure(std::current_exception());
      log::write(log::Level::Error, kLogger,
                 "Failed to store the result of message " + describe(message) + ": " + why.message, &why);
      message.failure = why;
      message.fail();
    }
    return;
  }
  if (!settings.store && result && !result->is_null() && !message.message.options.contains("pipe_target")) {
    log::write(log::Level::Warning, kLogger,
               "Actor '" + message.message.actor_name +
                   "' returned a value that is not None, but you haven't set its `store_results' "
                   "option to `True' so the value has been discarded.");
  }
}

void Results::after_skip_message(Broker& broker, MessageProxy& message) {
  // A skipped message that did not fail has None as its result (a
  // cancelled one, its Cancelled failure); one that failed gets its
  // failure stored by after_nack.
  Settings settings = settings_for(broker, message);
  if (!settings.store || message.failed) return;
  if (message.cancelled && message.failure) {
    backend->store_exception(message.message, *message.failure, settings.ttl);
  } else {
    backend->store_result(message.message, Value(), settings.ttl);
  }
}

void Results::after_nack(Broker& broker, MessageProxy& message) {
  Settings settings = settings_for(broker, message);
  if (!settings.store || !message.failed) return;
  Failure failure = message.failure ? *message.failure : named_failure("Exception", "unknown");
  backend->store_exception(message.message, failure, settings.ttl);
}

}  // namespace dramatiq
