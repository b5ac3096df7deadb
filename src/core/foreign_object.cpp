#include <stdexcept>

#include "dramatiq/value.hpp"

namespace dramatiq {

Value ForeignObject::call(const Array& /*args*/) const {
  throw std::runtime_error("object of type " + type_name() + " is not callable");
}

}  // namespace dramatiq
