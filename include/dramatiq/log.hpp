// Engine logging. Records go to a sink installed by the host (the Python
// bindings forward them to `logging`); without a sink, to stderr.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "dramatiq/failure.hpp"

namespace dramatiq::log {

enum class Level { Debug = 10, Info = 20, Warning = 30, Error = 40, Critical = 50 };

// One argument of a record's format: text, or a number.
using Arg = std::variant<std::string, std::int64_t, double>;

// One log record, kept as a %-format and its arguments (as upstream calls
// `logger.info("Retrying message %r in %d milliseconds.", ...)`), so a host
// with its own logging hands both on unchanged and filters written against
// upstream's format strings match ours.
struct Record {
  Level level;
  // A dotted name as upstream uses, e.g. "dramatiq.worker.WorkerThread".
  std::string_view logger;
  // Python %-style: %s, %r, %d, %f with optional width/precision, %%.
  // Without args it is the text itself, taken literally.
  std::string_view format;
  std::span<const Arg> args;
  // The exception being reported, if any (the host attaches it as
  // exc_info; other sinks print its traceback).
  const Failure* failure = nullptr;

  // The formatted text (a string's %r quoted as Python's repr mostly is).
  std::string text() const;
};

using Sink = std::function<void(const Record&)>;

void set_sink(Sink sink);
// The lowest level worth formatting; the host keeps this in sync with its
// logging configuration so disabled records cost nothing.
void set_min_level(Level level);
bool enabled(Level level);
// A record whose text is final (no arguments).
void write(Level level, std::string_view logger, std::string_view message,
           const Failure* failure = nullptr);
// A record with a %-format and its arguments.
void write(Level level, std::string_view logger, std::string_view format,
           std::initializer_list<Arg> args, const Failure* failure = nullptr);

// Formats as Python's `format % args` does for the conversions Record allows.
std::string format_text(std::string_view format, std::span<const Arg> args);

}  // namespace dramatiq::log
