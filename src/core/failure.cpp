#include "dramatiq/failure.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "dramatiq/errors.hpp"
#include "dramatiq/interrupt.hpp"
#include "dramatiq/rate_limits.hpp"

namespace dramatiq {

std::string demangled_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && readable ? std::string(readable.get()) : std::string(type.name());
}

bool CaughtException::is_instance_of(const ForeignObject& classes) const {
  auto* cpp_classes = dynamic_cast<const ExceptionClasses*>(&classes);
  return cpp_classes && error_ && cpp_classes->matches(error_);
}

bool Failure::matches(const Value& classes) const {
  switch (classes.kind()) {
    case Value::Kind::Foreign:
      return host_exception && host_exception->is_instance_of(*classes.as_foreign());
    case Value::Kind::String:
      return classes.as_string() == type_name;
    case Value::Kind::Array:
      for (const auto& c : classes.as_array()) {
        if (matches(c)) return true;
      }
      return false;
    default:
      return false;
  }
}

Failure Failure::from_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const HostException& e) {
    return e.failure();
  } catch (const Retry& e) {
    Failure f{"Retry", e.what(), {}, nullptr, true, e.delay, false};
    return f;
  } catch (const SkipMessage& e) {
    return Failure{"SkipMessage", e.what(), {}, e.host_exception, false, std::nullopt, false};
  } catch (const MiddlewareError& e) {
    return Failure{"MiddlewareError", e.what(), {}, e.host_exception, false, std::nullopt, false};
  } catch (const RateLimitExceeded& e) {
    // A C++ actor whose limiter is full: logged quietly, as for Python actors.
    return Failure{"RateLimitExceeded", e.what(), {}, nullptr, false, std::nullopt, true};
  } catch (const Cancelled& e) {
    Failure f{"Cancelled", e.what(), {}, nullptr, false, std::nullopt, false};
    f.is_cancellation = true;
    return f;
  } catch (const std::exception& e) {
    std::string type_name = demangled_name(typeid(e));
    auto caught = std::make_shared<CaughtException>(error, type_name, e.what());
    return Failure{std::move(type_name), e.what(), {}, std::move(caught), false, std::nullopt, false};
  } catch (...) {
    return Failure{"UnknownException", "unknown exception", {}, nullptr, false, std::nullopt, false};
  }
}

}  // namespace dramatiq
