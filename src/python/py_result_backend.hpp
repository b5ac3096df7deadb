// A Python ResultBackend subclass (one that implements _get/_store itself)
// as the engine's result backend: the Results middleware and blocking
// get_result() run in C++ and call into Python for storage only.
#pragma once

#include "dramatiq/result_backend.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

class PyResultBackend : public ResultBackend {
 public:
  // `backend`: the Python object; `missing`: the sentinel its _get returns
  // when nothing is stored; `custom_keys`: whether its class overrides
  // build_message_key.
  PyResultBackend(nb::object backend, nb::object missing, bool custom_keys, ResultBackendOptions options);
  ~PyResultBackend() override;

  std::string build_message_key(const Message& message) const override;
  void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) override;
  std::optional<Value> get(const std::string& key) override;

 private:
  // Python objects are reached through a weak reference: the Python
  // backend owns this adapter, not the other way round.
  nb::object backend() const;
  nb::object backend_ref_;
  nb::object missing_;
  bool custom_keys_;
};

}  // namespace dramatiq::python
