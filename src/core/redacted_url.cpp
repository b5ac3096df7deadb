#include "dramatiq/redacted_url.hpp"

namespace dramatiq {

std::string redacted_url(std::string_view url) {
  // The authority starts after "scheme://" (or after "scheme:" when the
  // slashes are missing, a typo that must not leak either) and its user
  // information ends at the last '@' before the query: a password may hold
  // an unescaped '@' or '/'.
  std::size_t start = url.find("://");
  if (start != std::string_view::npos) {
    start += 3;
  } else {
    start = url.find(':');
    start = start == std::string_view::npos ? 0 : start + 1;
  }
  std::size_t end = url.find_first_of("?#", start);
  std::string_view authority = url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string_view user_info = authority.substr(0, at);
  std::size_t colon = user_info.find(':');
  std::string out(url.substr(0, start));
  if (colon != std::string_view::npos) {
    out += user_info.substr(0, colon + 1);
    out += "***";
  } else {
    out += "***";
  }
  out += url.substr(start + at);
  return out;
}

}  // namespace dramatiq
