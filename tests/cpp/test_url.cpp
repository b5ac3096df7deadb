// The URL reader every broker maps its options from (src/core/url.hpp),
// with the cases each broker relies on.
#include <gtest/gtest.h>

#include "core/url.hpp"

using namespace dramatiq;

namespace {
constexpr UrlSyntax kRabbitmq{.user_info = UrlSyntax::UserInfo::kInAuthority, .form_encoded_query = true};
constexpr UrlSyntax kRedis{.user_info = UrlSyntax::UserInfo::kToLastAt};
constexpr UrlSyntax kSqlite{.user_info = UrlSyntax::UserInfo::kNone};
}  // namespace

TEST(Url, SchemeIsTheTextBeforeTheSeparator) {
  EXPECT_EQ(url_scheme("amqps://h"), "amqps");
  EXPECT_EQ(url_scheme("REDIS://h"), "redis");  // schemes are case-insensitive
  EXPECT_EQ(url_scheme("redis:/h"), "");
  EXPECT_EQ(url_scheme("host:6379"), "");
  EXPECT_EQ(url_scheme("://h"), "");
  EXPECT_EQ(parse_url("sqlite:/x://y").scheme, "sqlite:/x");
}

TEST(Url, WithoutSeparatorNothingIsRead) {
  ParsedUrl parsed = parse_url("user:secret@host:5672/vh?heartbeat=5");
  EXPECT_EQ(parsed.scheme, "");
  EXPECT_FALSE(parsed.username);
  EXPECT_EQ(parsed.location, "");
  EXPECT_TRUE(parsed.query.empty());
}

TEST(Url, EveryPart) {
  ParsedUrl parsed = parse_url("amqp://us%40r:p%3Ass@rabbit.example:5673/my%2Fvhost?heartbeat=5&x=a%26b");
  EXPECT_EQ(parsed.scheme, "amqp");
  EXPECT_EQ(parsed.username, "us@r");
  EXPECT_EQ(parsed.password, "p:ss");
  EXPECT_EQ(parsed.location, "rabbit.example:5673/my%2Fvhost");
  EXPECT_FALSE(parsed.fragment);
  UrlEndpoint endpoint = parsed.endpoint();
  EXPECT_EQ(endpoint.host, "rabbit.example");
  EXPECT_EQ(endpoint.port, "5673");
  EXPECT_EQ(endpoint.path, "/my%2Fvhost");  // each broker decodes its path its own way
  ASSERT_EQ(parsed.query.size(), 2u);
  EXPECT_EQ(parsed.query[0].name, "heartbeat");
  EXPECT_EQ(parsed.query[0].value, "5");
  EXPECT_EQ(parsed.query[1].value, "a&b");
}

TEST(Url, UserInformation) {
  // A user alone, a password alone, an empty user information.
  ParsedUrl user = parse_url("redis://worker@host");
  EXPECT_EQ(user.username, "worker");
  EXPECT_FALSE(user.password);
  ParsedUrl password = parse_url("redis://:secret@host");
  EXPECT_EQ(password.username, "");
  EXPECT_EQ(password.password, "secret");
  ParsedUrl empty = parse_url("redis://@host");
  EXPECT_EQ(empty.username, "");
  EXPECT_FALSE(empty.password);
  EXPECT_EQ(empty.location, "host");
  // The first ':' separates the two; later ones and an unescaped '@' are the password's.
  ParsedUrl colons = parse_url("amqp://u:a:b@c@host/vh");
  EXPECT_EQ(colons.username, "u");
  EXPECT_EQ(colons.password, "a:b@c");
  EXPECT_EQ(colons.location, "host/vh");
  EXPECT_FALSE(parse_url("redis://host:6379/0").username);
}

TEST(Url, WhereTheUserInformationEnds) {
  // In the authority (pika): a '@' in the path is the path's.
  ParsedUrl rabbitmq = parse_url("amqp://host/v@h", kRabbitmq);
  EXPECT_FALSE(rabbitmq.username);
  EXPECT_EQ(rabbitmq.endpoint().path, "/v@h");
  // At the last '@' (Redis): a password may hold a '/'.
  ParsedUrl redis = parse_url("rediss://default:p@ss/w:rd@host:7000/2", kRedis);
  EXPECT_EQ(redis.username, "default");
  EXPECT_EQ(redis.password, "p@ss/w:rd");
  EXPECT_EQ(redis.endpoint().host, "host");
  EXPECT_EQ(redis.endpoint().path, "/2");
  ParsedUrl socket = parse_url("unix://user:pw@/run/redis.sock?db=3", kRedis);
  EXPECT_EQ(socket.password, "pw");
  EXPECT_EQ(socket.location, "/run/redis.sock");
  // None (a file): '@' and ':' are the path's.
  ParsedUrl sqlite = parse_url("sqlite://me@host:1/q.db", kSqlite);
  EXPECT_FALSE(sqlite.username);
  EXPECT_EQ(sqlite.location, "me@host:1/q.db");
}

TEST(Url, Hosts) {
  UrlEndpoint ipv6 = parse_url("redis://[::1]:6390/1").endpoint();
  EXPECT_EQ(ipv6.host, "::1");
  EXPECT_EQ(ipv6.port, "6390");
  EXPECT_EQ(ipv6.path, "/1");
  UrlEndpoint bare_ipv6 = parse_url("amqp://[fe80::1%25eth0]/vh").endpoint();
  EXPECT_EQ(bare_ipv6.host, "fe80::1%eth0");
  EXPECT_FALSE(bare_ipv6.port);
  EXPECT_THROW(parse_url("redis://[::1:6379").endpoint(), InvalidUrl);
  // The port is after the last ':', and may be empty or not a number: the broker decides.
  UrlEndpoint empty_port = parse_url("amqp://h:/vh").endpoint();
  EXPECT_EQ(empty_port.host, "h");
  EXPECT_EQ(empty_port.port, "");
  EXPECT_EQ(parse_url("redis://h:notaport").endpoint().port, "notaport");
  EXPECT_EQ(parse_url("redis://a:b:6379").endpoint().host, "a:b");
  UrlEndpoint defaults = parse_url("redis://").endpoint();
  EXPECT_EQ(defaults.host, "");
  EXPECT_FALSE(defaults.port);
  EXPECT_EQ(defaults.path, "");
  EXPECT_EQ(parse_url("redis://h/").endpoint().path, "/");
  EXPECT_EQ(parse_url("redis://my%2Dhost").endpoint().host, "my-host");
}

TEST(Url, FragmentBeforeTheQuery) {
  // The query is everything after the first '?'; a '#' before it ends the location.
  ParsedUrl parsed = parse_url("sqlite:///tmp/a#b.db?durable=1", kSqlite);
  EXPECT_EQ(parsed.location, "/tmp/a");
  EXPECT_EQ(parsed.fragment, "b.db");
  ASSERT_EQ(parsed.query.size(), 1u);
  EXPECT_EQ(parsed.query[0].value, "1");
  EXPECT_EQ(parse_url("redis://h?db=1#x").query[0].value, "1#x");
}

TEST(Url, QueryParameters) {
  ParsedUrl parsed = parse_url("redis://h?a=1&&flag&b=&c=x=y&d%5F=%2B+");
  ASSERT_EQ(parsed.query.size(), 5u);
  EXPECT_EQ(parsed.query[0].name, "a");
  EXPECT_TRUE(parsed.query[0].has_value);
  EXPECT_EQ(parsed.query[1].name, "flag");  // the empty pair is skipped
  EXPECT_FALSE(parsed.query[1].has_value);
  EXPECT_EQ(parsed.query[1].value, "");
  EXPECT_TRUE(parsed.query[2].has_value);
  EXPECT_EQ(parsed.query[2].value, "");
  EXPECT_EQ(parsed.query[3].value, "x=y");
  EXPECT_EQ(parsed.query[4].name, "d_");
  EXPECT_EQ(parsed.query[4].value, "++");  // '+' is itself, unless form-encoded
  ParsedUrl form = parse_url("amqp://h?client+name=a+b%2B", kRabbitmq);
  EXPECT_EQ(form.query[0].name, "client name");
  EXPECT_EQ(form.query[0].value, "a b+");
}

TEST(Url, PercentDecoding) {
  EXPECT_EQ(percent_decode("a%2Fb%2fc"), "a/b/c");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");  // not an escape: kept
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%41"), "A");
  EXPECT_EQ(percent_decode("%00x").size(), 2u);
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
}
