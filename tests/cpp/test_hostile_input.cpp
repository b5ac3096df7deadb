// The documented limits on hostile input (docs/reliability.md): a delivery
// over the maximum message size, nested past kMaxJsonDepth, not UTF-8, or
// with an integer the engine cannot hold where it needs one, is
// dead-lettered with its reason logged, and the worker goes on; integers
// beyond 64 bits travel intact; a repeated key keeps its last value, as
// json.loads does. A producer cannot send what a worker would refuse.
#include <gtest/gtest.h>

#include <string>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;

namespace {

std::string message_with_args(const std::string& args_json) {
  return R"({"queue_name":"default","actor_name":"ok","args":)" + args_json +
         R"(,"kwargs":{},"options":{},"message_id":"m","message_timestamp":1})";
}

class HostileInput : public ::testing::Test {
 protected:
  // Runs a worker over `raw` deliveries followed by one good message;
  // returns the dead letters' decode errors in order.
  std::vector<std::string> dead_letter_reasons(const std::vector<std::string>& raw) {
    broker->declare_actor(make_actor("ok", [this](const Array& args, const Object&) {
      seen.push_back(args);
      return Value();
    }));
    for (const auto& data : raw) broker->put_raw("default", data);
    broker->enqueue(make_message("ok", {"last"}));
    Worker worker(broker, WorkerOptions{std::nullopt, 50, 1});
    worker.start();
    EXPECT_TRUE(broker->join("default", {.timeout = kLongWait}));
    worker.stop();
    std::vector<std::string> reasons;
    for (const auto& letter : broker->dead_letters()) {
      reasons.push_back(letter.message->decode_error.value_or("(decoded)"));
    }
    return reasons;
  }

  void expect_logged(const std::string& reason) {
    bool found = false;
    for (const auto& record : logs.matching(log::Level::Error, "Received an undecodable message")) {
      found = found || (record.message + (record.failure ? record.failure->message : "")).find(reason) !=
                           std::string::npos;
    }
    EXPECT_TRUE(found) << "no error log line gives the reason: " << reason;
  }

  LogCapture logs;
  std::shared_ptr<StubBroker> broker = std::make_shared<StubBroker>();
  std::vector<Array> seen;
};

}  // namespace

TEST_F(HostileInput, OversizedDeliveryIsDeadLetteredUnread) {
  std::string giant = message_with_args("[\"" + std::string(kMaxMessageBytes, 'x') + "\"]");
  auto reasons = dead_letter_reasons({giant});
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("more than the maximum message size (134217728 bytes)"), std::string::npos)
      << reasons[0];
  expect_logged("maximum message size");
  ASSERT_EQ(seen.size(), 1u);  // the worker went on
  EXPECT_EQ(broker->dead_letters()[0].message->raw.size(), giant.size());
}

TEST_F(HostileInput, MessageAtTheSizeLimitIsAccepted) {
  std::string body = message_with_args("[\"\"]");
  std::string fits = message_with_args("[\"" + std::string(kMaxMessageBytes - body.size(), 'x') + "\"]");
  ASSERT_EQ(fits.size(), kMaxMessageBytes);
  EXPECT_TRUE(dead_letter_reasons({fits}).empty());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].at(0).as_string().size(), kMaxMessageBytes - body.size());
}

TEST_F(HostileInput, ProducerCannotSendAnOversizedMessage) {
  Message message = make_message("ok", {std::string(kMaxMessageBytes, 'x')});
  EXPECT_THROW(broker->enqueue(message), MessageTooLarge);
  EXPECT_EQ(broker->queue_size("default"), 0u);
}

TEST_F(HostileInput, TooDeepDeliveryIsDeadLettered) {
  std::string deep = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  std::string deeper = "[" + deep + "]";
  auto reasons = dead_letter_reasons({message_with_args(deeper), message_with_args(deep)});
  // args is already one level inside the message object.
  ASSERT_EQ(reasons.size(), 2u);
  for (const auto& reason : reasons) EXPECT_NE(reason.find("Maximum nesting depth of 1000 exceeded"), std::string::npos) << reason;
  expect_logged("Maximum nesting depth");
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(HostileInput, DeepestAcceptedNestingRunsTheActor) {
  // The message object is level 1 and args level 2: 998 more fit.
  std::string args = std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']');
  EXPECT_TRUE(dead_letter_reasons({message_with_args(args)}).empty());
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(HostileInput, InvalidUtf8IsDeadLettered) {
  auto reasons = dead_letter_reasons({message_with_args("[\"\xff\"]"), message_with_args("[\"\xed\xa0\x80\"]")});
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("Invalid UTF-8 byte 0xff"), std::string::npos) << reasons[0];
  // A raw (unescaped) surrogate is not UTF-8 either; only the escaped form is JSON.
  EXPECT_NE(reasons[1].find("Invalid UTF-8 byte 0xed"), std::string::npos) << reasons[1];
  expect_logged("Invalid UTF-8");
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(HostileInput, IntegersBeyond64BitsTravelIntact) {
  const std::string big = "123456789012345678901234567890123456789";
  EXPECT_TRUE(dead_letter_reasons({message_with_args("[" + big + ",-" + big + ",18446744073709551616]")}).empty());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].at(0).as_bigint().digits, big);
  EXPECT_EQ(seen[0].at(1).as_bigint().digits, "-" + big);
  EXPECT_EQ(seen[0].at(2).as_bigint().digits, "18446744073709551616");
  // And they are written back digit for digit.
  EXPECT_EQ(to_json(Value(seen[0])), "[" + big + ",-" + big + ",18446744073709551616]");
}

TEST_F(HostileInput, TimestampBeyond64BitsIsDeadLetteredByName) {
  std::string raw = R"({"queue_name":"default","actor_name":"ok","args":[],"kwargs":{},"options":{},)"
                    R"("message_id":"m","message_timestamp":99999999999999999999})";
  auto reasons = dead_letter_reasons({raw});
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("'message_timestamp' must be a number of milliseconds, not an integer outside the "
                            "64-bit range"),
            std::string::npos)
      << reasons[0];
}

TEST_F(HostileInput, RepeatedKeysKeepTheLastValueAsJsonLoads) {
  std::string raw = R"({"queue_name":"default","actor_name":"ghost","actor_name":"ok","args":[1],"args":[2],)"
                    R"("kwargs":{},"options":{},"message_id":"m","message_timestamp":1})";
  EXPECT_TRUE(dead_letter_reasons({raw}).empty());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].at(0).as_int(), 2);
}

