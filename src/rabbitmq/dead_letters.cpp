#include "rabbitmq/dead_letters.hpp"

#include <functional>
#include <optional>
#include <set>

#include "dramatiq/encoder.hpp"
#include "dramatiq/message.hpp"
#include "rabbitmq/basic_get.hpp"
#include "rabbitmq/connection.hpp"
#include "rabbitmq/declare.hpp"
#include "rabbitmq/publisher.hpp"

namespace dramatiq::rabbitmq {

namespace {

std::string dead_letter_id(const std::string& body) {
  try {
    return get_encoder()->decode(body).message_id;
  } catch (const std::exception&) {
    return "undecodable-" + std::to_string(std::hash<std::string>{}(body));
  }
}

// The ready count of "<q>.XQ" (declaring the queues, as counting does).
std::uint32_t dead_count(Connection& c, const std::string& canonical, const RabbitmqBrokerOptions& options) {
  return declare_all(c, canonical, options)[2];
}

}  // namespace

std::vector<StoredDeadLetter> list_dead_letters(const RabbitmqBrokerOptions& options, const std::string& canonical,
                                                std::size_t limit) {
  std::vector<StoredDeadLetter> letters;
  if (limit == 0) return letters;
  Connection c(options);
  const std::string dead_queue = dead_letter_queue_name(canonical);
  dead_count(c, canonical, options);
  auto taken = take_unacked(c, dead_queue, limit);
  give_back_all(c, taken, "Returning the dead letters of '" + dead_queue + "'");
  c.close();
  for (auto& one : taken) {
    StoredDeadLetter letter;
    letter.id = dead_letter_id(one.body);
    letter.data = std::move(one.body);
    letters.push_back(std::move(letter));
  }
  return letters;
}

std::size_t settle_dead_letters(const RabbitmqBrokerOptions& options, const std::string& canonical,
                                const std::vector<std::string>& ids, DeadLetterAction action) {
  Connection c(options);
  const std::string dead_queue = dead_letter_queue_name(canonical);
  const std::string what = (action == DeadLetterAction::Requeue ? "Requeueing" : "Deleting") +
                           std::string(" dead letters of '") + canonical + "'";
  const std::uint32_t count = dead_count(c, canonical, options);
  if (!amqp_tx_select(c.state(), Connection::kChannel)) c.check(amqp_get_rpc_reply(c.state()), what);
  // Every one present when the operation began, at most: what dies meanwhile waits for the next.
  auto taken = take_unacked(c, dead_queue, count);
  const std::set<std::string> wanted(ids.begin(), ids.end());
  std::size_t settled = 0;
  for (const auto& one : taken) {
    if (!wanted.empty() && wanted.count(dead_letter_id(one.body)) == 0) {
      c.check_status(amqp_basic_reject(c.state(), Connection::kChannel, one.delivery_tag, /*requeue=*/1), what);
      continue;
    }
    if (action == DeadLetterAction::Requeue) send_persistent(c, Publication{canonical, one.body, one.priority}, false);
    c.check_status(amqp_basic_ack(c.state(), Connection::kChannel, one.delivery_tag, 0), what);
    ++settled;
  }
  if (!amqp_tx_commit(c.state(), Connection::kChannel)) c.check(amqp_get_rpc_reply(c.state()), what);
  c.close();
  return settled;
}

}  // namespace dramatiq::rabbitmq
