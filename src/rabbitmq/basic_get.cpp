#include "rabbitmq/basic_get.hpp"

namespace dramatiq::rabbitmq {

std::vector<TakenMessage> take_unacked(Connection& c, const std::string& queue, std::size_t limit) {
  std::vector<TakenMessage> taken;
  const std::string what = "Reading queue '" + queue + "'";
  while (taken.size() < limit) {
    amqp_rpc_reply_t reply = amqp_basic_get(c.state(), Connection::kChannel, bytes_of(queue), /*no_ack=*/0);
    c.check(reply, what);
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) break;  // get-empty
    TakenMessage one;
    one.delivery_tag = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded)->delivery_tag;
    amqp_message_t message;
    c.check(amqp_read_message(c.state(), Connection::kChannel, &message, 0), what);
    one.body = string_of(message.body);
    if (message.properties._flags & AMQP_BASIC_PRIORITY_FLAG) one.priority = message.properties.priority;
    amqp_destroy_message(&message);
    taken.push_back(std::move(one));
  }
  return taken;
}

void give_back_all(Connection& c, const std::vector<TakenMessage>& taken, const std::string& what) {
  if (taken.empty()) return;
  c.check_status(amqp_basic_nack(c.state(), Connection::kChannel, taken.back().delivery_tag, /*multiple=*/1,
                                 /*requeue=*/1),
                 what);
}

}  // namespace dramatiq::rabbitmq
