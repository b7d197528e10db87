#include "cache/result.hpp"

namespace ordermesh::cache {

std::string to_string(cache_errc x) {
  switch (x) {
    case cache_errc::nil:
      return "nil";
    case cache_errc::unavailable:
      return "unavailable";
    case cache_errc::protocol:
      return "protocol";
  }
  return "unknown";
}

} // namespace ordermesh::cache
