#include "core/url.hpp"

#include <algorithm>
#include <cctype>

namespace dramatiq {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<UrlParameter> parse_query(std::string_view query, bool form_encoded) {
  std::vector<UrlParameter> parameters;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    UrlParameter parameter;
    parameter.name = percent_decode(pair.substr(0, eq), form_encoded);
    if (eq != std::string_view::npos) {
      parameter.value = percent_decode(pair.substr(eq + 1), form_encoded);
      parameter.has_value = true;
    }
    parameters.push_back(std::move(parameter));
  }
  return parameters;
}

}  // namespace

std::string url_scheme(std::string_view url) {
  auto end = url.find("://");
  std::string scheme(end == std::string_view::npos ? std::string_view() : url.substr(0, end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return scheme;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

ParsedUrl parse_url(std::string_view url, UrlSyntax syntax) {
  ParsedUrl parsed;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return parsed;
  parsed.scheme = url_scheme(url);
  std::string_view rest = url.substr(scheme_end + 3);

  if (auto mark = rest.find('?'); mark != std::string_view::npos) {
    parsed.query = parse_query(rest.substr(mark + 1), syntax.form_encoded_query);
    rest = rest.substr(0, mark);
  }
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    parsed.fragment = std::string(rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }

  std::size_t at = std::string_view::npos;
  if (syntax.user_info == UrlSyntax::UserInfo::kInAuthority) {
    at = rest.substr(0, rest.find('/')).rfind('@');
  } else if (syntax.user_info == UrlSyntax::UserInfo::kToLastAt) {
    at = rest.rfind('@');
  }
  if (at != std::string_view::npos) {
    std::string_view user_info = rest.substr(0, at);
    auto colon = user_info.find(':');
    parsed.username = percent_decode(user_info.substr(0, colon));
    if (colon != std::string_view::npos) parsed.password = percent_decode(user_info.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  parsed.location = std::string(rest);
  return parsed;
}

UrlEndpoint ParsedUrl::endpoint() const {
  UrlEndpoint endpoint;
  std::string_view authority = location;
  if (auto slash = authority.find('/'); slash != std::string_view::npos) {
    endpoint.path = std::string(authority.substr(slash));
    authority = authority.substr(0, slash);
  }
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {  // [ipv6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw InvalidUrl("Invalid IPv6 host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() == ':') endpoint.port = std::string(after.substr(1));
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    endpoint.port = std::string(authority.substr(colon + 1));
  }
  endpoint.host = percent_decode(host);
  return endpoint;
}

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
