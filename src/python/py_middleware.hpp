// A Python dramatiq.Middleware subclass seen by the engine as a Middleware:
// only the hooks that class overrides are called, each with the GIL held
// and with upstream's arguments.
#pragma once

#include <bitset>

#include "dramatiq/middleware.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

#define DRAMATIQ_HOOK_ENUMERATOR(name, shape, doc) name,
enum class Hook { DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_HOOK_ENUMERATOR) count };
#undef DRAMATIQ_HOOK_ENUMERATOR

// Hook names in enum order (for lookups by name).
const char* hook_name(Hook hook);

// What the Python base class needs to define a hook: its name, the Python
// parameters the adapter calls it with (after self; `keyword` ones are
// keyword-only, default None) and its docstring.
struct PythonHookSpec {
  const char* name;
  std::vector<const char*> positional;
  std::vector<const char*> keyword;
  const char* doc;
};
const std::vector<PythonHookSpec>& python_hook_specs();

class PyMiddleware : public Middleware {
 public:
  // `hooks`: the names of the hooks the Python class overrides.
  // `broker`: a weak reference (callable) to the Python broker.
  PyMiddleware(nb::object middleware, const std::vector<std::string>& hooks, nb::object broker);
  ~PyMiddleware() override;

  std::string name() const override { return name_; }
  std::vector<std::string> actor_options() const override;
  const nb::object& object() const { return middleware_; }

  // Every hook the Python class overrides forwards to the call() overload for
  // its shape; the others return at once.
#define DRAMATIQ_PY_HOOK_OVERRIDE(name, shape, doc)                    \
  void name(DRAMATIQ_HOOK_PARAMS_##shape) override {                   \
    if (has(Hook::name)) call(Hook::name, DRAMATIQ_HOOK_ARGS_##shape); \
  }
  DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_PY_HOOK_OVERRIDE)
#undef DRAMATIQ_PY_HOOK_OVERRIDE

 private:
  bool has(Hook hook) const { return hooks_.test(static_cast<std::size_t>(hook)); }
  nb::object method(Hook hook) const;
  nb::object broker() const;
  void call(Hook hook, Broker&, MessageProxy& message);
  void call(Hook hook, Broker&, Actor& actor);
  void call(Hook hook, Broker&, const std::string& queue_name);
  void call(Hook hook, Broker&, Message& message, Delay delay);
  void call(Hook hook, Broker&, MessageProxy& message, const Value* result, const Failure* failure);
  void call(Hook hook, Broker&);
  void call(Hook hook, Broker&, Worker& worker);
  void call(Hook hook, Broker&, const ThreadInfo& info);

  nb::object middleware_;
  nb::object broker_ref_;
  std::bitset<static_cast<std::size_t>(Hook::count)> hooks_;
  std::string name_;
};

}  // namespace dramatiq::python
