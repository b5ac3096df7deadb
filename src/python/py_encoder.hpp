#pragma once

#include "dramatiq/encoder.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

// Any Python dramatiq.Encoder (Pickle, msgpack, user-written) as the
// engine's encoder: the slow path, taking the GIL for every message.
class PyEncoder : public Encoder {
 public:
  explicit PyEncoder(nb::object encoder) : encoder_(std::move(encoder)) {}
  ~PyEncoder() override;
  std::string encode(const Message& message) override;
  Message decode(std::string_view data) override;
  std::string encode_value(const Value& value) override;
  Value decode_value(std::string_view data) override;

 private:
  // encoder.encode(data) as bytes; call with the GIL held.
  std::string encode_object(nb::handle data);
  nb::object encoder_;
};

}  // namespace dramatiq::python
