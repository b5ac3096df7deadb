// A patched dramatiq.worker._WorkerThread.process_message, honoured: when
// the Python Worker finds the method replaced (opentelemetry-instrumentor-
// dramatiq wraps it to open a span per message), its engine worker threads
// hand each message to Python (ThreadHooks::around_message), and the
// original method, called by the wrapper, processes it in the engine
// (process_current_message). Unpatched, none of this runs.
#include "dramatiq/log.hpp"
#include "dramatiq/worker.hpp"
#include "py_common.hpp"
#include "runtime.hpp"

namespace dramatiq::python {

using namespace nb::literals;

namespace {

// The message this worker thread handed to Python and has not processed yet.
struct PendingMessage {
  MessageProxy* message;
  const std::function<void()>* process;
  bool processed = false;
};
thread_local PendingMessage* pending = nullptr;

void process_current_message(nb::handle delivery) {
  MessageProxy* message = nb::isinstance<MessageProxy>(delivery) ? nb::cast<MessageProxy*>(delivery) : nullptr;
  if (!pending || pending->processed || message != pending->message) {
    throw nb::value_error("process_message() may only be called once, on a worker thread, with the "
                          "message that thread is processing");
  }
  pending->processed = true;
  // With the GIL held, as the worker thread runs Python actors (hold_gil).
  (*pending->process)();
}

}  // namespace

std::function<void(MessageProxy&, const std::function<void()>&)> around_message_in_python(nb::object dispatch) {
  ForeignPtr held = wrap(dispatch);  // dropped with the GIL, whichever thread lets go last
  return [held](MessageProxy& message, const std::function<void()>& process) {
    const nb::object& call = static_cast<const PyObjectRef&>(*held).object();
    hold_gil();  // always true on an engine worker thread
    PendingMessage current{&message, &process};
    struct Restore {
      PendingMessage* outer = pending;
      ~Restore() { pending = outer; }
    } restore;
    pending = &current;
    try {
      call(proxy_view(message));
    } catch (nb::python_error& error) {
      Failure failure = failure_from_python(error);
      log::write(log::Level::Error, "dramatiq.worker.WorkerThread",
                 "Unhandled error in a patched process_message for message " + message.message.describe() + ".",
                 &failure);
    }
  };
}

void bind_process_message(nb::module_& m) {
  m.def("process_current_message", &process_current_message, "delivery"_a,
        "Processes the message a worker thread handed to a patched _WorkerThread.process_message.");
}

}  // namespace dramatiq::python
