#include "redis/context.hpp"

#include <random>

#include "dramatiq/errors.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq::redis {

namespace {

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool is_missing_script(const Reply& reply) {
  return reply.is_error() && starts_with(reply.str, "NOSCRIPT");
}

void load_scripts(Connection& connection) {
  std::vector<Command> loads;
  for (auto operation : {Operation::Fetch, Operation::Requeue, Operation::Purge,
                         Operation::PendingCount, Operation::Heartbeat}) {
    loads.push_back({"SCRIPT", "LOAD", script(operation).source});
  }
  for (const auto& reply : connection.pipeline(loads)) check(reply);
}

}  // namespace

void check(const Reply& reply) {
  if (!reply.is_error()) return;
  for (const char* transient : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY"}) {
    if (starts_with(reply.str, transient)) throw ConnectionClosed("Redis is unavailable: " + reply.str);
  }
  throw BrokerError("Redis replied with an error: " + reply.str);
}

BrokerContext::BrokerContext(RedisBrokerOptions options)
    : options_(std::move(options)),
      broker_id_(generate_message_id()),
      pool_(options_.connection),
      last_maintenance_ms_(current_millis()) {}

bool BrokerContext::maintenance_due() {
  // Upstream's odds per command, plus a floor: at least once per heartbeat
  // timeout, so a quiet deployment still recovers a dead worker's messages.
  thread_local std::mt19937 random(std::random_device{}());
  if (std::uniform_int_distribution<int>(1, 1000000)(random) <= options_.maintenance_chance) {
    return true;
  }
  std::int64_t now = current_millis();
  std::int64_t last = last_maintenance_ms_.load();
  return now - last >= options_.heartbeat_timeout_ms &&
         last_maintenance_ms_.compare_exchange_strong(last, now);
}

Command BrokerContext::invocation(Operation operation, const std::string& queue,
                                  std::vector<std::string> arguments) {
  Command command;
  command.reserve(10 + arguments.size());
  command.insert(command.end(), {"EVALSHA", script(operation).sha1, "1", options_.key_namespace,
                                 std::to_string(current_millis()), queue, broker_id_,
                                 std::to_string(options_.heartbeat_timeout_ms),
                                 std::to_string(options_.dead_message_ttl_ms),
                                 maintenance_due() ? "1" : "0"});
  for (auto& argument : arguments) command.push_back(std::move(argument));
  return command;
}

Reply BrokerContext::run(Connection& connection, Operation operation, const std::string& queue,
                         std::vector<std::string> arguments) {
  return std::move(run_all(connection, {invocation(operation, queue, std::move(arguments))}).front());
}

std::vector<Reply> BrokerContext::run_all(Connection& connection,
                                          const std::vector<Command>& invocations) {
  std::vector<Reply> replies = connection.pipeline(invocations);
  // The server forgets scripts when it restarts (or on SCRIPT FLUSH): load
  // them and run again whatever it refused.
  bool loaded = false;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (!is_missing_script(replies[i])) continue;
    if (!loaded) {
      load_scripts(connection);
      loaded = true;
    }
    replies[i] = std::move(connection.pipeline({invocations[i]}).front());
  }
  for (const auto& reply : replies) check(reply);
  return replies;
}

}  // namespace dramatiq::redis
