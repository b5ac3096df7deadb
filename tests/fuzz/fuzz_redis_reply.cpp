// What a Redis server sends, as the engine reads it: bytes fed to the
// reply reader in the chunks the input chooses (a reply split across reads
// must come out the same), each reply taken as a fetch script's answer,
// and every message in it decoded as a worker would. Malformed RESP is a
// ReplyProtocolError, a reply of the wrong shape a ConnectionClosed; never
// anything else.
#include <string>

#include "dramatiq/consumer.hpp"
#include "dramatiq/errors.hpp"
#include "fuzz_support.hpp"
#include "redis/reply_reader.hpp"

using namespace dramatiq;
using dramatiq::fuzz::Input;

namespace {

struct Decoding : Consumer {
  using Consumer::decode_delivery;
};

// A reply and its replies, counted, so that chunked and whole feeding can
// be compared.
void describe(const redis::Reply& reply, std::string& out) {
  out += std::to_string(static_cast<int>(reply.type));
  out += ':';
  out += std::to_string(reply.integer);
  out += ':';
  out += std::to_string(reply.str.size());
  out += reply.str;
  out += '[';
  for (const auto& element : reply.elements) describe(element, out);
  out += ']';
}

// Feeds `stream` in chunks whose sizes come from `sizes`; returns the
// replies read, described, and whether the reader refused the bytes.
std::string read_all(std::string_view stream, Input* sizes, bool decode) {
  redis::ReplyReader reader;
  std::string replies;
  std::size_t pos = 0;
  try {
    while (pos < stream.size()) {
      std::size_t chunk = sizes ? 1 + sizes->byte() % 64 : stream.size();
      chunk = std::min(chunk, stream.size() - pos);
      reader.feed(stream.data() + pos, chunk);
      pos += chunk;
      while (auto reply = reader.next()) {
        describe(*reply, replies);
        if (!decode) continue;
        try {
          auto fetched = redis::split_fetch_reply(std::move(*reply));
          for (auto& message : fetched.messages) {
            static_cast<void>(Decoding::decode_delivery("default", std::move(message.data), message.id));
          }
        } catch (const ConnectionClosed&) {
        }
      }
    }
  } catch (const redis::ReplyProtocolError&) {
    replies += "!protocol error";
  }
  return replies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  // The first 16 bytes choose the chunk sizes; the rest is the stream.
  std::string sizes_bytes;
  for (int i = 0; i < 16; ++i) sizes_bytes.push_back(static_cast<char>(in.byte()));
  std::string_view stream = in.rest();
  Input sizes(reinterpret_cast<const std::uint8_t*>(sizes_bytes.data()), sizes_bytes.size());
  std::string whole = read_all(stream, nullptr, true);
  std::string chunked = read_all(stream, &sizes, false);
  FUZZ_CHECK(whole == chunked, whole + "\n---\n" + chunked);
  return 0;
}
