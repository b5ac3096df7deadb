#include "py_result_backend.hpp"

namespace dramatiq::python {

PyResultBackend::PyResultBackend(nb::object backend, nb::object missing, bool custom_keys,
                                 ResultBackendOptions options)
    : ResultBackend(std::move(options)),
      backend_ref_(nb::module_::import_("weakref").attr("ref")(backend)),
      missing_(std::move(missing)),
      custom_keys_(custom_keys) {}

PyResultBackend::~PyResultBackend() {
  if (!Py_IsInitialized()) {
    backend_ref_.release();
    missing_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  backend_ref_.reset();
  missing_.reset();
}

nb::object PyResultBackend::backend() const {
  nb::object backend = backend_ref_();
  if (backend.is_none()) throw DramatiqError("the result backend was garbage-collected");
  return backend;
}

std::string PyResultBackend::build_message_key(const Message& message) const {
  if (!custom_keys_) return ResultBackend::build_message_key(message);
  nb::gil_scoped_acquire gil;
  try {
    return nb::cast<std::string>(backend().attr("build_message_key")(message_to_python(message)));
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

void PyResultBackend::put(const std::string& key, const Value& stored, std::int64_t ttl_ms) {
  nb::gil_scoped_acquire gil;
  try {
    backend().attr("_store")(key, from_value(stored), ttl_ms);
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

std::optional<Value> PyResultBackend::get(const std::string& key) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object stored = backend().attr("_get")(key);
    if (stored.is(missing_)) return std::nullopt;
    return to_value(stored);
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

}  // namespace dramatiq::python
