// How a Redis broker's settlements and heartbeat reach the server: the
// transport of its SettlementQueue (see broker/settlement_queue.hpp).
// A batch is one fetch-script invocation per queue asking for no messages,
// all in one round trip; an empty batch is a heartbeat.
#pragma once

#include <memory>

#include "broker/settlement_queue.hpp"
#include "redis/context.hpp"

namespace dramatiq::redis {

class SettlementTransport : public SettlementQueue::Transport {
 public:
  explicit SettlementTransport(BrokerContext& context) : context_(context) {}
  void send(const SettlementQueue::Batch& batch) override;
  void confirmed(const std::string& queue, const SettlementQueue::Pending& pending) override;

 private:
  BrokerContext& context_;
  std::unique_ptr<Connection> connection_;  // the settlement thread's own
};

}  // namespace dramatiq::redis
