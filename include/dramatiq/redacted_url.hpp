// URLs in messages: a broker or backend URL may carry a password
// (redis://:secret@host, amqp://user:secret@host/vhost), and no log line or
// exception message may show it.
#pragma once

#include <string>
#include <string_view>

namespace dramatiq {

// `url` with the password of its user information replaced by "***"
// ("amqp://user:***@host/vh"); user information without a colon may be a
// bare password (redis://secret@host), so it is replaced whole. A URL
// without user information is returned as it is.
std::string redacted_url(std::string_view url);

}  // namespace dramatiq
