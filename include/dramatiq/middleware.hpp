// Middleware: hook objects the broker and worker call around every step,
// with upstream Dramatiq's hook names, arguments and order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/actor.hpp"
#include "dramatiq/message_proxy.hpp"
#include "dramatiq/middleware_hooks.hpp"

namespace dramatiq {

class Broker;
class Worker;

// Identifies the engine thread a consumer/worker-thread hook is about.
struct ThreadInfo {
  enum class Kind { Consumer, Worker } kind;
  std::string queue_name;  // consumers only
};

using Delay = std::optional<std::int64_t>;

class Middleware {
 public:
  virtual ~Middleware() = default;
  virtual std::string name() const = 0;
  // Option names this middleware lets actors declare.
  virtual std::vector<std::string> actor_options() const { return {}; }
  // Whether this middleware keeps actors' return values (Results does):
  // when none does, the worker warns that a returned value is discarded.
  virtual bool keeps_results() const { return false; }

  // One empty virtual per hook in DRAMATIQ_MIDDLEWARE_HOOKS (middleware_hooks.hpp),
  // e.g. `virtual void before_ack(Broker& broker, MessageProxy& message)`.
#define DRAMATIQ_DECLARE_HOOK(name, shape, doc) \
  virtual void name(DRAMATIQ_HOOK_PARAMS_##shape) {}
  DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_DECLARE_HOOK)
#undef DRAMATIQ_DECLARE_HOOK
};

}  // namespace dramatiq
