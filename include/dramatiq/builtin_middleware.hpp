// The middleware that ships with dramatiq, implemented in the engine: one
// header per middleware under dramatiq/middleware/, all included here.
#pragma once

#include "dramatiq/middleware/age_limit.hpp"
#include "dramatiq/middleware/callbacks.hpp"
#include "dramatiq/middleware/current_message.hpp"
#include "dramatiq/middleware/middleware_support.hpp"
#include "dramatiq/middleware/pipelines.hpp"
#include "dramatiq/middleware/retries.hpp"
#include "dramatiq/middleware/shutdown_notifications.hpp"
#include "dramatiq/middleware/time_limit.hpp"
