#include "dramatiq/result_backend.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <thread>

namespace dramatiq {

namespace {

constexpr const char* kCanary = "dramatiq.results.Result";

std::string md5_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr) != 1) {
    throw DramatiqError("md5 is not available from OpenSSL");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace

ResultFailure::ResultFailure(std::string exception_type, std::string exception_message)
    : ResultError("actor raised " + exception_type + ": " + exception_message),
      exception_type(std::move(exception_type)),
      exception_message(std::move(exception_message)) {}

Value wrap_exception(const std::string& type_name, const std::string& message) {
  return Value(Object{{"__t", Value(kCanary)},
                      {"exn", Value(Object{{"type", Value(type_name)}, {"msg", Value(message)}})}});
}

bool is_wrapped_exception(const Value& stored) {
  if (!stored.is_object()) return false;
  const Value* tag = stored.find("__t");
  return tag && tag->is_string() && tag->as_string() == kCanary;
}

const Value& unwrap_result(const Value& stored) {
  if (!is_wrapped_exception(stored)) return stored;
  // Stored by us or by upstream: take what is there, tolerate what is not.
  auto text = [](const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); };
  const Value* exn = stored.find("exn");
  const Value* type = exn && exn->is_object() ? exn->find("type") : nullptr;
  const Value* msg = exn && exn->is_object() ? exn->find("msg") : nullptr;
  throw ResultFailure(text(type), text(msg));
}

ResultBackend::ResultBackend(ResultBackendOptions options) : options_(std::move(options)) {
  // As upstream: the encoder is the one in effect when the backend is made.
  if (!options_.encoder) options_.encoder = get_encoder();
}

std::string ResultBackend::build_message_key(const Message& message) const {
  std::string key = options_.key_namespace + ":" + canonical_queue_name(message.queue_name) + ":" +
                    message.actor_name + ":" + message.message_id;
  return options_.use_namespace_prefix_keys ? key : md5_hex(key);
}

void ResultBackend::store_result(const Message& message, const Value& result, std::int64_t ttl_ms) {
  put(build_message_key(message), result, ttl_ms);
}

void ResultBackend::store_exception(const Message& message, const Failure& failure,
                                    std::int64_t ttl_ms) {
  put(build_message_key(message), wrap_exception(failure.type_name, failure.message), ttl_ms);
}

Value ResultBackend::get_stored(const Message& message, bool block,
                                std::optional<std::chrono::milliseconds> timeout) {
  std::string key = build_message_key(message);
  std::optional<Value> stored = block ? wait(key, timeout.value_or(kDefaultTimeout)) : get(key);
  if (stored) return std::move(*stored);
  if (block) throw ResultTimeout("timed out waiting for the result of " + message.message_id);
  throw ResultMissing("no result stored for " + message.message_id);
}

Value ResultBackend::get_result(const Message& message, bool block,
                                std::optional<std::chrono::milliseconds> timeout) {
  Value stored = get_stored(message, block, timeout);
  unwrap_result(stored);
  return stored;
}

std::optional<Value> ResultBackend::wait(const std::string& key, std::chrono::milliseconds timeout) {
  // Poll: 1 ms at first, doubling up to 50 ms, so a result that lands soon
  // is seen soon without hammering a backend that cannot block.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds pause{1};
  while (true) {
    if (auto stored = get(key)) return stored;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

std::string ResultBackend::encode(const Value& value) const { return options_.encoder->encode_value(value); }

Value ResultBackend::decode(std::string_view data) const { return options_.encoder->decode_value(data); }

}  // namespace dramatiq
