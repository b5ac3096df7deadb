#include "dramatiq/typed_actor.hpp"

#include <stdexcept>

#include "dramatiq/results.hpp"

namespace dramatiq {

namespace {
// retry_when as the engine calls it: (retries, exception) from Retries.
class RetryPredicate : public ForeignObject {
 public:
  explicit RetryPredicate(RetryWhen predicate) : predicate_(std::move(predicate)) {}
  std::string type_name() const override { return "retry_when"; }
  Value call(const Array& args) const override {
    std::int64_t retries = args.size() > 0 && args[0].is_int() ? args[0].as_int() : 0;
    const CaughtException* caught = nullptr;
    if (args.size() > 1 && args[1].is_foreign()) {
      caught = dynamic_cast<const CaughtException*>(args[1].as_foreign().get());
    }
    if (caught) return Value(predicate_(retries, *caught));
    // Not a C++ exception (Retry, or a host exception): no error object.
    std::string text = args.size() > 1 && args[1].is_string() ? args[1].as_string() : "";
    return Value(predicate_(retries, CaughtException(nullptr, "", text)));
  }

 private:
  RetryWhen predicate_;
};

std::int64_t millis(std::chrono::milliseconds d) { return static_cast<std::int64_t>(d.count()); }
}  // namespace

Value ActorOptions::to_value() const {
  Value out = Value::object();
  if (max_retries) out.set("max_retries", *max_retries);
  if (min_backoff) out.set("min_backoff", millis(*min_backoff));
  if (max_backoff) out.set("max_backoff", millis(*max_backoff));
  if (!throws.value().is_null()) out.set("throws", throws.value());
  if (retry_when) out.set("retry_when", Value(ForeignPtr(std::make_shared<RetryPredicate>(retry_when))));
  if (time_limit) out.set("time_limit", millis(*time_limit));
  if (max_age) out.set("max_age", millis(*max_age));
  if (notify_shutdown) out.set("notify_shutdown", *notify_shutdown);
  if (store_results) out.set("store_results", *store_results);
  if (result_ttl) out.set("result_ttl", millis(*result_ttl));
  if (on_success) out.set("on_success", *on_success);
  if (on_failure) out.set("on_failure", *on_failure);
  if (on_retry_exhausted) out.set("on_retry_exhausted", *on_retry_exhausted);
  for (const auto& [name, value] : extra) out.set(name, value);
  return out;
}

std::shared_ptr<ResultBackend> result_backend_of(const Broker& broker) {
  for (const auto& middleware : *broker.middleware()) {
    if (auto* results = dynamic_cast<const Results*>(middleware.get())) return results->backend;
  }
  throw std::logic_error("The broker doesn't have a results backend (add the Results middleware).");
}

namespace detail {

std::string argument_context(const std::string& actor_name, std::size_t index) {
  return "actor '" + actor_name + "' argument " + std::to_string(index) + ": ";
}

void throw_argument_count(const std::string& actor_name, std::size_t expected, std::size_t required,
                          std::size_t given) {
  std::string takes = required == expected ? std::to_string(expected)
                                           : std::to_string(required) + " to " + std::to_string(expected);
  throw ArgumentError("actor '" + actor_name + "' takes " + takes + " argument" +
                      (expected == 1 && required == expected ? "" : "s") + ", the message has " +
                      std::to_string(given));
}

void throw_keyword_arguments(const std::string& actor_name, const Object& kwargs) {
  throw ArgumentError("actor '" + actor_name + "' takes no keyword arguments (C++ parameters have no names), the message has '" +
                      kwargs.front().first + "'");
}

}  // namespace detail
}  // namespace dramatiq
