// A queue's dead letters ("<q>.XQ") read and settled with basic.get on a
// connection of their own: AMQP cannot address one message of a queue, so
// each operation takes the dead letters off the queue unacknowledged, then
// acks what it drops, republishes to "<q>" (and acks) what it requeues and
// rejects the rest back onto "<q>.XQ" — in one transaction, so a message is
// either moved or left, never both or neither. A dead letter's id is its
// message id (the body decoded); one whose body does not decode is named
// by a hash of it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/rabbitmq_options.hpp"

namespace dramatiq::rabbitmq {

// Up to `limit` of the dead letters of `canonical`, oldest first; they stay.
std::vector<StoredDeadLetter> list_dead_letters(const RabbitmqBrokerOptions& options, const std::string& canonical,
                                                std::size_t limit);

enum class DeadLetterAction { Requeue, Delete };

// Requeues or drops the dead letters of `canonical` that `ids` names (all
// of them when empty); returns how many.
std::size_t settle_dead_letters(const RabbitmqBrokerOptions& options, const std::string& canonical,
                                const std::vector<std::string>& ids, DeadLetterAction action);

}  // namespace dramatiq::rabbitmq
