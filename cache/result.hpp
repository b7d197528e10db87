#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <string>

namespace ordermesh::cache {

/// Why a Redis operation failed. Redis is an accelerator: callers fall back, they do not fail.
enum class cache_errc : uint8_t {
  nil = 0,
  /// Redis cannot be reached (refused, timed out, connection lost, or inside the reconnect
  /// back-off window). A write may or may not have happened. Retrying later may succeed.
  unavailable,
  /// Redis answered with an error or with a reply of an unexpected shape (WRONGTYPE, a script
  /// error). The connection stays usable.
  protocol,
};

std::string to_string(cache_errc x);

struct cache_error {
  cache_errc code = cache_errc::nil;
  std::string detail;
};

/// A value or a cache_error (util/result.hpp).
template <class T>
using cache_result = util::result<T, cache_error>;

using done = util::done;

} // namespace ordermesh::cache
