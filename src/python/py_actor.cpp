#include "py_actor.hpp"

#include <optional>

#include "runtime.hpp"

namespace dramatiq::python {

namespace {
// An actor's result that has no JSON form, with the reason the conversion
// gave (a list that holds itself: "Circular reference detected").
class RefusedResult : public PyObjectRef {
 public:
  RefusedResult(nb::object object, std::string reason) : PyObjectRef(std::move(object)), reason_(std::move(reason)) {}
  std::string json_refusal() const override { return reason_; }

 private:
  std::string reason_;
};
}  // namespace

PyActorBody::~PyActorBody() {
  if (!Py_IsInitialized()) {
    function_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  function_.reset();
}

Value PyActorBody::run(MessageProxy& message) {
  // The only Python work per message on the fast path: build the
  // arguments, call the function, convert its result. Worker threads keep
  // the GIL between consecutive messages (see hold_gil).
  std::optional<nb::gil_scoped_acquire> gil;
  if (!hold_gil()) gil.emplace();
  try {
    nb::object args = args_to_python(message.message.args);
    nb::object kwargs = message.message.kwargs.as_object().empty() ? nb::object()
                                                                    : from_value(message.message.kwargs);
    PyObject* result = PyObject_Call(function_.ptr(), args.ptr(), kwargs.is_valid() ? kwargs.ptr() : nullptr);
    if (!result) throw nb::python_error();
    nb::object owned = nb::steal(result);
    if (result == Py_None) return Value();
    try {
      return to_value(owned);
    } catch (const nb::python_error& refused) {
      // A result that is no JSON value (one that holds itself, one nested
      // too deeply) is the Results middleware's to refuse when it stores
      // it, as upstream's does: that failure is logged and the message,
      // whose actor succeeded, is acked rather than retried.
      return Value(ForeignPtr(std::make_shared<RefusedResult>(owned, nb::cast<std::string>(nb::str(refused.value())))));
    }
  } catch (const nb::python_error& error) {
    throw HostException(failure_from_python(error));
  } catch (const HostException&) {
    throw;
  } catch (...) {
    // Whatever failed must not leave a Python error set for the next
    // Python call on this thread to trip over.
    if (PyErr_Occurred()) {
      nb::python_error error;
      throw HostException(failure_from_python(error));
    }
    throw;
  }
}

}  // namespace dramatiq::python
