#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

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

/// A value or a cache_error; the blocking client's return type (mirrors persistence::store_result).
template <class T>
class cache_result {
public:
  cache_result(T value) : data_(std::move(value)) {}
  cache_result(cache_error error) : data_(std::move(error)) {}

  explicit operator bool() const { return std::holds_alternative<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T value() && { return std::get<T>(std::move(data_)); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const cache_error& error() const { return std::get<cache_error>(data_); }

private:
  std::variant<T, cache_error> data_;
};

struct done {};

} // namespace ordermesh::cache
