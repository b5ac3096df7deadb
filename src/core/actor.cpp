#include "dramatiq/actor.hpp"

namespace dramatiq {

bool is_valid_queue_name(const std::string& name) {
  // Same rule as upstream: [a-zA-Z_][a-zA-Z0-9._-]*
  if (name.empty()) return false;
  char first = name.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace dramatiq
