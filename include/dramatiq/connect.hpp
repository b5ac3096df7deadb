// Brokers and result backends by URL, with the default middleware: how a
// C++ program gets a broker in one line.
//
//   auto broker = dramatiq::connect("redis://localhost:6379/0");
//   broker->add_middleware(std::make_shared<dramatiq::Results>(
//       dramatiq::result_backend_from_url("redis://localhost:6379/0")));
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/result_backend.hpp"

namespace dramatiq {

// The URL schemes a broker can be named by, as Python's from_url takes them.
const std::vector<std::string>& broker_url_schemes();

// The lower-cased scheme of a broker URL; throws std::invalid_argument
// ("Unsupported broker URL ...") for a URL of no known scheme.
std::string broker_url_scheme(std::string_view url);

struct ConnectOptions {
  // The broker's middleware; unset: default_middleware().
  std::optional<std::vector<std::shared_ptr<Middleware>>> middleware;
};

// The broker a URL names: `sqlite:///path` (the embedded broker),
// `redis://`, `rediss://` (TLS) or `unix://` (RedisBroker), `amqp://` or
// `amqps://` (RabbitmqBroker), `stub://` (an in-process StubBroker). Throws
// std::invalid_argument for an unknown scheme, a malformed URL or a backend
// this library was built without (DRAMATIQ_WITH_*); connecting to a Redis
// or RabbitMQ server happens on first use.
std::shared_ptr<Broker> connect(std::string_view url, ConnectOptions options = {});

// A result backend by URL: `redis://`, `rediss://`, `unix://`, `sqlite:///`
// (a table in that embedded-broker file) or `stub://` (in-process).
std::shared_ptr<ResultBackend> result_backend_from_url(std::string_view url,
                                                       ResultBackendOptions options = {});

}  // namespace dramatiq
