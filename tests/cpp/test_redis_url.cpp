// Redis connection URLs, read as redis-py reads them.
#include <gtest/gtest.h>

#include <stdexcept>

#include "dramatiq/redis_broker.hpp"

using dramatiq::RedisConnectionOptions;

TEST(RedisUrl, HostPortAndDatabase) {
  auto o = RedisConnectionOptions::from_url("redis://example.org:6380/4");
  EXPECT_EQ(o.host, "example.org");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 4);
  EXPECT_FALSE(o.tls);
  EXPECT_FALSE(o.password.has_value());
  EXPECT_FALSE(o.username.has_value());
}

TEST(RedisUrl, SchemeIsCaseInsensitiveAsRedisPyReadsIt) {
  EXPECT_FALSE(RedisConnectionOptions::from_url("REDIS://h:6380").tls);
  EXPECT_EQ(RedisConnectionOptions::from_url("REDIS://h:6380").port, 6380);
  EXPECT_TRUE(RedisConnectionOptions::from_url("Rediss://h").tls);
}

TEST(RedisUrl, DefaultsWhenOmitted) {
  auto o = RedisConnectionOptions::from_url("redis://");
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
}

TEST(RedisUrl, PasswordAloneAndPercentEncoding) {
  auto o = RedisConnectionOptions::from_url("redis://:p%40ss%3Aword@127.0.0.1:1234/0");
  EXPECT_FALSE(o.username.has_value());
  EXPECT_EQ(o.password.value(), "p@ss:word");
  EXPECT_EQ(o.port, 1234);
}

TEST(RedisUrl, AclUserAndPassword) {
  auto o = RedisConnectionOptions::from_url("redis://worker:secret@host/2");
  EXPECT_EQ(o.username.value(), "worker");
  EXPECT_EQ(o.password.value(), "secret");
  EXPECT_EQ(o.db, 2);
}

TEST(RedisUrl, TlsSchemeAndOptions) {
  auto o = RedisConnectionOptions::from_url(
      "rediss://h:7000?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem");
  EXPECT_TRUE(o.tls);
  EXPECT_FALSE(o.tls_verify_peer);
  EXPECT_EQ(o.tls_ca_file, "/ca.pem");
  EXPECT_EQ(o.tls_cert_file, "/c.pem");
  EXPECT_EQ(o.tls_key_file, "/k.pem");
}

TEST(RedisUrl, UnixSocketWithDatabaseQuery) {
  auto o = RedisConnectionOptions::from_url("unix:///run/redis/redis.sock?db=3&password=pw");
  EXPECT_EQ(o.unix_socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(o.db, 3);
  EXPECT_EQ(o.password.value(), "pw");
  EXPECT_EQ(o.describe(), "/run/redis/redis.sock");
}

TEST(RedisUrl, TimeoutsInSeconds) {
  auto o = RedisConnectionOptions::from_url("redis://h?socket_timeout=1.5&socket_connect_timeout=2");
  EXPECT_EQ(o.socket_timeout.value().count(), 1500);
  EXPECT_EQ(o.connect_timeout.value().count(), 2000);
}

TEST(RedisUrl, Ipv6Host) {
  auto o = RedisConnectionOptions::from_url("redis://[::1]:6390/1");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 6390);
  EXPECT_EQ(o.db, 1);
}

TEST(RedisUrl, PasswordMayHoldAnUnescapedSlash) {
  auto o = RedisConnectionOptions::from_url("redis://default:pa/ss@w:rd@host:6390/1");
  EXPECT_EQ(o.username.value(), "default");
  EXPECT_EQ(o.password.value(), "pa/ss@w:rd");
  EXPECT_EQ(o.host, "host");
  EXPECT_EQ(o.port, 6390);
  EXPECT_EQ(o.db, 1);
}

TEST(RedisUrl, UnixSocketPathIsEverythingAfterTheUserInformation) {
  auto o = RedisConnectionOptions::from_url("unix://:pw@run/redis%20x:1.sock");
  EXPECT_EQ(o.password.value(), "pw");
  EXPECT_EQ(o.unix_socket_path, "run/redis x:1.sock");
}

TEST(RedisUrl, ErrorsSayWhatIsWrong) {
  auto message_of = [](const char* url) {
    try {
      RedisConnectionOptions::from_url(url);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(message_of("redis://[::1:6379"), "Invalid IPv6 host in Redis URL");
  EXPECT_EQ(message_of("redis://h:"), "Invalid port for Redis: ''");
  EXPECT_EQ(message_of("redis://h/x"), "Invalid db for Redis: 'x'");
  EXPECT_EQ(message_of("redis://h?colour=red"), "Unsupported Redis connection parameter 'colour'");
}

TEST(RedisUrl, RejectsBadInput) {
  EXPECT_THROW(RedisConnectionOptions::from_url("http://host"), std::invalid_argument);
  EXPECT_THROW(RedisConnectionOptions::from_url("host:6379"), std::invalid_argument);
  EXPECT_THROW(RedisConnectionOptions::from_url("redis://host:notaport"), std::invalid_argument);
  EXPECT_THROW(RedisConnectionOptions::from_url("redis://host/x"), std::invalid_argument);
  EXPECT_THROW(RedisConnectionOptions::from_url("redis://host?bogus=1"), std::invalid_argument);
  EXPECT_THROW(RedisConnectionOptions::from_url("unix://"), std::invalid_argument);
}
