// Whether a process on this host is still alive, told apart from a later
// process that reuses its pid: (pid, start time) within one boot and one
// pid namespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dramatiq::sqlite {

struct ProcessIdentity {
  std::int64_t pid = 0;
  std::int64_t started = 0;    // start time in clock ticks since boot (/proc/<pid>/stat)
  std::string boot_id;         // /proc/sys/kernel/random/boot_id
  std::string pid_namespace;   // /proc/self/ns/pid link
  std::string hostname;

  static ProcessIdentity current();
};

enum class Liveness { Alive, Dead, Unknown };

// Dead when `process` ran on this host in this boot and pid namespace and
// its pid is gone or now belongs to a process started at another time;
// Unknown when it ran elsewhere (only its heartbeat can tell).
Liveness liveness(const ProcessIdentity& process, const ProcessIdentity& self);

// The start time of `pid` (nullopt if no such process).
std::optional<std::int64_t> process_start_time(std::int64_t pid);

}  // namespace dramatiq::sqlite
