// Consumer: what a broker hands a worker to pull messages off one queue and
// settle them. One consumer per queue per worker; every message is settled
// (acked, nacked or requeued) through the consumer that delivered it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dramatiq/message_proxy.hpp"

namespace dramatiq {

class Consumer {
 public:
  virtual ~Consumer() = default;
  // The next delivered message, or nullptr when none arrived within
  // `timeout`. Called from one thread at a time (the worker's consumer
  // thread); the other methods may be called from any thread.
  virtual std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) = 0;
  // Makes a next() waiting in another thread return soon (nullptr if no
  // message came), so that a stopping worker does not wait out the fetch
  // timeout. Called from any thread; optional (the wait then just ends on
  // its timeout).
  virtual void interrupt_wait() {}
  // Whether next() would return a message already fetched, without waiting.
  virtual bool has_buffered() const { return false; }
  // The message was processed: the broker forgets it.
  virtual void ack(MessageProxy& message) = 0;
  // The message failed for good: it goes to the dead-letter queue.
  virtual void nack(MessageProxy& message) = 0;
  // Puts delivered-but-unprocessed messages back on their queue.
  virtual void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) = 0;
  // Whether enqueue_and_ack() works on this consumer (a delay queue's).
  virtual bool enqueues_and_acks() const { return false; }
  // Stores `message` on its queue and acks `delivered`, the delay-queue
  // delivery it was made from, in one atomic write: a due delayed message
  // then never sits on both queues (counted twice by join, run twice after
  // a crash between two writes) nor on neither. Called only when
  // enqueues_and_acks(); throws what an enqueue throws (nothing written).
  virtual void enqueue_and_ack(const Message& message, MessageProxy& delivered);
  // Called once no message it delivered is left unsettled, and nothing more
  // is fetched from it: releases connections or channels, and gives back
  // what was fetched but never delivered.
  virtual void close() {}

 protected:
  // Turns delivered bytes into a MessageProxy with the broker's encoder.
  // Bytes that do not decode come back with decode_error and raw set, and
  // message.queue_name = `queue_name`: the worker dead-letters them with
  // the reason logged. `receipt` is the broker's handle for settling it.
  static std::shared_ptr<MessageProxy> decode_delivery(const std::string& queue_name,
                                                       std::string bytes, std::string receipt = {});
};

}  // namespace dramatiq
