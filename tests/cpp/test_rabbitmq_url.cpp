// RabbitMQ connection URLs and parameters, read as pika reads them.
#include <gtest/gtest.h>

#include "dramatiq/rabbitmq_options.hpp"

using namespace dramatiq;
using namespace std::chrono_literals;

TEST(RabbitmqUrl, DefaultsMatchPika) {
  auto options = RabbitmqConnectionOptions::from_url("amqp://");
  EXPECT_EQ(options.host, "localhost");
  EXPECT_EQ(options.port, 5672);
  EXPECT_EQ(options.virtual_host, "/");
  EXPECT_EQ(options.username, "guest");
  EXPECT_EQ(options.password, "guest");
  EXPECT_FALSE(options.tls);
}

TEST(RabbitmqUrl, ReadsEveryPart) {
  auto options = RabbitmqConnectionOptions::from_url(
      "amqp://us%40r:p%3Ass@rabbit.example:5673/my%2Fvhost?heartbeat=5&connection_attempts=3&retry_delay=0.5"
      "&socket_timeout=2&blocked_connection_timeout=30&unknown=ignored");
  EXPECT_EQ(options.username, "us@r");
  EXPECT_EQ(options.password, "p:ss");
  EXPECT_EQ(options.host, "rabbit.example");
  EXPECT_EQ(options.port, 5673);
  EXPECT_EQ(options.virtual_host, "my/vhost");
  EXPECT_EQ(options.heartbeat, 5);
  EXPECT_EQ(options.connection_attempts, 3);
  EXPECT_EQ(options.retry_delay, 500ms);
  EXPECT_EQ(options.socket_timeout, 2000ms);
  EXPECT_EQ(options.blocked_connection_timeout, std::optional(30000ms));
}

TEST(RabbitmqUrl, EncodedSlashIsTheDefaultVhost) {
  EXPECT_EQ(RabbitmqConnectionOptions::from_url("amqp://h/%2f").virtual_host, "/");
  EXPECT_EQ(RabbitmqConnectionOptions::from_url("amqp://h/%2F").virtual_host, "/");
}

TEST(RabbitmqUrl, AmqpsUsesTlsAndItsPort) {
  auto options = RabbitmqConnectionOptions::from_url("amqps://h");
  EXPECT_TRUE(options.tls);
  EXPECT_EQ(options.port, 5671);
}

TEST(RabbitmqUrl, RefusesOtherSchemesAndBadValues) {
  EXPECT_THROW(RabbitmqConnectionOptions::from_url("redis://h"), std::invalid_argument);
  EXPECT_THROW(RabbitmqConnectionOptions::from_url("amqp://h:port"), std::invalid_argument);
  RabbitmqConnectionOptions options;
  EXPECT_THROW(options.set_option("heartbeat", "-1"), std::invalid_argument);
  EXPECT_THROW(options.set_option("no_such_thing", "1"), RabbitmqConnectionOptions::UnknownOption);
}

TEST(RabbitmqBrokerOptions, MaxPriorityMustBeWithinAmqpsRange) {
  RabbitmqBrokerOptions options;
  options.max_priority = 0;
  EXPECT_THROW(options.validate(), std::invalid_argument);
  options.max_priority = 256;
  EXPECT_THROW(options.validate(), std::invalid_argument);
  options.max_priority = 255;
  EXPECT_NO_THROW(options.validate());
}
