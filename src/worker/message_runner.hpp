// Runs one delivered message: the process-message hooks around its actor,
// upstream's log lines for failures, and the message published as this
// thread's current one meanwhile. Settling it is the caller's job.
#pragma once

#include "dramatiq/broker.hpp"

namespace dramatiq {

void run_message(Broker& broker, MessageProxy& message);

}  // namespace dramatiq
