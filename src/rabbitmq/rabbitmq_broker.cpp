#include "dramatiq/rabbitmq_broker.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "rabbitmq/basic_get.hpp"
#include "rabbitmq/cancellations.hpp"
#include "rabbitmq/consumer.hpp"
#include "rabbitmq/context.hpp"
#include "rabbitmq/dead_letters.hpp"
#include "rabbitmq/declare.hpp"
#include "rabbitmq/settler.hpp"
#include "rabbitmq/tick_records.hpp"
#include "rabbitmq/worker_records.hpp"

namespace dramatiq {

using rabbitmq::Publication;

namespace {
using Clock = std::chrono::steady_clock;

SettlementTiming settlement_timing() {
  SettlementTiming timing;
  timing.heartbeat_interval = std::chrono::milliseconds(0);  // the consumers' I/O threads do it
  return timing;
}

// A queue's declaration failed max_declare_attempts times: the use that
// needed it fails, without the retries of a broken publish.
class DeclarationFailed : public ConnectionClosed {
 public:
  using ConnectionClosed::ConnectionClosed;
};

Publication publication_of(const Message& message) {
  Publication publication{message.queue_name, encode_for_broker(message), std::nullopt};
  if (const Value* priority = message.options.find("broker_priority"); priority && priority->is_number()) {
    publication.priority = static_cast<int>(priority->as_number());
  }
  return publication;
}
}  // namespace

class RabbitmqBroker::Impl {
 public:
  explicit Impl(RabbitmqBrokerOptions options)
      : context(std::move(options)), ticks(context.options()), transport(context),
        settler(transport, "dramatiq.broker.RabbitmqBroker",
                "RabbitMQ redelivers those messages once their channel closes.", settlement_timing()) {}

  // Creates the queues of `canonical` on the server if not done yet.
  void ensure_declared(rabbitmq::Connection& connection, const std::string& canonical) {
    if (!context.is_pending(canonical)) return;
    RabbitmqBroker::QueueDeclarer declarer;
    {
      std::lock_guard lock(declarer_mutex);
      declarer = this->declarer;
    }
    if (!declarer) {
      rabbitmq::declare_all(connection, canonical, context.options());
      context.mark_declared(canonical);
      return;
    }
    std::string last_error;
    for (int attempt = 0; attempt < std::max(1, context.options().max_declare_attempts); ++attempt) {
      try {
        declarer(canonical);
        rabbitmq::declare(connection, canonical, rabbitmq::QueueKind::Delay, context.options());
        rabbitmq::declare(connection, canonical, rabbitmq::QueueKind::DeadLetter, context.options());
        context.mark_declared(canonical);
        return;
      } catch (const BrokerConnectionError& e) {
        last_error = e.what();
      }
    }
    throw DeclarationFailed(last_error);
  }

  // Publishes a batch: declares the queues it needs, retries on a broken
  // connection (up to max_enqueue_attempts) and republishes what the
  // server returned as unroutable after declaring its queue again.
  void publish(std::vector<Publication> publications) {
    const auto& options = context.options();
    std::string last_error;
    for (int attempt = 0; attempt < std::max(1, options.max_enqueue_attempts); ++attempt) {
      try {
        auto lease = context.pool().acquire();
        try {
          for (const auto& publication : publications) {
            ensure_declared(lease->connection(), canonical_queue_name(publication.routing_key));
          }
          auto unroutable = lease->publish(publications);
          if (unroutable.empty()) return;
          std::vector<Publication> again;
          for (std::size_t index : unroutable) {
            context.mark_pending(canonical_queue_name(publications[index].routing_key));
            again.push_back(std::move(publications[index]));
          }
          publications = std::move(again);
          last_error = "RabbitMQ could not route the message to queue '" + publications.front().routing_key + "'";
        } catch (const BrokerConnectionError&) {
          if (!lease->healthy()) lease.discard();
          throw;
        }
      } catch (const rabbitmq::ConnectionBlockedTimeout&) {
        throw;
      } catch (const DeclarationFailed&) {
        throw;
      } catch (const BrokerConnectionError& e) {
        last_error = e.what();
      }
    }
    throw ConnectionClosed(last_error);
  }

  rabbitmq::BrokerContext context;
  rabbitmq::TickRecords ticks;
  std::mutex declarer_mutex;
  RabbitmqBroker::QueueDeclarer declarer;
  rabbitmq::SettlementTransport transport;
  SettlementQueue settler;  // declared after its transport: stopped first
};

RabbitmqBroker::RabbitmqBroker(RabbitmqBrokerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

RabbitmqBroker::~RabbitmqBroker() {
  try {
    close();
  } catch (...) {
  }
}

const RabbitmqBrokerOptions& RabbitmqBroker::options() const { return impl_->context.options(); }

bool RabbitmqBroker::confirm_delivery() const { return impl_->context.pool().confirms(); }
void RabbitmqBroker::set_confirm_delivery(bool confirm) { impl_->context.pool().set_confirms(confirm); }

std::unique_ptr<Consumer> RabbitmqBroker::consume(const std::string& queue_name, int prefetch) {
  return std::make_unique<rabbitmq::RabbitmqConsumer>(impl_->context, impl_->settler, queue_name, prefetch);
}

void RabbitmqBroker::do_declare_queue(const std::string& queue_name) {
  // Created on the server on first use (publish, consume, ensure_queue).
  impl_->context.mark_pending(canonical_queue_name(queue_name));
}

void RabbitmqBroker::ensure_queue(const std::string& queue_name) {
  std::string canonical = canonical_queue_name(queue_name);
  declare_queue(canonical);
  std::string last_error;
  for (int attempt = 0; attempt < std::max(1, options().max_declare_attempts); ++attempt) {
    try {
      auto lease = impl_->context.pool().acquire();
      try {
        impl_->ensure_declared(lease->connection(), canonical);
        return;
      } catch (const BrokerConnectionError&) {
        if (!lease->healthy()) lease.discard();
        throw;
      }
    } catch (const DeclarationFailed&) {
      throw;
    } catch (const BrokerConnectionError& e) {
      last_error = e.what();
    }
  }
  throw ConnectionClosed(last_error);
}

void RabbitmqBroker::do_enqueue(const std::string& /*queue_name*/, const Message& message) {
  impl_->publish({publication_of(message)});
}

bool RabbitmqBroker::do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms,
                                     const Message& message) {
  std::string canonical = canonical_queue_name(message.queue_name);
  return impl_->ticks.store_if_later(schedule_name, tick_ms, publication_of(message),
                                     [&](rabbitmq::Connection& connection) {
                                       impl_->ensure_declared(connection, canonical);
                                     });
}

void RabbitmqBroker::do_cancel(const std::string& message_id, std::int64_t expires_ms) {
  auto lease = impl_->context.pool().acquire();
  try {
    rabbitmq::declare_cancellation_stream(lease->connection());
    auto entry = rabbitmq::cancellation_entry(message_id, expires_ms);
    // At once to every watch, and kept for those to come. With no watch
    // bound the broadcast is returned unroutable: nobody had to hear it.
    lease->publish({rabbitmq::cancellation_broadcast(entry), entry});
  } catch (const BrokerConnectionError&) {
    if (!lease->healthy()) lease.discard();
    throw;
  }
}

std::unique_ptr<CancellationWatch> RabbitmqBroker::watch_cancellations(CancellationCallback callback) {
  return std::make_unique<rabbitmq::RabbitmqCancellationWatch>(impl_->context.options(), std::move(callback));
}

std::optional<std::int64_t> RabbitmqBroker::last_tick(const std::string& schedule_name) {
  return impl_->ticks.last_tick(schedule_name);
}

void RabbitmqBroker::do_enqueue_all(const std::vector<Message>& messages) {
  // One batch: with confirms, all are published before waiting once.
  std::vector<Publication> publications;
  publications.reserve(messages.size());
  for (const auto& message : messages) publications.push_back(publication_of(message));
  impl_->publish(std::move(publications));
}

RabbitmqBroker::QueueCounts RabbitmqBroker::get_queue_message_counts(const std::string& queue_name) {
  std::string canonical = canonical_queue_name(queue_name);
  auto lease = impl_->context.pool().acquire();
  try {
    auto counts = rabbitmq::declare_all(lease->connection(), canonical, options());
    impl_->context.mark_declared(canonical);
    return {counts[0], counts[1], counts[2]};
  } catch (const BrokerConnectionError&) {
    if (!lease->healthy()) lease.discard();
    throw;
  }
}

dramatiq::QueueCounts RabbitmqBroker::queue_counts(const std::string& queue_name) {
  auto counts = get_queue_message_counts(queue_name);
  dramatiq::QueueCounts out;
  out.ready = counts.ready;
  out.delayed = counts.delayed;
  out.dead = counts.dead;
  return out;
}

std::vector<StoredDeadLetter> RabbitmqBroker::list_dead_letters(const std::string& queue_name, std::size_t limit) {
  const std::string canonical = canonical_queue_name(queue_name);
  auto letters = rabbitmq::list_dead_letters(options(), canonical, limit);
  impl_->context.mark_declared(canonical);
  return letters;
}

std::size_t RabbitmqBroker::requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  const std::string canonical = canonical_queue_name(queue_name);
  auto moved = rabbitmq::settle_dead_letters(options(), canonical, ids, rabbitmq::DeadLetterAction::Requeue);
  impl_->context.mark_declared(canonical);
  return moved;
}

std::size_t RabbitmqBroker::delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  const std::string canonical = canonical_queue_name(queue_name);
  auto dropped = rabbitmq::settle_dead_letters(options(), canonical, ids, rabbitmq::DeadLetterAction::Delete);
  impl_->context.mark_declared(canonical);
  return dropped;
}

std::vector<StoredMessage> RabbitmqBroker::list_messages(const std::string& queue_name, std::size_t limit) {
  const std::string canonical = canonical_queue_name(queue_name);
  std::vector<StoredMessage> messages;
  if (limit == 0) return messages;
  // A connection of its own: the messages are the channel's until given back.
  rabbitmq::Connection connection(options());
  rabbitmq::declare_all(connection, canonical, options());
  impl_->context.mark_declared(canonical);
  for (const auto& [name, delayed] : {std::pair{canonical, false}, std::pair{delay_queue_name(canonical), true}}) {
    if (messages.size() >= limit) break;
    auto taken = rabbitmq::take_unacked(connection, name, limit - messages.size());
    rabbitmq::give_back_all(connection, taken, "Returning the messages of '" + name + "'");
    for (auto& one : taken) messages.push_back(StoredMessage{std::move(one.body), delayed});
  }
  connection.close();
  return messages;
}

void RabbitmqBroker::put_worker_record(const WorkerRecord& record) {
  auto lease = impl_->context.pool().acquire();
  try {
    rabbitmq::declare_worker_record_queue(lease->connection());
    lease->publish({rabbitmq::worker_record_entry(record)});
  } catch (const BrokerConnectionError&) {
    if (!lease->healthy()) lease.discard();
    throw;
  }
}

void RabbitmqBroker::remove_worker_record(const std::string& worker_id) {
  // A newer record that has expired already hides the older ones.
  WorkerRecord gone;
  gone.worker_id = worker_id;
  gone.heartbeat_at_ms = current_millis();
  gone.expires_at_ms = gone.heartbeat_at_ms;
  put_worker_record(gone);
}

std::vector<WorkerRecord> RabbitmqBroker::list_worker_records() { return rabbitmq::list_worker_records(options()); }

void RabbitmqBroker::declare_main_queue(const std::string& canonical) {
  auto lease = impl_->context.pool().acquire();
  try {
    rabbitmq::declare(lease->connection(), canonical, rabbitmq::QueueKind::Main, options());
  } catch (const BrokerConnectionError&) {
    if (!lease->healthy()) lease.discard();
    throw;
  }
}

void RabbitmqBroker::set_queue_declarer(QueueDeclarer declarer) {
  QueueDeclarer previous;
  {
    std::lock_guard lock(impl_->declarer_mutex);
    previous = std::move(impl_->declarer);
    impl_->declarer = std::move(declarer);
  }
  // `previous` (which may hold host objects) is let go outside the lock.
}

std::size_t RabbitmqBroker::count_unfinished(const std::string& queue_name) {
  std::string canonical = canonical_queue_name(queue_name);
  auto counts = get_queue_message_counts(canonical);
  auto held = impl_->context.held(canonical) + impl_->context.held(delay_queue_name(canonical));
  return counts.ready + counts.delayed + static_cast<std::size_t>(std::max<std::int64_t>(0, held));
}

void RabbitmqBroker::wait_for_settlement(const std::string& /*queue_name*/, Clock::time_point deadline,
                                         std::chrono::milliseconds poll_interval) {
  impl_->context.wait_for_held_change(std::min(deadline, Clock::now() + poll_interval));
}

bool RabbitmqBroker::join_idle(const std::string& queue_name, int min_successes,
                               std::chrono::milliseconds idle_time,
                               std::optional<std::chrono::milliseconds> timeout,
                               const std::function<void()>& between_waits) {
  auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  int successes = 0;
  while (true) {
    if (Clock::now() >= deadline) return false;
    std::size_t unfinished = count_unfinished(queue_name);
    successes = unfinished == 0 ? successes + 1 : 0;
    if (successes >= std::max(1, min_successes)) return true;
    auto wake_at = std::min(deadline, Clock::now() + idle_time);
    if (unfinished > 0) {
      // Counted again as soon as this process settles something.
      impl_->context.wait_for_held_change(wake_at);
    } else {
      std::this_thread::sleep_until(wake_at);
    }
    if (between_waits) between_waits();
  }
}

void RabbitmqBroker::flush(const std::string& queue_name) {
  std::string canonical = canonical_queue_name(queue_name);
  auto lease = impl_->context.pool().acquire();
  try {
    for (const auto& name : {canonical, delay_queue_name(canonical), dead_letter_queue_name(canonical)}) {
      rabbitmq::purge(lease->connection(), name);
    }
  } catch (const BrokerConnectionError&) {
    if (!lease->healthy()) lease.discard();
    throw;
  }
}

void RabbitmqBroker::flush_all() {
  for (const auto& queue_name : get_declared_queues()) flush(queue_name);
}

void RabbitmqBroker::close() {
  impl_->settler.stop();
  impl_->context.pool().clear();
  impl_->ticks.close();
}

}  // namespace dramatiq
