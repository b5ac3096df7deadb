// Message encoders. JSON is native; hosts plug in their own (the Python
// bindings wrap any Python Encoder subclass).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "dramatiq/errors.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

// The largest encoded message that brokers send and workers accept:
// RabbitMQ's default max_message_size (128 MiB), so a message that one
// broker carries every other one carries too. Beyond it a producer gets
// MessageTooLarge, and a worker dead-letters the delivery without
// decoding it (docs/reliability.md).
inline constexpr std::size_t kMaxMessageBytes = std::size_t{128} << 20;

// An encoded message bigger than kMaxMessageBytes.
class MessageTooLarge : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Throws JsonEncodeError (or a host error) for values it cannot encode.
  virtual std::string encode(const Message& message) = 0;
  // Throws DecodeError with the reason.
  virtual Message decode(std::string_view data) = 0;
  // Any value (what result backends store). Throw as encode/decode do.
  virtual std::string encode_value(const Value& value) = 0;
  virtual Value decode_value(std::string_view data) = 0;
};

// Upstream's JSONEncoder wire format, byte for byte.
class JsonEncoder : public Encoder {
 public:
  std::string encode(const Message& message) override;
  Message decode(std::string_view data) override;
  std::string encode_value(const Value& value) override;
  Value decode_value(std::string_view data) override;
};

// The process-wide encoder used by brokers (defaults to JsonEncoder).
std::shared_ptr<Encoder> get_encoder();
void set_encoder(std::shared_ptr<Encoder> encoder);

// What brokers store: get_encoder()->encode(message), or MessageTooLarge
// when that is bigger than kMaxMessageBytes.
std::string encode_for_broker(const Message& message);
// The reason a delivery of `size` bytes is refused unread, or empty.
std::string oversized_delivery_reason(std::size_t size);

}  // namespace dramatiq
