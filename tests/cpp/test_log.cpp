// Log records keep their format and arguments; text() formats them as
// Python's `format % args` does, for what the engine logs.
#include <gtest/gtest.h>

#include "dramatiq/log.hpp"
#include "test_support.hpp"

namespace dramatiq {
namespace {

std::string format(std::string_view text, std::initializer_list<log::Arg> args) {
  return log::format_text(text, std::span<const log::Arg>(args.begin(), args.size()));
}

TEST(Log, FormatsLikePythonsPercentOperator) {
  EXPECT_EQ(format("Retrying message %r in %d milliseconds.", {std::string("abc"), std::int64_t{250}}),
            "Retrying message 'abc' in 250 milliseconds.");
  EXPECT_EQ(format("Rate limit exceeded in message %s: %s.", {std::string("f(1)"), std::string("too many")}),
            "Rate limit exceeded in message f(1): too many.");
  EXPECT_EQ(format("Restarting consumer in %0.2f seconds.", {3.0}), "Restarting consumer in 3.00 seconds.");
  EXPECT_EQ(format("thread %r", {std::int64_t{42}}), "thread 42");
  EXPECT_EQ(format("%r", {std::string("it's")}), "\"it's\"");
  EXPECT_EQ(format("100%% of %s", {std::string("it")}), "100% of it");
}

TEST(Log, TextWithoutArgumentsIsTakenLiterally) {
  EXPECT_EQ(format("50% done %s", {}), "50% done %s");
}

TEST(Log, SinksGetTheFormatAndItsArguments) {
  testing::LogCapture logs;
  log::write(log::Level::Warning, "dramatiq.test", "Message %r has exceeded its age limit.",
             {std::string("id-1")});
  auto records = logs.matching(log::Level::Warning, "age limit");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].format, "Message %r has exceeded its age limit.");
  EXPECT_EQ(records[0].message, "Message 'id-1' has exceeded its age limit.");
}

}  // namespace
}  // namespace dramatiq
