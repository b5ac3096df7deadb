#include "py_common.hpp"

namespace dramatiq::python {

nb::object proxy_view(MessageProxy& proxy) {
  if (auto* ref = dynamic_cast<const PyObjectRef*>(proxy.host_view.get())) return ref->object();
  std::shared_ptr<MessageProxy> shared;
  try {
    shared = proxy.shared_from_this();
  } catch (const std::bad_weak_ptr&) {
    // Not owned by a shared_ptr (should not happen for deliveries): give the
    // view a detached copy.
    shared = std::make_shared<MessageProxy>(proxy);
  }
  nb::object view = registry().proxy_class(nb::cast(shared), message_to_python(proxy.message));
  proxy.host_view = wrap(view);
  return view;
}

nb::object proxy_view(const std::shared_ptr<MessageProxy>& proxy) { return proxy_view(*proxy); }

void sync_options_to_view(MessageProxy& proxy) {
  auto* ref = dynamic_cast<const PyObjectRef*>(proxy.host_view.get());
  if (!ref) return;
  nb::object options = nb::getattr(ref->object(), "options");
  options.attr("clear")();
  options.attr("update")(from_value(proxy.message.options));
}

void sync_options_from_view(MessageProxy& proxy) {
  auto* ref = dynamic_cast<const PyObjectRef*>(proxy.host_view.get());
  if (!ref) return;
  Value options = to_value(nb::getattr(ref->object(), "options"));
  if (options.is_object()) proxy.message.options = std::move(options);
}

}  // namespace dramatiq::python
