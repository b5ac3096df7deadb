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

TEST(RabbitmqUrl, SchemeIsCaseInsensitiveAsPikaReadsIt) {
  EXPECT_TRUE(RabbitmqConnectionOptions::from_url("AMQPS://h").tls);
  EXPECT_FALSE(RabbitmqConnectionOptions::from_url("Amqp://h").tls);
}

TEST(RabbitmqUrl, RefusesOtherSchemesAndBadValues) {
  EXPECT_THROW(RabbitmqConnectionOptions::from_url("redis://h"), std::invalid_argument);
  EXPECT_THROW(RabbitmqConnectionOptions::from_url("amqp://h:port"), std::invalid_argument);
  RabbitmqConnectionOptions options;
  EXPECT_THROW(options.set_option("heartbeat", "-1"), std::invalid_argument);
  EXPECT_THROW(options.set_option("no_such_thing", "1"), RabbitmqConnectionOptions::UnknownOption);
}

TEST(RabbitmqUrl, UserInformationEndsInTheAuthority) {
  // As pika (urllib.parse) reads it: a '@' after the first '/' is the vhost's.
  auto options = RabbitmqConnectionOptions::from_url("amqp://u:p%2Fw@h/v@h?heartbeat=7");
  EXPECT_EQ(options.username, "u");
  EXPECT_EQ(options.password, "p/w");
  EXPECT_EQ(options.host, "h");
  EXPECT_EQ(options.virtual_host, "v@h");
  auto user_only = RabbitmqConnectionOptions::from_url("amqp://bob@h");
  EXPECT_EQ(user_only.username, "bob");
  EXPECT_EQ(user_only.password, "");
}

TEST(RabbitmqUrl, HostsAndPorts) {
  auto ipv6 = RabbitmqConnectionOptions::from_url("amqps://[::1]:5999/");
  EXPECT_EQ(ipv6.host, "::1");
  EXPECT_EQ(ipv6.port, 5999);
  EXPECT_EQ(ipv6.virtual_host, "/");
  EXPECT_EQ(RabbitmqConnectionOptions::from_url("amqp://h:/vh").port, 5672);  // an empty port is the default
  try {
    RabbitmqConnectionOptions::from_url("amqp://[::1/vh");
    FAIL() << "accepted an unclosed IPv6 host";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Invalid IPv6 host in RabbitMQ URL");
  }
}

TEST(RabbitmqUrl, QueryValuesAreFormEncoded) {
  auto options = RabbitmqConnectionOptions::from_url("amqp://h?ssl_ca_certs=/etc/my+ca%2B.pem");
  EXPECT_EQ(options.tls_ca_file, "/etc/my ca+.pem");
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
