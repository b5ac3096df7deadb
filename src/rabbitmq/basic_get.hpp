// Reading a queue message by message with basic.get, unacknowledged, for
// the operations that look at what a queue holds (dead letters, worker
// records): each message taken stays the channel's until acked, rejected
// or given back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rabbitmq/connection.hpp"

namespace dramatiq::rabbitmq {

struct TakenMessage {
  std::uint64_t delivery_tag = 0;
  std::string body;
  std::optional<int> priority;
};

// Takes up to `limit` messages off `queue`, unacknowledged (fewer when it
// runs empty).
std::vector<TakenMessage> take_unacked(Connection& connection, const std::string& queue, std::size_t limit);
// Puts back every message taken, none of which was acked or rejected.
void give_back_all(Connection& connection, const std::vector<TakenMessage>& taken, const std::string& what);

}  // namespace dramatiq::rabbitmq
