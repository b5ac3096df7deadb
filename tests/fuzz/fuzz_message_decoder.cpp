// Messages, both ways. The first input byte picks the direction:
//  - even: the rest is a delivery's bytes. JsonEncoder::decode either throws
//    DecodeError or returns a message that encodes, and whose encoding
//    decodes and encodes to the same bytes; a delivery that does not decode
//    keeps its bytes for the dead letter.
//  - odd: the rest is a small program that builds a message's args (any
//    value the C++ API can hold: foreign objects, non-UTF-8 strings, NaN,
//    big integers, nesting past the limit). Encoding either succeeds (and
//    then decodes) or throws JsonEncodeError / JsonNestingError.
#include <memory>
#include <string>
#include <vector>

#include "dramatiq/consumer.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "fuzz_support.hpp"

using namespace dramatiq;
using dramatiq::fuzz::Input;
using dramatiq::fuzz::invariant_failed;

namespace {

class Opaque : public ForeignObject {
 public:
  std::string type_name() const override { return "Opaque"; }
};

// Exposes the protected Consumer::decode_delivery, which every broker uses.
struct Decoding : Consumer {
  using Consumer::decode_delivery;
};

Message decode_ours(JsonEncoder& encoder, const std::string& encoded) {
  try {
    return encoder.decode(encoded);
  } catch (const DecodeError& e) {
    invariant_failed("a message we encoded does not decode", encoded + "\n" + e.what());
  }
}

// The C++ API can hold what JSON cannot say the same way twice (an object
// with a repeated key: decoding keeps the last; a non-UTF-8 string: written
// as U+FFFD), so the encoding is compared from the first decoded message
// on, where it must be stable.
void check_round_trip(JsonEncoder& encoder, const Message& message) {
  Message decoded = decode_ours(encoder, encoder.encode(message));
  FUZZ_CHECK(decoded.message_id == message.message_id, decoded.message_id);
  FUZZ_CHECK(decoded.message_timestamp == message.message_timestamp, decoded.message_id);
  const std::string encoded = encoder.encode(decoded);
  FUZZ_CHECK(encoder.encode(decode_ours(encoder, encoded)) == encoded, encoded);
  static_cast<void>(decoded.describe());
}

void decode_delivery(std::string_view bytes) {
  JsonEncoder encoder;
  Message message;
  try {
    message = encoder.decode(bytes);
  } catch (const DecodeError&) {
    auto proxy = Decoding::decode_delivery("default", std::string(bytes), "receipt");
    FUZZ_CHECK(proxy->decode_error.has_value(), bytes);
    FUZZ_CHECK(proxy->raw == bytes, bytes);
    FUZZ_CHECK(proxy->message.queue_name == "default", bytes);
    return;
  }
  check_round_trip(encoder, message);
}

std::string digits(Input& in) {
  std::string out = (in.byte() & 1) ? "-" : "";
  std::string body = in.bytes(60);
  out.push_back(static_cast<char>('1' + static_cast<unsigned char>(body.empty() ? 0 : body[0]) % 9));
  for (std::size_t i = 1; i < body.size(); ++i) {
    out.push_back(static_cast<char>('0' + static_cast<unsigned char>(body[i]) % 10));
  }
  return out;
}

// Stack machine: each op adds a value to the innermost open container, or
// opens / closes one. Whatever is open at the end is closed.
Value build_args(Input& in) {
  struct Open {
    Value container;
  };
  std::vector<Open> stack;
  stack.push_back({Value::array()});
  auto add = [&](Value v) {
    Value& top = stack.back().container;
    if (top.is_array()) {
      top.as_array().push_back(std::move(v));
    } else {
      top.as_object().emplace_back(in.bytes(8), std::move(v));
    }
  };
  int deep_values = 0;
  for (int ops = 0; !in.empty() && ops < 256; ++ops) {
    switch (in.byte() % 12) {
      case 0: add(Value()); break;
      case 1: add(Value(static_cast<bool>(in.byte() & 1))); break;
      case 2: add(Value(in.number<std::int64_t>())); break;
      case 3: add(Value(in.number<double>())); break;  // any bits: NaN, inf, subnormal
      case 4: add(Value(in.bytes(24))); break;          // any bytes, UTF-8 or not
      case 5: add(Value(BigInt{digits(in)})); break;
      case 6: add(Value(ForeignPtr(std::make_shared<Opaque>()))); break;
      case 7:
        if (stack.size() < 64) stack.push_back({Value::array()});
        break;
      case 8:
        if (stack.size() < 64) stack.push_back({Value::object()});
        break;
      case 9:
        if (stack.size() > 1) {
          Value done = std::move(stack.back().container);
          stack.pop_back();
          add(std::move(done));
        }
        break;
      case 10: {
        // Nesting around the limit from either side (twice at most: each
        // costs a thousand containers).
        if (deep_values++ >= 2) break;
        int depth = kMaxJsonDepth - 8 + in.byte() % 16;
        Value v = Value::array();
        for (int i = 1; i < depth; ++i) v = Value(Array{std::move(v)});
        add(std::move(v));
        break;
      }
      case 11: add(Value(std::string(in.bytes(4)) + "\xed\xb0\x80")); break;  // a lone surrogate (WTF-8)
    }
  }
  while (stack.size() > 1) {
    Value done = std::move(stack.back().container);
    stack.pop_back();
    add(std::move(done));
  }
  return std::move(stack.back().container);
}

void encode_built(Input& in) {
  JsonEncoder encoder;
  Message message = Message::create("default", "actor", Value::array(), Value::object(), Value::object());
  message.args = build_args(in);
  message.message_timestamp = in.number<std::int64_t>();
  static_cast<void>(message.describe());  // a log line never throws
  try {
    static_cast<void>(encoder.encode(message));
  } catch (const JsonEncodeError&) {
    return;
  } catch (const JsonNestingError&) {
    return;
  }
  check_round_trip(encoder, message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  if (in.byte() % 2 == 0) {
    decode_delivery(in.rest());
  } else {
    encode_built(in);
  }
  return 0;
}
