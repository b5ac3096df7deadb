#include "py_encoder.hpp"

#include "dramatiq/errors.hpp"

namespace dramatiq::python {

PyEncoder::~PyEncoder() {
  if (!Py_IsInitialized()) {
    encoder_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  encoder_.reset();
}

std::string PyEncoder::encode(const Message& message) {
  nb::gil_scoped_acquire gil;
  nb::dict fields;
  fields["queue_name"] = nb::str(message.queue_name.c_str());
  fields["actor_name"] = nb::str(message.actor_name.c_str());
  fields["args"] = args_to_python(message.args);
  fields["kwargs"] = from_value(message.kwargs);
  fields["options"] = from_value(message.options);
  fields["message_id"] = nb::str(message.message_id.c_str());
  fields["message_timestamp"] = nb::int_(message.message_timestamp);
  return encode_object(fields);
}

std::string PyEncoder::encode_object(nb::handle data) {
  try {
    nb::object encoded = encoder_.attr("encode")(data);
    if (PyBytes_Check(encoded.ptr())) {
      return std::string(PyBytes_AS_STRING(encoded.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded.ptr())));
    }
    if (PyUnicode_Check(encoded.ptr())) return nb::cast<std::string>(encoded);
    throw nb::type_error("Encoder.encode must return bytes");
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

std::string PyEncoder::encode_value(const Value& value) {
  nb::gil_scoped_acquire gil;
  return encode_object(from_value(value));
}

Value PyEncoder::decode_value(std::string_view data) {
  nb::gil_scoped_acquire gil;
  try {
    return to_value(encoder_.attr("decode")(nb::bytes(data.data(), data.size())));
  } catch (const nb::python_error& e) {
    std::string reason = nb::cast<std::string>(nb::str(e.value()));
    throw DecodeError("Failed to decode value: " + reason);
  }
}

Message PyEncoder::decode(std::string_view data) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object fields = encoder_.attr("decode")(nb::bytes(data.data(), data.size()));
    return Message::from_value(to_value(fields));
  } catch (const nb::python_error& e) {
    std::string reason = nb::cast<std::string>(nb::str(e.value()));
    throw DecodeError("Failed to decode message: " + reason);
  }
}

}  // namespace dramatiq::python
