#include "dramatiq/default_middleware.hpp"

#include <stdexcept>

#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

const std::vector<std::string>& default_middleware_names() {
  static const std::vector<std::string> names{"AgeLimit",  "TimeLimit", "ShutdownNotifications",
                                              "Callbacks", "Pipelines", "Retries"};
  return names;
}

namespace {
std::shared_ptr<Middleware> make_default(const std::string& name) {
  if (name == "AgeLimit") return std::make_shared<AgeLimit>();
  if (name == "TimeLimit") return std::make_shared<TimeLimit>();
  if (name == "ShutdownNotifications") return std::make_shared<ShutdownNotifications>();
  if (name == "Callbacks") return std::make_shared<Callbacks>();
  if (name == "Pipelines") return std::make_shared<Pipelines>();
  if (name == "Retries") return std::make_shared<Retries>();
  throw std::logic_error("no default middleware named " + name);
}
}  // namespace

std::vector<std::shared_ptr<Middleware>> default_middleware() {
  std::vector<std::shared_ptr<Middleware>> list;
  for (const auto& name : default_middleware_names()) list.push_back(make_default(name));
  return list;
}

}  // namespace dramatiq
