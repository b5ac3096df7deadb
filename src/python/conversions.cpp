#include <Python.h>

#include <algorithm>
#include <cmath>

#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

Registry& registry() {
  // Deliberately leaked: these references must outlive every engine thread,
  // and interpreter teardown order would otherwise decref them too late.
  static Registry* instance = new Registry();
  return *instance;
}

PyObjectRef::~PyObjectRef() {
  if (!Py_IsInitialized()) {
    object_.release();  // the interpreter is gone; nothing to give back
    return;
  }
  nb::gil_scoped_acquire gil;
  object_.reset();
}

std::string PyObjectRef::type_name() const {
  nb::gil_scoped_acquire gil;
  return Py_TYPE(object_.ptr())->tp_name;
}

bool PyObjectRef::is_instance_of(const ForeignObject& classes) const {
  auto* other = dynamic_cast<const PyObjectRef*>(&classes);
  if (!other) return false;
  nb::gil_scoped_acquire gil;
  int result = PyObject_IsInstance(object_.ptr(), other->object_.ptr());
  if (result < 0) {
    PyErr_Clear();
    return false;
  }
  return result == 1;
}

Value PyObjectRef::call(const Array& args) const {
  nb::gil_scoped_acquire gil;
  nb::list list;
  for (const auto& arg : args) list.append(from_value(arg));
  try {
    return to_value(object_(*nb::tuple(list)));
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

ForeignPtr wrap(nb::handle object) { return std::make_shared<PyObjectRef>(nb::borrow(object)); }

std::string text_from_python(nb::handle text) {
  Py_ssize_t size;
  const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (data) return std::string(data, static_cast<std::size_t>(size));
  // Lone surrogates ("\udc00") are not UTF-8: keep them as their 3-byte
  // pattern, which write_json escapes back as json.dumps does.
  PyErr_Clear();
  PyObject* bytes = PyUnicode_AsEncodedString(text.ptr(), "utf-8", "surrogatepass");
  if (!bytes) throw nb::python_error();
  std::string out(PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes)));
  Py_DECREF(bytes);
  return out;
}

nb::str text_to_python(std::string_view text) {
  const auto size = static_cast<Py_ssize_t>(text.size());
  PyObject* str = PyUnicode_DecodeUTF8(text.data(), size, "surrogatepass");
  if (!str) {
    // Not even UTF-8 with surrogates (bytes from a C++ caller): show
    // them rather than fail, this is text for people to read.
    PyErr_Clear();
    str = PyUnicode_DecodeUTF8(text.data(), size, "backslashreplace");
    if (!str) throw nb::python_error();
  }
  return nb::steal<nb::str>(str);
}

namespace {

std::string key_to_string(nb::handle key) {
  PyObject* k = key.ptr();
  if (PyUnicode_Check(k)) return text_from_python(key);
  // json.dumps turns these key types into strings the same way.
  if (k == Py_True) return "true";
  if (k == Py_False) return "false";
  if (k == Py_None) return "null";
  if (PyLong_Check(k)) return nb::cast<std::string>(nb::str(nb::handle(k)));
  if (PyFloat_Check(k)) {
    double d = PyFloat_AsDouble(k);
    if (d != d) return "NaN";
    if (d == std::numeric_limits<double>::infinity()) return "Infinity";
    if (d == -std::numeric_limits<double>::infinity()) return "-Infinity";
    return nb::cast<std::string>(nb::repr(nb::handle(k)));
  }
  throw nb::type_error(("keys must be str, int, float, bool or None, not " +
                        std::string(Py_TYPE(k)->tp_name))
                           .c_str());
}

// Python -> Value for one top-level object. It keeps the containers it is
// inside of, so that a container holding itself is refused as json.dumps
// refuses it (ValueError) and nesting stops at the JSON limit
// (RecursionError) instead of at the end of the C stack.
class ValueBuilder {
 public:
  Value build(PyObject* o) {
    if (o == Py_None) return Value();
    if (o == Py_True) return Value(true);
    if (o == Py_False) return Value(false);
    if (PyUnicode_Check(o)) return Value(text_from_python(o));
    if (PyLong_Check(o)) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow) return Value(BigInt{nb::cast<std::string>(nb::str(nb::handle(o)))});
      if (v == -1 && PyErr_Occurred()) throw nb::python_error();
      return Value(static_cast<std::int64_t>(v));
    }
    if (PyFloat_Check(o)) return Value(PyFloat_AsDouble(o));
    if (PyList_Check(o) || PyTuple_Check(o)) {
      Enter enter(*this, o, "array");
      nb::object fast = nb::steal(PySequence_Fast(o, "expected a sequence"));
      if (!fast.is_valid()) throw nb::python_error();
      Py_ssize_t n = PySequence_Fast_GET_SIZE(fast.ptr());
      PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
      Array array;
      array.reserve(static_cast<std::size_t>(n));
      for (Py_ssize_t i = 0; i < n; ++i) array.push_back(build(items[i]));
      return Value(std::move(array));
    }
    if (PyDict_Check(o)) {
      Enter enter(*this, o, "object");
      Object fields;
      fields.reserve(static_cast<std::size_t>(PyDict_Size(o)));
      PyObject *key, *value;
      Py_ssize_t pos = 0;
      while (PyDict_Next(o, &pos, &key, &value)) {
        fields.emplace_back(key_to_string(key), build(value));
      }
      return Value(std::move(fields));
    }
    return Value(wrap(o));
  }

 private:
  // One open container, for the life of its conversion.
  class Enter {
   public:
    Enter(ValueBuilder& builder, PyObject* container, const char* what) : builder_(builder) {
      auto& open = builder_.open_;
      if (std::find(open.begin(), open.end(), container) != open.end()) {
        PyErr_SetString(PyExc_ValueError, "Circular reference detected");
        throw nb::python_error();
      }
      if (open.size() >= static_cast<std::size_t>(kMaxJsonDepth)) {
        PyErr_Format(PyExc_RecursionError, "maximum nesting depth of %d exceeded while encoding a JSON %s",
                     kMaxJsonDepth, what);
        throw nb::python_error();
      }
      open.push_back(container);
    }
    ~Enter() { builder_.open_.pop_back(); }
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;

   private:
    ValueBuilder& builder_;
  };

  std::vector<PyObject*> open_;  // the containers being converted, outermost first
};

}  // namespace

Value to_value(nb::handle object) { return ValueBuilder().build(object.ptr()); }

nb::object from_value(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Null: return nb::none();
    case Value::Kind::Bool: return nb::bool_(value.as_bool());
    case Value::Kind::Int: return nb::steal(PyLong_FromLongLong(value.as_int()));
    case Value::Kind::BigInt: {
      PyObject* n = PyLong_FromString(value.as_bigint().digits.c_str(), nullptr, 10);
      if (!n) throw nb::python_error();
      return nb::steal(n);
    }
    case Value::Kind::Float: return nb::steal(PyFloat_FromDouble(value.as_float()));
    case Value::Kind::String: {
      const auto& s = value.as_string();
      PyObject* str = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogatepass");
      if (!str) throw nb::python_error();
      return nb::steal(str);
    }
    case Value::Kind::Array: {
      const auto& items = value.as_array();
      PyObject* list = PyList_New(static_cast<Py_ssize_t>(items.size()));
      for (std::size_t i = 0; i < items.size(); ++i) {
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), from_value(items[i]).release().ptr());
      }
      return nb::steal(list);
    }
    case Value::Kind::Object: {
      nb::dict dict;
      for (const auto& [key, item] : value.as_object()) {
        dict[text_to_python(key)] = from_value(item);
      }
      return std::move(dict);
    }
    case Value::Kind::Foreign: {
      auto* ref = dynamic_cast<const PyObjectRef*>(value.as_foreign().get());
      if (ref) return ref->object();
      return nb::none();
    }
  }
  return nb::none();
}

nb::object args_to_python(const Value& args) {
  const auto& items = args.as_array();
  PyObject* tuple = PyTuple_New(static_cast<Py_ssize_t>(items.size()));
  for (std::size_t i = 0; i < items.size(); ++i) {
    PyTuple_SET_ITEM(tuple, static_cast<Py_ssize_t>(i), from_value(items[i]).release().ptr());
  }
  return nb::steal(tuple);
}

nb::object message_to_python(const Message& m) {
  return registry().message_factory(nb::str(m.queue_name.c_str()), nb::str(m.actor_name.c_str()),
                                    args_to_python(m.args), from_value(m.kwargs),
                                    from_value(m.options), nb::str(m.message_id.c_str()),
                                    nb::int_(m.message_timestamp));
}

static std::string string_field(nb::handle message, const char* name) {
  nb::object v = nb::getattr(message, name);
  if (!PyUnicode_Check(v.ptr())) {
    throw nb::type_error((std::string("Message.") + name + " must be a str, not " +
                          Py_TYPE(v.ptr())->tp_name)
                             .c_str());
  }
  return nb::cast<std::string>(v);
}

Message message_from_python(nb::handle message) {
  Message m;
  m.queue_name = string_field(message, "queue_name");
  m.actor_name = string_field(message, "actor_name");
  m.args = to_value(nb::getattr(message, "args"));
  if (!m.args.is_array()) throw nb::type_error("Message.args must be a tuple or list");
  m.kwargs = to_value(nb::getattr(message, "kwargs"));
  if (!m.kwargs.is_object()) throw nb::type_error("Message.kwargs must be a dict");
  m.options = to_value(nb::getattr(message, "options"));
  if (!m.options.is_object()) throw nb::type_error("Message.options must be a dict");
  m.message_id = string_field(message, "message_id");
  // Any number, as upstream takes (dramatiq-workflow sets time.time() * 1000):
  // kept to the millisecond.
  nb::object timestamp = nb::getattr(message, "message_timestamp");
  if (nb::isinstance<nb::float_>(timestamp)) {
    double millis = nb::cast<double>(timestamp);
    if (!std::isfinite(millis) || std::fabs(millis) >= 9.2e18) {
      throw nb::value_error("message_timestamp must be a finite number of milliseconds");
    }
    m.message_timestamp = static_cast<std::int64_t>(millis);
  } else {
    m.message_timestamp = nb::cast<std::int64_t>(timestamp);
  }
  return m;
}

Failure failure_from_python(const nb::python_error& error) {
  Registry& r = registry();
  nb::object exception = nb::borrow(error.value());
  Failure failure;
  failure.type_name = nb::cast<std::string>(nb::getattr(exception.type(), "__name__"));
  try {
    failure.message = nb::cast<std::string>(nb::str(exception));
  } catch (...) {
    failure.message = "<unprintable exception>";
  }
  try {
    nb::object lines = r.format_exception(exception);
    failure.traceback = nb::cast<std::string>(nb::str("").attr("join")(lines));
    if (!failure.traceback.empty() && failure.traceback.back() == '\n') failure.traceback.pop_back();
  } catch (...) {
  }
  failure.host_exception = wrap(exception);
  if (r.retry.is_valid() && PyObject_IsInstance(exception.ptr(), r.retry.ptr()) == 1) {
    failure.is_retry = true;
    nb::object delay = nb::getattr(exception, "delay", nb::none());
    if (!delay.is_none()) failure.retry_delay = nb::cast<std::int64_t>(delay);
  }
  if (r.rate_limit_exceeded.is_valid() &&
      PyObject_IsInstance(exception.ptr(), r.rate_limit_exceeded.ptr()) == 1) {
    failure.is_rate_limit_exceeded = true;
  }
  if (r.cancelled.is_valid() && PyObject_IsInstance(exception.ptr(), r.cancelled.ptr()) == 1) {
    failure.is_cancellation = true;
  }
  PyErr_Clear();
  return failure;
}

void rethrow_hook_error(const nb::python_error& error) {
  Registry& r = registry();
  PyObject* exception = error.value().ptr();
  auto is = [&](const nb::object& cls) {
    return cls.is_valid() && PyObject_IsInstance(exception, cls.ptr()) == 1;
  };
  if (is(r.skip_message)) {
    SkipMessage skip(nb::cast<std::string>(nb::str(nb::handle(exception))));
    skip.host_exception = wrap(exception);
    throw skip;
  }
  if (is(r.middleware_error)) {
    MiddlewareError failure(nb::cast<std::string>(nb::str(nb::handle(exception))));
    failure.host_exception = wrap(exception);
    throw failure;
  }
  throw HostException(failure_from_python(error));
}

}  // namespace dramatiq::python
