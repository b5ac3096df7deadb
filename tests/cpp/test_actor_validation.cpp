// Broker::declare_actor rejects a bad actor for a C++ caller, with the same
// errors (std::invalid_argument, upstream's messages) Python's @actor raises.
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/stub_broker.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

using namespace dramatiq;

namespace {

std::shared_ptr<Actor> actor_named(std::string actor_name, std::string queue_name = "default",
                                   Value options = Value::object()) {
  auto actor = std::make_shared<Actor>();
  actor->actor_name = std::move(actor_name);
  actor->queue_name = std::move(queue_name);
  actor->options = std::move(options);
  actor->body = std::make_shared<FunctionBody>([](const Array&, const Object&) { return Value(); });
  return actor;
}

// The message of the std::invalid_argument `declare` throws ("" if none).
template <typename Declare>
std::string rejection(Declare&& declare) {
  try {
    declare();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ActorValidation, RejectsAnInvalidQueueName) {
  auto broker = std::make_shared<StubBroker>();
  for (const char* queue : {"1starts-with-a-digit", "has space", "", "a/b"}) {
    EXPECT_EQ(rejection([&] { broker->declare_actor(actor_named("f", queue)); }),
              "Queue names must start with a letter or an underscore followed by any number of "
              "letters, digits, dashes or underscores.")
        << queue;
  }
  EXPECT_TRUE(broker->get_declared_actors().empty());
  EXPECT_TRUE(broker->get_declared_queues().empty());
}

TEST(ActorValidation, AcceptsUpstreamsQueueNames) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_actor(actor_named("f", "_a.b-c9"));
  EXPECT_EQ(broker->get_declared_queues().count("_a.b-c9"), 1u);
}

TEST(ActorValidation, RejectsAnEmptyActorName) {
  auto broker = std::make_shared<StubBroker>();
  EXPECT_EQ(rejection([&] { broker->declare_actor(actor_named("")); }), "Actor names must not be empty.");
  EXPECT_TRUE(broker->get_declared_actors().empty());
}

TEST(ActorValidation, RejectsAnOptionNoMiddlewareDeclares) {
  auto broker = std::make_shared<StubBroker>();
  broker->add_middleware(std::make_shared<Retries>());
  EXPECT_EQ(rejection([&] {
              broker->declare_actor(actor_named("f", "default", Value(Object{{"max_retries", 1}, {"max_age", 10}})));
            }),
            "The following actor options are undefined: max_age. Did you forget to add a middleware to "
            "your Broker?");
  EXPECT_TRUE(broker->get_declared_actors().empty());
  // Once a middleware declares it, the option is accepted.
  broker->add_middleware(std::make_shared<AgeLimit>());
  broker->declare_actor(actor_named("f", "default", Value(Object{{"max_retries", 1}, {"max_age", 10}})));
  EXPECT_EQ(broker->get_declared_actors().size(), 1u);
}

}  // namespace
