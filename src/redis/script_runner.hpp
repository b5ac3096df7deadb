// Lua scripts run on the server by their digest (EVALSHA), shared by the
// broker and the rate-limit backend: the server forgets scripts when it
// restarts or on SCRIPT FLUSH, and the runner loads them again.
#pragma once

#include <string>
#include <vector>

#include "redis/connection.hpp"

namespace dramatiq::redis {

// A script's text and the hex SHA1 of it, the name EVALSHA calls it by.
class LuaScript {
 public:
  explicit LuaScript(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;
};

// Runs invocations of a set of scripts. When the server answers NOSCRIPT,
// loads every script of the set and runs what it refused again, in one
// more round trip.
class ScriptRunner {
 public:
  // The scripts must outlive the runner (they are static in practice).
  explicit ScriptRunner(std::vector<const LuaScript*> scripts) : scripts_(std::move(scripts)) {}

  // EVALSHA <sha1> <number of keys> keys... arguments...
  static Command invocation(const LuaScript& script, const std::vector<std::string>& keys,
                            std::vector<std::string> arguments);
  // Runs the invocations in one round trip; replies in order, error
  // replies included (a NOSCRIPT only if loading did not help).
  std::vector<Reply> run_all(Connection& connection, const std::vector<Command>& invocations) const;
  Reply run(Connection& connection, const Command& invocation) const;

 private:
  std::vector<const LuaScript*> scripts_;
};

}  // namespace dramatiq::redis
