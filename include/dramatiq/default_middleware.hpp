// The middleware a broker gets unless told otherwise, as upstream Dramatiq's
// `dramatiq.middleware.default_middleware`. The list is owned here: the C++
// API's dramatiq::connect builds it, and Python's default_middleware is
// built from its names.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// The class names of the default middleware, in the order they run:
// AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Retries.
const std::vector<std::string>& default_middleware_names();

// A fresh instance of each default middleware, with its default settings.
std::vector<std::shared_ptr<Middleware>> default_middleware();

}  // namespace dramatiq
