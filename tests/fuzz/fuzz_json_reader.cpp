// The JSON reader on arbitrary bytes: it either rejects them with
// JsonDecodeError or returns a value that the writer can write, whose text
// (pure ASCII, as json.dumps with ensure_ascii) reads back to the same text.
#include <string>

#include "dramatiq/json.hpp"
#include "fuzz_support.hpp"

using namespace dramatiq;
using dramatiq::fuzz::invariant_failed;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Value value;
  try {
    value = read_json(text);
  } catch (const JsonDecodeError&) {
    return 0;
  }
  // Everything read is within the shared nesting limit, so it writes.
  const std::string written = to_json(value);
  for (unsigned char c : written) FUZZ_CHECK(c >= 0x20 && c < 0x7F, written);
  Value again;
  try {
    again = read_json(written);
  } catch (const JsonDecodeError& e) {
    invariant_failed("the reader rejects what the writer wrote", written + "\n" + e.what());
  }
  FUZZ_CHECK(to_json(again) == written, written);
  return 0;
}
