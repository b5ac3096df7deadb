#include "dramatiq/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>

namespace dramatiq::log {

namespace {
std::mutex sink_mutex;
std::shared_ptr<Sink> current_sink;
std::atomic<int> min_level{static_cast<int>(Level::Info)};

void deliver(const Record& record) {
  if (!enabled(record.level)) return;
  std::shared_ptr<Sink> sink;
  {
    std::lock_guard lock(sink_mutex);
    sink = current_sink;
  }
  if (sink) {
    (*sink)(record);
    return;
  }
  std::cerr << "[" << record.logger << "] " << record.text() << "\n";
  if (const Failure* failure = record.failure) {
    std::cerr << (failure->traceback.empty() ? failure->type_name + ": " + failure->message
                                             : failure->traceback)
              << "\n";
  }
}

// Python's repr of a str, for the usual case (no quote inside: single quotes).
std::string repr_text(const std::string& text) {
  char quote = text.find('\'') != std::string::npos && text.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += quote;
  return out;
}

std::string number_text(const std::string& spec, char conversion, const Arg& arg) {
  char buffer[64];
  std::string pattern = "%" + spec;
  if (conversion == 'f' || conversion == 'g' || conversion == 'e') {
    double value = std::holds_alternative<double>(arg) ? std::get<double>(arg)
                                                      : static_cast<double>(std::get<std::int64_t>(arg));
    pattern += conversion;
    std::snprintf(buffer, sizeof buffer, pattern.c_str(), value);
  } else {
    long long value = std::holds_alternative<std::int64_t>(arg) ? std::get<std::int64_t>(arg)
                                                               : static_cast<long long>(std::get<double>(arg));
    pattern += "lld";
    std::snprintf(buffer, sizeof buffer, pattern.c_str(), value);
  }
  return buffer;
}

std::string plain_text(const Arg& arg) {
  if (const auto* text = std::get_if<std::string>(&arg)) return *text;
  if (const auto* integer = std::get_if<std::int64_t>(&arg)) return std::to_string(*integer);
  // Python's str of a float: shortest round trip.
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", std::get<double>(arg));
  for (int digits = 1; digits < 17; ++digits) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", digits, std::get<double>(arg));
    if (std::strtod(shorter, nullptr) == std::get<double>(arg)) return shorter;
  }
  return buffer;
}
}  // namespace

std::string format_text(std::string_view format, std::span<const Arg> args) {
  if (args.empty()) return std::string(format);
  std::string out;
  std::size_t next_arg = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%' || i + 1 >= format.size()) {
      out += c;
      continue;
    }
    std::size_t end = i + 1;
    while (end < format.size() && std::string_view("0123456789.-+ #").find(format[end]) != std::string_view::npos) {
      ++end;
    }
    if (end >= format.size()) {
      out.append(format.substr(i));
      break;
    }
    char conversion = format[end];
    std::string spec(format.substr(i + 1, end - i - 1));
    i = end;
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (next_arg >= args.size()) {
      out += '%' + spec + conversion;
      continue;
    }
    const Arg& arg = args[next_arg++];
    if (conversion == 'r' && std::holds_alternative<std::string>(arg)) {
      out += repr_text(std::get<std::string>(arg));
    } else if (conversion == 's' || conversion == 'r' || std::holds_alternative<std::string>(arg)) {
      out += plain_text(arg);
    } else {
      out += number_text(spec, conversion, arg);
    }
  }
  return out;
}

std::string Record::text() const { return format_text(format, args); }

void set_sink(Sink sink) {
  std::lock_guard lock(sink_mutex);
  current_sink = sink ? std::make_shared<Sink>(std::move(sink)) : nullptr;
}

void set_min_level(Level level) { min_level.store(static_cast<int>(level)); }

bool enabled(Level level) { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view logger, std::string_view message, const Failure* failure) {
  deliver(Record{level, logger, message, {}, failure});
}

void write(Level level, std::string_view logger, std::string_view format, std::initializer_list<Arg> args,
           const Failure* failure) {
  deliver(Record{level, logger, format, std::span<const Arg>(args.begin(), args.size()), failure});
}

}  // namespace dramatiq::log
