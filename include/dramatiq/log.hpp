// Engine logging. Records go to a sink installed by the host (the Python
// bindings forward them to `logging`); without a sink, to stderr.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "dramatiq/failure.hpp"

namespace dramatiq::log {

enum class Level { Debug = 10, Info = 20, Warning = 30, Error = 40, Critical = 50 };

// logger: a dotted name as upstream uses, e.g. "dramatiq.worker.WorkerThread".
// failure: the exception being reported, if any (the host attaches it as
// exc_info; other sinks print its traceback).
using Sink = std::function<void(Level, std::string_view logger, std::string_view message,
                                const Failure* failure)>;

void set_sink(Sink sink);
// The lowest level worth formatting; the host keeps this in sync with its
// logging configuration so disabled records cost nothing.
void set_min_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view logger, std::string_view message,
           const Failure* failure = nullptr);

}  // namespace dramatiq::log
