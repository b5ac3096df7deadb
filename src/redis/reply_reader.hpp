// RESP bytes from a Redis server -> Reply values, through hiredis's reader.
// Split from the connection so that the bytes-to-replies path can be fed
// without a socket (tests/fuzz/fuzz_redis_reply.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct redisReader;

namespace dramatiq::redis {

struct Reply {
  enum class Type { Nil, Status, Error, Integer, String, Array };
  Type type = Type::Nil;
  long long integer = 0;
  std::string str;  // String, Status and Error payloads
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::Error; }
  bool is_nil() const { return type == Type::Nil; }
};

// Bytes that are not RESP: the connection they came from is unusable.
class ReplyProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Buffers what a server sent and cuts it into replies.
// Arrays announcing more elements than this are refused before anything
// is allocated for them (hiredis allocates the element table at the
// header: "*2000000000" would ask for 16 GB). The engine's largest reply,
// a consumer's set of unacknowledged ids, is bounded by its prefetch.
inline constexpr int kMaxReplyElements = 1 << 20;

class ReplyReader {
 public:
  ReplyReader();
  // Not moved: hiredis keeps a pointer to refused_elements_.
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;
  void feed(const char* data, std::size_t size);
  // The next complete reply, or nullopt until more bytes arrive. Throws
  // ReplyProtocolError (and keeps throwing) once the bytes are not RESP.
  std::optional<Reply> next();

 private:
  struct Deleter {
    void operator()(redisReader* reader) const;
  };
  std::unique_ptr<redisReader, Deleter> reader_;
  long long refused_elements_ = 0;  // set by the array check through the reader's privdata
};

// What a fetch script replied, split into messages: it returns a flat
// array of (redis message id, message data) pairs, where the data is nil
// for an id whose message was missing from the queue's hash.
struct FetchedMessage {
  std::string id;
  std::string data;
};
struct FetchReply {
  std::vector<FetchedMessage> messages;
  std::vector<std::string> ids_without_data;
};
// Throws ConnectionClosed for a reply of another shape (not our script's
// answer): the consumer reconnects, and its reconnection returns whatever
// that fetch took to the queue (RedisConsumer::return_strays).
FetchReply split_fetch_reply(Reply reply);

}  // namespace dramatiq::redis
