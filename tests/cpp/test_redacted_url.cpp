// No password in a message: URLs are shown with their password replaced,
// including in the errors for URLs the brokers refuse.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "dramatiq/rabbitmq_options.hpp"
#include "dramatiq/redacted_url.hpp"
#include "dramatiq/sqlite_broker.hpp"

using namespace dramatiq;

TEST(RedactedUrl, ReplacesThePassword) {
  EXPECT_EQ(redacted_url("amqp://user:s3cr3t@host:5672/vh?heartbeat=5"), "amqp://user:***@host:5672/vh?heartbeat=5");
  EXPECT_EQ(redacted_url("redis://:s3cr3t@localhost:6379/0"), "redis://:***@localhost:6379/0");
  EXPECT_EQ(redacted_url("rediss://default:p@ss/w:rd@host"), "rediss://default:***@host");
  // A bare user information may be a password (redis://secret@host).
  EXPECT_EQ(redacted_url("redis://s3cr3t@host"), "redis://***@host");
  // A missing "//" is a typo, not a reason to show the password.
  EXPECT_EQ(redacted_url("redis:user:s3cr3t@host"), "redis:user:***@host");
}

TEST(RedactedUrl, LeavesUrlsWithoutCredentialsAlone) {
  EXPECT_EQ(redacted_url("redis://localhost:6379/0"), "redis://localhost:6379/0");
  EXPECT_EQ(redacted_url("amqp://host/vh?x=a@b"), "amqp://host/vh?x=a@b");
  EXPECT_EQ(redacted_url("sqlite:///var/lib/broker.sqlite3"), "sqlite:///var/lib/broker.sqlite3");
  EXPECT_EQ(redacted_url(""), "");
}

TEST(RedactedUrl, RefusedUrlsDoNotShowThePassword) {
  auto message_of = [](auto&& parse) {
    try {
      parse();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  std::string rabbitmq = message_of([] { RabbitmqConnectionOptions::from_url("amqpx://user:s3cr3t@host"); });
  EXPECT_NE(rabbitmq.find("amqpx://user:***@host"), std::string::npos) << rabbitmq;
  std::string sqlite = message_of([] { SQLiteBrokerOptions::from_url("redis://:s3cr3t@host"); });
  EXPECT_NE(sqlite.find("redis://:***@host"), std::string::npos) << sqlite;
  EXPECT_EQ(rabbitmq.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(sqlite.find("s3cr3t"), std::string::npos);
}
