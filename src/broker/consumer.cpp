#include "dramatiq/consumer.hpp"

#include <stdexcept>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"

namespace dramatiq {

std::shared_ptr<MessageProxy> Consumer::decode_delivery(const std::string& queue_name,
                                                        std::string bytes, std::string receipt) {
  auto proxy = std::make_shared<MessageProxy>();
  // Refused unread: decoding a hostile giant would cost its size again
  // in values, and the Python encoders more.
  std::string oversized = oversized_delivery_reason(bytes.size());
  try {
    if (!oversized.empty()) throw DecodeError(oversized);
    proxy->message = get_encoder()->decode(bytes);
  } catch (const std::exception& e) {
    proxy->decode_error = e.what();
    proxy->message.queue_name = queue_name;
    proxy->raw = std::move(bytes);
  }
  proxy->receipt = std::move(receipt);
  return proxy;
}

void Consumer::enqueue_and_ack(const Message& /*message*/, MessageProxy& /*delivered*/) {
  throw std::logic_error("this consumer cannot enqueue and ack in one write (see enqueues_and_acks)");
}

}  // namespace dramatiq
