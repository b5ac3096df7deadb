// How a RabbitMQ broker's settlements reach the server: the transport of
// its SettlementQueue (see broker/settlement_queue.hpp). A lane is one
// consumer's channel; its batch is handed to that consumer's I/O thread,
// the only one that may write on its connection. No heartbeat is sent
// here: each consumer's I/O thread answers its connection's heartbeats.
#pragma once

#include "broker/settlement_queue.hpp"
#include "rabbitmq/context.hpp"

namespace dramatiq::rabbitmq {

class SettlementTransport : public SettlementQueue::Transport {
 public:
  explicit SettlementTransport(BrokerContext& context) : context_(context) {}
  void send(const SettlementQueue::Batch& batch) override;

 private:
  BrokerContext& context_;
};

}  // namespace dramatiq::rabbitmq
