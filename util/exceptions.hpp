#pragma once

#include <exception>
#include <string>

namespace ordermesh::util {

/// What the exception says (`what()`), or "unknown exception" for one that is not a
/// std::exception.
inline std::string what_of(const std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

} // namespace ordermesh::util
