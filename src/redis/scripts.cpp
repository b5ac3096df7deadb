#include "redis/scripts.hpp"

#include "embedded_lua/redis.hpp"

namespace dramatiq::redis {

namespace {

// Each script is the shared prelude (keys, heartbeat, maintenance)
// followed by its own body.
LuaScript with_prelude(std::string_view body) {
  std::string source(lua::prelude);
  source += body;
  return LuaScript(std::move(source));
}

}  // namespace

const LuaScript& script(Operation operation) {
  static const LuaScript fetch = with_prelude(lua::fetch);
  static const LuaScript requeue = with_prelude(lua::requeue);
  static const LuaScript purge = with_prelude(lua::purge);
  static const LuaScript pending_count = with_prelude(lua::pending_count);
  static const LuaScript heartbeat = with_prelude(lua::heartbeat);
  static const LuaScript queue_size = with_prelude(lua::queue_size);
  static const LuaScript move_due = with_prelude(lua::move_due);
  static const LuaScript dead_letters = with_prelude(lua::dead_letters);
  static const LuaScript requeue_dead = with_prelude(lua::requeue_dead);
  static const LuaScript delete_dead = with_prelude(lua::delete_dead);
  static const LuaScript list_waiting = with_prelude(lua::list_waiting);
  switch (operation) {
    case Operation::Fetch: return fetch;
    case Operation::Requeue: return requeue;
    case Operation::Purge: return purge;
    case Operation::PendingCount: return pending_count;
    case Operation::Heartbeat: return heartbeat;
    case Operation::QueueSize: return queue_size;
    case Operation::MoveDue: return move_due;
    case Operation::DeadLetters: return dead_letters;
    case Operation::RequeueDead: return requeue_dead;
    case Operation::DeleteDead: return delete_dead;
    case Operation::ListWaiting: return list_waiting;
  }
  return heartbeat;
}

const ScriptRunner& broker_scripts() {
  static const ScriptRunner runner({&script(Operation::Fetch), &script(Operation::Requeue),
                                    &script(Operation::Purge), &script(Operation::PendingCount),
                                    &script(Operation::Heartbeat), &script(Operation::QueueSize),
                                    &script(Operation::MoveDue), &script(Operation::DeadLetters),
                                    &script(Operation::RequeueDead), &script(Operation::DeleteDead),
                                    &script(Operation::ListWaiting)});
  return runner;
}

std::string wakeup_channel(const std::string& key_namespace, const std::string& queue) {
  return key_namespace + ":__wakeup__." + queue;
}

}  // namespace dramatiq::redis
