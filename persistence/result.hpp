#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

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

/// A value or a store_error (util/result.hpp).
template <class T>
using store_result = util::result<T, store_error>;

using done = util::done;

/// Whether the server rolled the statement's transaction back because of other transactions
/// (40P01 deadlock, 40001 serialization failure): nothing was written and running it again may
/// succeed. Pure.
bool rolled_back(std::string_view sqlstate);

/// What a failed statement means for its caller. `sqlstate` is the server's error code ("" when
/// the connection broke without one), `connection_open` whether the connection survived, `writes`
/// whether the statement writes. A write whose connection is lost, or whose server answers with a
/// connection-state code (class 08, 57P01-57P05: shutdown, crash, terminated), may have committed
/// before the answer: outcome_unknown. A read is then unavailable. A rolled_back statement on a
/// live connection is unavailable (nothing written, retry later); any other error is rejected
/// (the statement failed, nothing was written). Pure.
store_errc classify_failure(std::string_view sqlstate, bool connection_open, bool writes);

} // namespace ordermesh::persistence
