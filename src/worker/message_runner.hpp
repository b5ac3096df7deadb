// Runs one delivered message: the process-message hooks around its actor,
// upstream's log lines for failures, and the message published as this
// thread's current one meanwhile. Settling it is the caller's job.
#pragma once

#include "dramatiq/broker.hpp"

namespace dramatiq {

void run_message(Broker& broker, MessageProxy& message);

// A cancelled message that must not run: marked cancelled (not failed, so
// it is acked) with a Cancelled failure for the result backend, logged,
// and after_skip_message emitted.
void skip_cancelled(Broker& broker, MessageProxy& message);

}  // namespace dramatiq
