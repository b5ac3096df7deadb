#include "sqlite/liveness.hpp"

#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>

namespace dramatiq::sqlite {

namespace {
std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}
}  // namespace

std::optional<std::int64_t> process_start_time(std::int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces:
  // count fields from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // Fields from 3 (state) on; starttime is field 22.
  for (int index = 3; fields >> field; ++index) {
    if (index == 22) {
      // A zombie has exited: its leases are as good as returned.
      if (stat[close + 2] == 'Z') return std::nullopt;
      return std::stoll(field);
    }
  }
  return std::nullopt;
}

ProcessIdentity ProcessIdentity::current() {
  ProcessIdentity self;
  self.pid = ::getpid();
  self.started = process_start_time(self.pid).value_or(0);
  self.boot_id = first_line("/proc/sys/kernel/random/boot_id");
  char link[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/ns/pid", link, sizeof link - 1);
  self.pid_namespace = n > 0 ? std::string(link, static_cast<std::size_t>(n)) : std::string();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  self.hostname = host;
  return self;
}

Liveness liveness(const ProcessIdentity& process, const ProcessIdentity& self) {
  if (process.boot_id.empty() || process.boot_id != self.boot_id ||
      process.pid_namespace != self.pid_namespace || process.hostname != self.hostname) {
    return Liveness::Unknown;
  }
  auto started = process_start_time(process.pid);
  if (!started || *started != process.started) return Liveness::Dead;
  return Liveness::Alive;
}

}  // namespace dramatiq::sqlite
