#include "redis/settler.hpp"

#include "dramatiq/errors.hpp"

namespace dramatiq::redis {

void SettlementTransport::send(const SettlementQueue::Batch& batch) {
  try {
    if (!connection_ || !connection_->healthy()) connection_ = context_.pool().open();
    std::vector<Command> invocations;
    for (const auto& [queue, pending] : batch) {
      std::vector<std::string> arguments{"0", std::to_string(pending.acks.size())};
      arguments.reserve(2 + pending.size());
      arguments.insert(arguments.end(), pending.acks.begin(), pending.acks.end());
      arguments.insert(arguments.end(), pending.nacks.begin(), pending.nacks.end());
      invocations.push_back(context_.invocation(Operation::Fetch, queue, std::move(arguments)));
    }
    if (invocations.empty()) invocations.push_back(context_.invocation(Operation::Heartbeat, ""));
    context_.run_all(*connection_, invocations);
  } catch (const BrokerConnectionError&) {
    connection_.reset();
    throw;
  }
}

void SettlementTransport::confirmed(const std::string& queue,
                                    const SettlementQueue::Pending& pending) {
  context_.held().remove(queue, pending.acks);
  context_.held().remove(queue, pending.nacks);
}

}  // namespace dramatiq::redis
