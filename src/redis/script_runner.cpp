#include "redis/script_runner.hpp"

#include <openssl/sha.h>

#include <array>
#include <cstdio>

namespace dramatiq::redis {

namespace {

bool is_missing_script(const Reply& reply) {
  return reply.is_error() && reply.str.compare(0, 8, "NOSCRIPT") == 0;
}

}  // namespace

LuaScript::LuaScript(std::string source) : source_(std::move(source)) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest.data());
  char hex[3];
  for (unsigned char byte : digest) {
    std::snprintf(hex, sizeof hex, "%02x", byte);
    sha1_ += hex;
  }
}

Command ScriptRunner::invocation(const LuaScript& script, const std::vector<std::string>& keys,
                                 std::vector<std::string> arguments) {
  Command command;
  command.reserve(3 + keys.size() + arguments.size());
  command.insert(command.end(), {"EVALSHA", script.sha1(), std::to_string(keys.size())});
  command.insert(command.end(), keys.begin(), keys.end());
  for (auto& argument : arguments) command.push_back(std::move(argument));
  return command;
}

std::vector<Reply> ScriptRunner::run_all(Connection& connection,
                                         const std::vector<Command>& invocations) const {
  std::vector<Reply> replies = connection.pipeline(invocations);
  std::vector<std::size_t> refused;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (is_missing_script(replies[i])) refused.push_back(i);
  }
  if (refused.empty()) return replies;
  // Loading the whole set spares the other scripts a NOSCRIPT each later.
  std::vector<Command> retry;
  retry.reserve(scripts_.size() + refused.size());
  for (const LuaScript* script : scripts_) retry.push_back({"SCRIPT", "LOAD", script->source()});
  for (std::size_t i : refused) retry.push_back(invocations[i]);
  std::vector<Reply> retried = connection.pipeline(retry);
  for (std::size_t load = 0; load < scripts_.size(); ++load) check(retried[load]);
  for (std::size_t n = 0; n < refused.size(); ++n) {
    replies[refused[n]] = std::move(retried[scripts_.size() + n]);
  }
  return replies;
}

Reply ScriptRunner::run(Connection& connection, const Command& invocation) const {
  return std::move(run_all(connection, {invocation}).front());
}

}  // namespace dramatiq::redis
