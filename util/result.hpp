#pragma once

#include <utility>
#include <variant>

namespace ordermesh::util {

/// A value or an error: what the blocking adapters (event store, Redis) return instead of throwing.
/// `Error` is the adapter's own typed error (store_error, cache_error).
template <class T, class Error>
class result {
public:
  result(T value) : data_(std::move(value)) {}
  result(Error error) : data_(std::move(error)) {}

  explicit operator bool() const { return std::holds_alternative<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  /// On a temporary, by value: `for (auto& e : store.read_stream(...).value())` stays valid.
  T value() && { return std::get<T>(std::move(data_)); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(data_); }

private:
  std::variant<T, Error> data_;
};

/// The value of an operation that has nothing to return but can fail.
struct done {};

} // namespace ordermesh::util
