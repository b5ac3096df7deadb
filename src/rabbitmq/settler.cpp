#include "rabbitmq/settler.hpp"

#include "dramatiq/log.hpp"
#include "rabbitmq/consumer.hpp"

namespace dramatiq::rabbitmq {

void SettlementTransport::send(const SettlementQueue::Batch& batch) {
  for (const auto& entry : batch) {
    // Not a structured binding: clang before 16 cannot capture one.
    const auto& lane = entry.first;
    const auto& pending = entry.second;
    bool routed = context_.with_consumer(lane, [&](RabbitmqConsumer& consumer) { consumer.settle(pending); });
    if (!routed) {
      log::write(log::Level::Warning, "dramatiq.broker.RabbitmqBroker",
                 std::to_string(pending.size()) +
                     " acknowledgements were not sent: the channel that delivered those messages is "
                     "closed, and RabbitMQ redelivers them.");
    }
  }
}

}  // namespace dramatiq::rabbitmq
