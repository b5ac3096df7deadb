#include <atomic>
#include <mutex>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"

namespace dramatiq {

std::string JsonEncoder::encode(const Message& message) {
  // Written field by field (not via Message::to_value) so encoding a message
  // copies nothing but the output bytes.
  // args, kwargs and options are one level down, inside the envelope.
  constexpr int kInsideEnvelope = 1;
  std::string out;
  out.reserve(160);
  out += "{\"queue_name\":";
  write_json(Value(std::string_view(message.queue_name)), out);
  out += ",\"actor_name\":";
  write_json(Value(std::string_view(message.actor_name)), out);
  out += ",\"args\":";
  write_json(message.args, out, kInsideEnvelope);
  out += ",\"kwargs\":";
  write_json(message.kwargs, out, kInsideEnvelope);
  out += ",\"options\":";
  write_json(message.options, out, kInsideEnvelope);
  out += ",\"message_id\":";
  write_json(Value(std::string_view(message.message_id)), out);
  out += ",\"message_timestamp\":";
  out += std::to_string(message.message_timestamp);
  out += '}';
  return out;
}

Message JsonEncoder::decode(std::string_view data) {
  Value fields;
  try {
    fields = read_json(data);
  } catch (const JsonDecodeError& e) {
    throw DecodeError(std::string("Failed to decode message: ") + e.what());
  }
  return Message::from_value(std::move(fields));
}

std::string JsonEncoder::encode_value(const Value& value) { return to_json(value); }

Value JsonEncoder::decode_value(std::string_view data) {
  try {
    return read_json(data);
  } catch (const JsonDecodeError& e) {
    throw DecodeError(std::string("Failed to decode value: ") + e.what());
  }
}

namespace {
std::mutex encoder_mutex;
std::shared_ptr<Encoder>& encoder_slot() {
  static std::shared_ptr<Encoder> encoder = std::make_shared<JsonEncoder>();
  return encoder;
}
}  // namespace

std::string oversized_delivery_reason(std::size_t size) {
  if (size <= kMaxMessageBytes) return {};
  return "Failed to decode message: it is " + std::to_string(size) +
         " bytes long, more than the maximum message size (" + std::to_string(kMaxMessageBytes) + " bytes)";
}

std::string encode_for_broker(const Message& message) {
  std::string data = get_encoder()->encode(message);
  if (data.size() > kMaxMessageBytes) {
    throw MessageTooLarge("Message " + message.message_id + " (" + message.actor_name + ") encodes to " +
                          std::to_string(data.size()) + " bytes, more than the maximum message size (" +
                          std::to_string(kMaxMessageBytes) + " bytes)");
  }
  return data;
}

std::shared_ptr<Encoder> get_encoder() {
  std::lock_guard lock(encoder_mutex);
  return encoder_slot();
}

void set_encoder(std::shared_ptr<Encoder> encoder) {
  std::lock_guard lock(encoder_mutex);
  encoder_slot() = encoder ? std::move(encoder) : std::make_shared<JsonEncoder>();
}

}  // namespace dramatiq
