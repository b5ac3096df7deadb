#include "worker/message_runner.hpp"

#include "dramatiq/errors.hpp"
#include "dramatiq/interrupt.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/this_message.hpp"

namespace dramatiq {

namespace {
constexpr const char* kWorkerThreadLogger = "dramatiq.worker.WorkerThread";
}

void run_message(Broker& broker, MessageProxy& message) {
  clear_pending_interrupt();
  this_message::Scope current(&message);
  std::shared_ptr<Actor> actor;
  try {
    broker.emit_before("before_process_message",
                       [&](Middleware& m) { m.before_process_message(broker, message); });
    Value result;
    if (!message.failed) {
      actor = broker.actor_of(message);
      result = actor->body->run(message);
      if (!result.is_null() && !message.message.options.contains("pipe_target") &&
          !broker.keeps_results()) {
        log::write(log::Level::Warning, kWorkerThreadLogger,
                   "Actor '" + actor->actor_name +
                       "' returned a value that is not None, and you haven't added the Results "
                       "middleware to the broker, so the value has been discarded. Consider adding "
                       "the Results middleware to your broker or piping the result into another "
                       "actor.");
      }
    }
    message.result = std::move(result);
    broker.emit_after("after_process_message", [&](Middleware& m) {
      m.after_process_message(broker, message, &message.result, nullptr);
    });
  } catch (const SkipMessage& e) {
    if (message.failed) message.failure = Failure::from_exception(std::current_exception());
    log::write(log::Level::Warning, kWorkerThreadLogger, "Message %s was skipped.",
               {message.message.describe()});
    broker.emit_after("after_skip_message",
                      [&](Middleware& m) { m.after_skip_message(broker, message); });
  } catch (...) {
    message.failure = Failure::from_exception(std::current_exception());
    const Failure& failure = *message.failure;
    const Value* throws = message.message.options.find("throws");
    if ((!throws || throws->is_null()) && actor) throws = actor->options.find("throws");
    if (failure.is_cancellation) {
      log::write(log::Level::Info, kWorkerThreadLogger, "Message %s was cancelled while it ran.",
                 {message.message.describe()});
    } else if (failure.is_rate_limit_exceeded) {
      log::write(log::Level::Debug, kWorkerThreadLogger, "Rate limit exceeded in message %s: %s.",
                 {message.message.describe(), failure.message});
    } else if (throws && !throws->is_null() && failure.matches(*throws)) {
      log::write(log::Level::Info, kWorkerThreadLogger,
                 "Failed to process message %s with expected exception %s.",
                 {message.message.describe(), failure.type_name});
    } else if (!failure.is_retry) {
      log::write(log::Level::Error, kWorkerThreadLogger,
                 "Failed to process message %s with unhandled exception.",
                 {message.message.describe()}, &failure);
    }
    broker.emit_after("after_process_message", [&](Middleware& m) {
      m.after_process_message(broker, message, nullptr, &failure);
    });
  }
}

void skip_cancelled(Broker& broker, MessageProxy& message) {
  message.cancelled = true;
  Failure failure{"Cancelled", "the message was cancelled before it ran", {}, nullptr, false, std::nullopt, false};
  failure.is_cancellation = true;
  message.failure = std::move(failure);
  log::write(log::Level::Info, kWorkerThreadLogger, "Message %s was cancelled: skipped.",
             {message.message.describe()});
  broker.emit_after("after_skip_message", [&](Middleware& m) { m.after_skip_message(broker, message); });
}

}  // namespace dramatiq
