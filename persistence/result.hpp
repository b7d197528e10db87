#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace ordermesh::persistence {

/// Why an event-store operation failed. Conflicts are not failures: they are append results.
enum class store_errc : uint8_t {
  nil = 0,
  /// The database cannot be reached; nothing was written. Retrying later may succeed.
  unavailable,
  /// The connection broke while a commit was in flight: it may or may not have committed.
  /// Re-read the stream before retrying.
  outcome_unknown,
  /// Too many appends are waiting; nothing was written.
  overloaded,
  /// The request itself is wrong (for example two appends to one stream in one batch).
  invalid_request,
  /// The database rejected the statement for another reason; nothing was written.
  rejected,
};

std::string to_string(store_errc x);

struct store_error {
  store_errc code = store_errc::nil;
  std::string detail;
};

/// A value or a store_error; the blocking store's return type (no CAF in this layer).
template <class T>
class store_result {
public:
  store_result(T value) : data_(std::move(value)) {}
  store_result(store_error error) : data_(std::move(error)) {}

  explicit operator bool() const { return std::holds_alternative<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  /// On a temporary, by value: `for (auto& e : store.read_stream(...).value())` stays valid.
  T value() && { return std::get<T>(std::move(data_)); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const store_error& error() const { return std::get<store_error>(data_); }

private:
  std::variant<T, store_error> data_;
};

struct done {};

} // namespace ordermesh::persistence
