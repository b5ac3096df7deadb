// Message encoders. JSON is native; hosts plug in their own (the Python
// bindings wrap any Python Encoder subclass).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "dramatiq/message.hpp"

namespace dramatiq {

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

}  // namespace dramatiq
