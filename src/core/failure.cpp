#include "dramatiq/failure.hpp"

#include <typeinfo>

#include "dramatiq/errors.hpp"
#include "dramatiq/rate_limits.hpp"

namespace dramatiq {

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
  } catch (const std::exception& e) {
    return Failure{typeid(e).name(), e.what(), {}, nullptr, false, std::nullopt, false};
  } catch (...) {
    return Failure{"UnknownException", "unknown exception", {}, nullptr, false, std::nullopt, false};
  }
}

}  // namespace dramatiq
