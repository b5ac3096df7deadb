// Typed actors for C++ programs: a plain function or lambda becomes an actor
// whose arguments are converted from the message's JSON (convert.hpp), and
// a typed handle sends messages to it.
//
//   auto add = dramatiq::actor(broker, "add", [](int a, int b) { return a + b; },
//                              {.queue = "math", .max_retries = 3});
//   auto message = add.send(1, 2);
//   int sum = message.get_result(std::chrono::seconds(10));   // needs Results
//
// An actor that another program (Python, say) defines is reached with an
// ActorRef of the same signature, which sends without declaring a body.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dramatiq/actor.hpp"
#include "dramatiq/broker.hpp"
#include "dramatiq/convert.hpp"
#include "dramatiq/failure.hpp"
#include "dramatiq/message.hpp"
#include "dramatiq/result_backend.hpp"

namespace dramatiq {

namespace detail {
template <typename... Ts>
class ExceptionTypes : public ExceptionClasses {
 public:
  std::string type_name() const override {
    std::string names;
    ((names += (names.empty() ? "" : ", ") + demangled_name(typeid(Ts))), ...);
    return "exception_types<" + names + ">";
  }
  bool matches(const std::exception_ptr& error) const override { return (caught_as<Ts>(error) || ...); }

 private:
  template <typename T>
  static bool caught_as(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const T&) {
      return true;
    } catch (...) {
      return false;
    }
  }
};
}  // namespace detail

// C++ exception classes as a `throws` value: a failure whose exception is
// one of Ts (or derives from one) is not retried.
template <typename... Ts>
Value exception_types() {
  return Value(ForeignPtr(std::make_shared<detail::ExceptionTypes<Ts...>>()));
}

// The exceptions an actor lets fail without retrying (`throws`): class names
// as failures are named (demangled: "std::invalid_argument"), or C++ classes
// matched with their subclasses (exception_types<...>()).
class Throws {
 public:
  Throws() = default;
  Throws(std::initializer_list<std::string> names) {
    Array items(names.begin(), names.end());
    value_ = Value(std::move(items));
  }
  Throws(Value classes) : value_(std::move(classes)) {}
  const Value& value() const { return value_; }

 private:
  Value value_;
};

// Decides whether a failed message is retried (`retry_when`): called with
// how many times it was retried so far and what it threw. A failure that
// was no C++ exception (a Retry, a Python one) arrives with a null error().
using RetryWhen = std::function<bool(std::int64_t retries, const CaughtException& error)>;

// An actor's options. Unset ones take the broker's middleware defaults, as
// for Python actors. Durations are milliseconds on the wire.
struct ActorOptions {
  std::string queue = "default";
  int priority = 0;  // lower runs first
  std::optional<std::int64_t> max_retries;
  std::optional<std::chrono::milliseconds> min_backoff;
  std::optional<std::chrono::milliseconds> max_backoff;
  Throws throws;
  RetryWhen retry_when;
  std::optional<std::chrono::milliseconds> time_limit;
  std::optional<std::chrono::milliseconds> max_age;
  std::optional<bool> notify_shutdown;
  std::optional<bool> store_results;  // needs the Results middleware
  std::optional<std::chrono::milliseconds> result_ttl;
  std::optional<std::string> on_success;  // actor names (Callbacks)
  std::optional<std::string> on_failure;
  std::optional<std::string> on_retry_exhausted;
  Object extra;  // any other option, by its wire name

  // The options object the engine keeps on the actor.
  Value to_value() const;
};

// Per-message options for send_with_options / message_with_options.
struct SendOptions {
  std::optional<std::chrono::milliseconds> delay;
  std::optional<std::string> queue;  // another queue for this message (declared on demand)
  Object options;                    // message options by wire name, e.g. {"max_retries", 0}
};

// The Results middleware's backend on `broker`; throws std::logic_error
// when the broker has no Results middleware.
std::shared_ptr<ResultBackend> result_backend_of(const Broker& broker);

// A message built (and maybe sent) for an actor returning R.
template <typename R>
class TypedMessage {
 public:
  TypedMessage(std::shared_ptr<Broker> broker, Message message)
      : broker_(std::move(broker)), message_(std::move(message)) {}
  const Message& message() const { return message_; }
  operator const Message&() const { return message_; }
  const std::string& message_id() const { return message_.message_id; }
  Broker& broker() const { return *broker_; }

  // The actor's result, waiting up to `timeout` for it. Throws ResultTimeout
  // when none came in time, ResultFailure when the actor failed for good,
  // ConversionError when the result is not an R.
  R get_result(std::chrono::milliseconds timeout) const {
    return convert(result_backend_of(*broker_)->get_result(message_, true, timeout));
  }
  // The result if it is there already; throws ResultMissing otherwise.
  R get_result() const { return convert(result_backend_of(*broker_)->get_result(message_, false)); }

 private:
  static R convert(const Value& value) {
    if constexpr (std::is_void_v<R>) {
      (void)value;
    } else {
      return from_value<R>(value);
    }
  }
  std::shared_ptr<Broker> broker_;
  Message message_;
};

template <typename Signature>
class ActorRef;

// A typed handle to an actor by name, defined here or by another program:
// builds and sends its messages with arguments converted to JSON.
template <typename R, typename... Args>
class ActorRef<R(Args...)> {
 public:
  // `options.queue` says where its messages go; the other options matter
  // only to the worker that runs the actor.
  ActorRef(std::shared_ptr<Broker> broker, std::string actor_name, ActorOptions options = {})
      : broker_(std::move(broker)), actor_name_(std::move(actor_name)), options_(std::move(options)) {}

  const std::string& actor_name() const { return actor_name_; }
  const std::string& queue_name() const { return options_.queue; }
  const std::shared_ptr<Broker>& broker() const { return broker_; }

  // A message for these arguments, not sent (for pipelines and groups).
  TypedMessage<R> message(const Args&... args) const { return message_with_options({}, args...); }
  TypedMessage<R> message_with_options(const SendOptions& send, const Args&... args) const {
    Array values;
    values.reserve(sizeof...(Args));
    (values.push_back(to_value<Args>(args)), ...);
    Value options = Value::object();
    for (const auto& [name, value] : send.options) options.set(name, value);
    if (send.delay) options.set("delay", static_cast<std::int64_t>(send.delay->count()));
    return TypedMessage<R>(broker_, Message::create(send.queue.value_or(options_.queue), actor_name_,
                                                    Value(std::move(values)), Value::object(),
                                                    std::move(options)));
  }
  // Sends a message with these arguments; returns it (for get_result).
  TypedMessage<R> send(const Args&... args) const { return send_with_options({}, args...); }
  TypedMessage<R> send_with_options(const SendOptions& send, const Args&... args) const {
    TypedMessage<R> built = message_with_options(send, args...);
    return TypedMessage<R>(broker_, broker_->enqueue(built.message()));
  }

 protected:
  const ActorOptions& options() const { return options_; }

 private:
  std::shared_ptr<Broker> broker_;
  std::string actor_name_;
  ActorOptions options_;
};

namespace detail {

// The parameter and return types of a function, lambda or function object.
template <typename F>
struct signature_of : signature_of<decltype(std::function{std::declval<F>()})> {};
template <typename R, typename... Args>
struct signature_of<std::function<R(Args...)>> {
  using type = R(std::decay_t<Args>...);
};

template <typename T>
inline constexpr bool is_optional_v = false;
template <typename T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

// "actor 'add' argument 1: " for error messages.
std::string argument_context(const std::string& actor_name, std::size_t index);
[[noreturn]] void throw_argument_count(const std::string& actor_name, std::size_t expected,
                                       std::size_t required, std::size_t given);
[[noreturn]] void throw_keyword_arguments(const std::string& actor_name, const Object& kwargs);

template <typename T>
T argument(const std::string& actor_name, const Array& args, std::size_t index) {
  static const Value missing;
  try {
    return from_value<T>(index < args.size() ? args[index] : missing);
  } catch (const ConversionError& e) {
    throw ArgumentError(argument_context(actor_name, index) + e.what());
  }
}

// Runs a typed function on a message: converts the arguments (failing the
// message with an ArgumentError when they do not fit), calls it, converts
// its result.
template <typename R, typename... Args>
class TypedBody : public ActorBody {
 public:
  TypedBody(std::string actor_name, std::function<R(Args...)> fn)
      : actor_name_(std::move(actor_name)), fn_(std::move(fn)) {}

  Value run(MessageProxy& proxy) override {
    const Array& args = proxy.message.args.as_array();
    const Object& kwargs = proxy.message.kwargs.as_object();
    if (!kwargs.empty()) throw_keyword_arguments(actor_name_, kwargs);
    constexpr std::size_t count = sizeof...(Args);
    if (args.size() > count || args.size() < required()) {
      throw_argument_count(actor_name_, count, required(), args.size());
    }
    return call(args, std::index_sequence_for<Args...>{});
  }

 private:
  // Trailing std::optional parameters may be left out of the message.
  static constexpr std::size_t required() {
    constexpr bool optional[] = {is_optional_v<Args>..., false};
    std::size_t n = sizeof...(Args);
    while (n > 0 && optional[n - 1]) --n;
    return n;
  }
  template <std::size_t... I>
  Value call(const Array& args, std::index_sequence<I...>) {
    // Converted first, each in its own statement order (braced init is left to right).
    std::tuple<Args...> values{argument<Args>(actor_name_, args, I)...};
    if constexpr (std::is_void_v<R>) {
      std::apply(fn_, std::move(values));
      return Value();
    } else {
      return to_value<R>(std::apply(fn_, std::move(values)));
    }
  }

  std::string actor_name_;
  std::function<R(Args...)> fn_;
};

}  // namespace detail

// An actor defined by this program: declared on the broker with its body,
// so a Worker on that broker runs it; sends like an ActorRef.
template <typename Signature>
class TypedActor;

template <typename R, typename... Args>
class TypedActor<R(Args...)> : public ActorRef<R(Args...)> {
 public:
  // Declares the actor (throws std::invalid_argument for a bad name, queue
  // or an option no middleware of the broker knows, as upstream does).
  TypedActor(std::shared_ptr<Broker> broker, std::string actor_name, std::function<R(Args...)> fn,
             ActorOptions options = {})
      : ActorRef<R(Args...)>(std::move(broker), std::move(actor_name), std::move(options)) {
    auto declared = std::make_shared<Actor>();
    declared->actor_name = this->actor_name();
    declared->queue_name = this->options().queue;
    declared->priority = this->options().priority;
    declared->options = this->options().to_value();
    declared->body = std::make_shared<detail::TypedBody<R, Args...>>(this->actor_name(), std::move(fn));
    this->broker()->declare_actor(declared);
    actor_ = std::move(declared);
  }
  const std::shared_ptr<Actor>& declared() const { return actor_; }

 private:
  std::shared_ptr<Actor> actor_;
};

// Declares an actor from a function or lambda with typed parameters.
template <typename F>
auto actor(std::shared_ptr<Broker> broker, std::string actor_name, F&& fn, ActorOptions options = {}) {
  using Signature = typename detail::signature_of<std::decay_t<F>>::type;
  return TypedActor<Signature>(std::move(broker), std::move(actor_name), std::forward<F>(fn),
                               std::move(options));
}

}  // namespace dramatiq
