#include "py_actor.hpp"

#include <optional>

#include "runtime.hpp"

namespace dramatiq::python {

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
    // A result that is no JSON value (one that holds itself, one nested too
    // deeply) fails the message as the actor's own exception would.
    return to_value(owned);
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
