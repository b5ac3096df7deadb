#include "dramatiq/redis_broker.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "redis/cancellations.hpp"
#include "redis/consumer.hpp"
#include "redis/context.hpp"
#include "redis/enqueue.hpp"
#include "redis/settler.hpp"

namespace dramatiq {

using redis::add_enqueue_arguments;
using redis::Operation;
using redis::Reply;

class RedisBroker::Impl {
 public:
  explicit Impl(RedisBrokerOptions options)
      : context(std::move(options)), transport(context),
        settler(transport, "dramatiq.broker.RedisBroker",
                "those messages will be redelivered after the heartbeat timeout.") {}

  redis::BrokerContext context;
  redis::SettlementTransport transport;
  SettlementQueue settler;  // declared after its transport: stopped first
};

RedisBroker::RedisBroker(RedisBrokerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

RedisBroker::~RedisBroker() {
  try {
    close();
  } catch (...) {
  }
}

std::string RedisBroker::broker_id() const { return impl_->context.broker_id(); }
void RedisBroker::set_broker_id(std::string id) { impl_->context.set_broker_id(std::move(id)); }
const RedisBrokerOptions& RedisBroker::options() const { return impl_->context.options(); }

std::unique_ptr<Consumer> RedisBroker::consume(const std::string& queue_name, int prefetch) {
  return std::make_unique<redis::RedisConsumer>(impl_->context, impl_->settler, queue_name, prefetch);
}

void RedisBroker::stamp_message(Message& message) {
  // Each enqueue gets its own id in Redis: a retried message keeps its
  // message_id but is a new entry on the queue.
  message.options.set("redis_message_id", generate_message_id());
}

void RedisBroker::do_declare_queue(const std::string& /*queue_name*/) {
  // Redis creates keys on first use.
}

void RedisBroker::do_enqueue(const std::string& queue_name, const Message& message) {
  redis::QueueBatch batch{queue_name, {}};
  add_enqueue_arguments(message, batch.id_data_pairs);
  auto connection = impl_->context.pool().acquire();
  redis::enqueue(*connection, impl_->context.key_namespace(), impl_->context.broker_id(), current_millis(),
                 {std::move(batch)});
}

void RedisBroker::do_enqueue_all(const std::vector<Message>& messages) {
  // Queues in first-seen order, all in one transaction and round trip.
  std::vector<redis::QueueBatch> batches;
  std::map<std::string, std::size_t> batch_of_queue;
  for (const auto& message : messages) {
    auto [it, added] = batch_of_queue.try_emplace(message.queue_name, batches.size());
    if (added) batches.push_back({message.queue_name, {}});
    add_enqueue_arguments(message, batches[it->second].id_data_pairs);
  }
  auto connection = impl_->context.pool().acquire();
  redis::enqueue(*connection, impl_->context.key_namespace(), impl_->context.broker_id(), current_millis(),
                 std::move(batches));
}

namespace {
std::optional<std::int64_t> tick_of(const Reply& reply) {
  if (reply.type != Reply::Type::String) return std::nullopt;
  try {
    std::size_t used = 0;
    long long value = std::stoll(reply.str, &used);
    if (used == reply.str.size()) return value;
  } catch (const std::exception&) {
  }
  return std::nullopt;  // not a tick of ours: overwritten by the next one
}
}  // namespace

bool RedisBroker::do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) {
  const std::string key = impl_->context.key_namespace() + ":__schedules__";
  auto connection = impl_->context.pool().acquire();
  // Another scheduler's write between WATCH and EXEC makes EXEC do nothing:
  // read the tick again then (a few rounds at most: one write per tick).
  for (int round = 0; round < 100; ++round) {
    std::vector<Reply> read;
    try {
      read = connection->pipeline({{"WATCH", key}, {"HGET", key, schedule_name}});
      redis::check(read[0]);
      redis::check(read[1]);
      if (auto last = tick_of(read[1]); last && *last >= tick_ms) {
        redis::check(connection->call({"UNWATCH"}));
        return false;
      }
      redis::QueueBatch batch{message.queue_name, {}};
      add_enqueue_arguments(message, batch.id_data_pairs);
      auto commands = redis::enqueue_transaction(impl_->context.key_namespace(), impl_->context.broker_id(),
                                                 current_millis(), {std::move(batch)});
      commands.insert(commands.begin() + 1, {"HSET", key, schedule_name, std::to_string(tick_ms)});
      if (redis::transaction_ran(connection->pipeline(commands))) return true;
    } catch (...) {
      try {
        connection->call({"UNWATCH"});  // never leave a WATCH on a pooled connection
      } catch (...) {
      }
      throw;
    }
  }
  throw ConnectionClosed("the tick of schedule '" + schedule_name + "' kept changing under a hundred attempts");
}

void RedisBroker::do_cancel(const std::string& message_id, std::int64_t expires_ms) {
  redis::record_cancellation(impl_->context, message_id, expires_ms);
}

std::unique_ptr<CancellationWatch> RedisBroker::watch_cancellations(CancellationCallback callback) {
  return std::make_unique<redis::RedisCancellationWatch>(impl_->context, std::move(callback));
}

std::optional<std::int64_t> RedisBroker::last_tick(const std::string& schedule_name) {
  auto connection = impl_->context.pool().acquire();
  Reply reply = connection->call({"HGET", impl_->context.key_namespace() + ":__schedules__", schedule_name});
  redis::check(reply);
  return tick_of(reply);
}

void RedisBroker::flush(const std::string& queue_name) {
  std::string base = canonical_queue_name(queue_name);
  auto connection = impl_->context.pool().acquire();
  impl_->context.run_all(*connection, {impl_->context.invocation(Operation::Purge, base),
                                       impl_->context.invocation(Operation::Purge, delay_queue_name(base))});
}

void RedisBroker::flush_all() {
  for (const auto& queue_name : get_declared_queues()) flush(queue_name);
}

std::size_t RedisBroker::queue_size(const std::string& queue_name) {
  auto connection = impl_->context.pool().acquire();
  auto size = impl_->context.run(*connection, Operation::QueueSize, canonical_queue_name(queue_name)).integer;
  return static_cast<std::size_t>(std::max<long long>(0, size));
}

void RedisBroker::enqueue_encoded(const std::string& queue_name, const std::string& redis_message_id,
                                  const std::string& data) {
  auto connection = impl_->context.pool().acquire();
  redis::enqueue(*connection, impl_->context.key_namespace(), impl_->context.broker_id(), current_millis(),
                 {redis::QueueBatch{queue_name, {redis_message_id, data}}});
}

std::vector<std::string> RedisBroker::fetch_encoded(const std::string& queue_name, int count) {
  if (count < 1) throw std::invalid_argument("fetch count must be at least 1");
  auto connection = impl_->context.pool().acquire();
  auto fetched = redis::split_fetch_reply(
      impl_->context.run(*connection, Operation::Fetch, queue_name, {std::to_string(count), "0"}));
  std::vector<std::string> data;
  data.reserve(fetched.messages.size());
  for (auto& message : fetched.messages) data.push_back(std::move(message.data));
  return data;
}

void RedisBroker::settle_encoded(const std::string& queue_name, const std::string& redis_message_id, bool ack) {
  std::vector<std::string> arguments{"0", ack ? "1" : "0", redis_message_id};
  auto connection = impl_->context.pool().acquire();
  impl_->context.run(*connection, Operation::Fetch, queue_name, std::move(arguments));
  impl_->context.held().remove(queue_name, {redis_message_id});
}

void RedisBroker::set_host_settlement(HostSettle ack, HostSettle nack) {
  auto shared = [](HostSettle settle) {
    return settle ? std::make_shared<const HostSettle>(std::move(settle)) : nullptr;
  };
  impl_->context.host_ack.store(shared(std::move(ack)));
  impl_->context.host_nack.store(shared(std::move(nack)));
}

std::int64_t RedisBroker::heartbeat_timeout_ms() const { return impl_->context.heartbeat_timeout_ms.load(); }
void RedisBroker::set_heartbeat_timeout_ms(std::int64_t milliseconds) {
  impl_->context.heartbeat_timeout_ms.store(milliseconds);
}
std::int64_t RedisBroker::dead_message_ttl_ms() const { return impl_->context.dead_message_ttl_ms.load(); }
void RedisBroker::set_dead_message_ttl_ms(std::int64_t milliseconds) {
  impl_->context.dead_message_ttl_ms.store(milliseconds);
}
int RedisBroker::maintenance_chance() const { return impl_->context.maintenance_chance.load(); }
void RedisBroker::set_maintenance_chance(int chance) { impl_->context.maintenance_chance.store(chance); }

std::size_t RedisBroker::count_unfinished(const std::string& queue_name) {
  auto connection = impl_->context.pool().acquire();
  auto pending = impl_->context.run(*connection, Operation::PendingCount, queue_name).integer;
  return static_cast<std::size_t>(std::max<long long>(0, pending));
}

QueueCounts RedisBroker::queue_counts(const std::string& queue_name) {
  const std::string key = impl_->context.key_namespace() + ":" + canonical_queue_name(queue_name);
  auto connection = impl_->context.pool().acquire();
  // One transaction: the counts are of one moment.
  auto replies = connection->pipeline({{"MULTI"},
                                       {"LLEN", key},
                                       {"HLEN", key + ".msgs"},
                                       {"HLEN", key + ".DQ.msgs"},
                                       {"ZCARD", key + ".XQ"},
                                       {"EXEC"}});
  const redis::Reply& counts = replies.back();
  redis::check(counts);
  if (counts.elements.size() != 4) throw BrokerError("Redis answered a transaction of four counts with something else");
  for (const auto& count : counts.elements) redis::check(count);
  QueueCounts out;
  out.ready = counts.elements[0].integer;
  out.in_flight = std::max<long long>(0, counts.elements[1].integer - counts.elements[0].integer);
  out.delayed = counts.elements[2].integer;
  out.dead = counts.elements[3].integer;
  return out;
}

std::vector<StoredDeadLetter> RedisBroker::list_dead_letters(const std::string& queue_name, std::size_t limit) {
  std::vector<StoredDeadLetter> letters;
  if (limit == 0) return letters;
  auto connection = impl_->context.pool().acquire();
  auto reply = impl_->context.run(*connection, Operation::DeadLetters, canonical_queue_name(queue_name),
                                  {std::to_string(std::min<std::size_t>(limit, 1u << 30))});
  if (reply.elements.size() % 3 != 0) throw BrokerError("Redis answered a dead-letter listing with something else");
  for (std::size_t i = 0; i < reply.elements.size(); i += 3) {
    StoredDeadLetter letter;
    letter.id = reply.elements[i].str;
    // The score: when it died, in ms (Lua hands it over as a string).
    letter.dead_at_ms = std::strtoll(reply.elements[i + 1].str.c_str(), nullptr, 10);
    letter.data = std::move(reply.elements[i + 2].str);
    letters.push_back(std::move(letter));
  }
  return letters;
}

namespace {

// The arguments of the scripts that settle dead letters: all, or these ids.
std::vector<std::string> dead_letter_selection(const std::vector<std::string>& ids) {
  std::vector<std::string> arguments{ids.empty() ? "all" : "ids"};
  arguments.insert(arguments.end(), ids.begin(), ids.end());
  return arguments;
}

}  // namespace

std::size_t RedisBroker::requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  auto connection = impl_->context.pool().acquire();
  auto reply = impl_->context.run(*connection, Operation::RequeueDead, canonical_queue_name(queue_name),
                                  dead_letter_selection(ids));
  return static_cast<std::size_t>(std::max<long long>(0, reply.integer));
}

std::size_t RedisBroker::delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  auto connection = impl_->context.pool().acquire();
  auto reply = impl_->context.run(*connection, Operation::DeleteDead, canonical_queue_name(queue_name),
                                  dead_letter_selection(ids));
  return static_cast<std::size_t>(std::max<long long>(0, reply.integer));
}

std::vector<StoredMessage> RedisBroker::list_messages(const std::string& queue_name, std::size_t limit) {
  std::vector<StoredMessage> messages;
  if (limit == 0) return messages;
  auto connection = impl_->context.pool().acquire();
  auto reply = impl_->context.run(*connection, Operation::ListWaiting, canonical_queue_name(queue_name),
                                  {std::to_string(std::min<std::size_t>(limit, 1u << 30))});
  if (reply.elements.size() % 2 != 0) throw BrokerError("Redis answered a message listing with something else");
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    messages.push_back(StoredMessage{std::move(reply.elements[i].str), reply.elements[i + 1].str == "1"});
  }
  return messages;
}

namespace {
std::string worker_records_key(const std::string& key_namespace) { return key_namespace + ":__worker_records__"; }
}  // namespace

void RedisBroker::put_worker_record(const WorkerRecord& record) {
  auto connection = impl_->context.pool().acquire();
  redis::check(connection->call(
      {"HSET", worker_records_key(impl_->context.key_namespace()), record.worker_id, encode_worker_record(record)}));
}

void RedisBroker::remove_worker_record(const std::string& worker_id) {
  auto connection = impl_->context.pool().acquire();
  redis::check(connection->call({"HDEL", worker_records_key(impl_->context.key_namespace()), worker_id}));
}

std::vector<WorkerRecord> RedisBroker::list_worker_records() {
  const std::string key = worker_records_key(impl_->context.key_namespace());
  auto connection = impl_->context.pool().acquire();
  redis::Reply all = connection->call({"HGETALL", key});
  redis::check(all);
  const std::int64_t now = current_millis();
  std::vector<WorkerRecord> records;
  std::vector<std::string> gone{"HDEL", key};
  for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    const std::string& worker_id = all.elements[i].str;
    try {
      WorkerRecord record = decode_worker_record(all.elements[i + 1].str);
      if (record.expires_at_ms > now) {
        records.push_back(std::move(record));
        continue;
      }
    } catch (const DecodeError& e) {
      log::write(log::Level::Warning, logger_name(), "Dropped the worker record of %s: %s", {worker_id, e.what()});
    }
    gone.push_back(worker_id);
  }
  if (gone.size() > 2) redis::check(connection->call(gone));
  return records;
}

void RedisBroker::ping() {
  auto connection = impl_->context.pool().acquire();
  redis::check(connection->call({"PING"}));
}

void RedisBroker::close() {
  impl_->settler.stop();
  impl_->context.pool().clear();
}

}  // namespace dramatiq
