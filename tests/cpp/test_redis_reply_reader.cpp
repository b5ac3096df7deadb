// The Redis reply reader (src/redis/reply_reader.hpp) on what a server, or
// something posing as one, may send.
#include <gtest/gtest.h>

#include <string>

#include "redis/reply_reader.hpp"

using dramatiq::redis::kMaxReplyElements;
using dramatiq::redis::Reply;
using dramatiq::redis::ReplyProtocolError;
using dramatiq::redis::ReplyReader;

TEST(RedisReplyReader, NestedArraysAndScalars) {
  ReplyReader reader;
  std::string bytes = "*3\r\n$2\r\nid\r\n:42\r\n*2\r\n+OK\r\n$-1\r\n";
  reader.feed(bytes.data(), bytes.size());
  auto reply = reader.next();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type, Reply::Type::Array);
  ASSERT_EQ(reply->elements.size(), 3u);
  EXPECT_EQ(reply->elements[0].str, "id");
  EXPECT_EQ(reply->elements[1].integer, 42);
  EXPECT_EQ(reply->elements[2].elements[0].str, "OK");
  EXPECT_TRUE(reply->elements[2].elements[1].is_nil());
  EXPECT_FALSE(reader.next());
}

TEST(RedisReplyReader, AnArrayAnnouncingMoreElementsThanTheLimitIsRefusedBeforeItIsAllocated) {
  // hiredis would allocate 16 GB for this header alone (found by fuzz_redis_reply).
  ReplyReader reader;
  std::string bytes = "*2000000000\r\n$1\r\nx\r\n";
  reader.feed(bytes.data(), bytes.size());
  try {
    reader.next();
    ADD_FAILURE() << "the header was accepted";
  } catch (const ReplyProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("an array of 2000000000 elements, more than the " +
                                         std::to_string(kMaxReplyElements)),
              std::string::npos)
        << e.what();
  }
  // At the limit, the header is read and the reply waits for its elements.
  ReplyReader at_limit;
  std::string header = "*" + std::to_string(kMaxReplyElements) + "\r\n";
  at_limit.feed(header.data(), header.size());
  EXPECT_FALSE(at_limit.next());
}
