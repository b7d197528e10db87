#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <string>

namespace ordermesh::actors::order {

/// Why an order command was rejected (nothing recorded).
/// A rejection travels as a caf::error of category "order" (registered below; rendered by
/// core::configure), its context the reason text.
enum class order_errc : uint8_t {
  nil = 0,
  /// place_order breaks a rule: no or too many lines, bad qty, duplicate sku, no customer, ...
  invalid_order,
  /// A reply or timer for an order that was never placed.
  unknown_order,
  /// A reservation reply for a sku the order does not contain.
  unknown_line,
  /// A reply that makes no sense in the order's status (e.g. capture before confirmation).
  unexpected_reply,
  /// The payment could not be captured yet; the saga resends the capture.
  capture_failed,
  /// place_order for an order id already placed with other contents (lines, customer, payment).
  conflicting_order,
};

inline std::string to_string(order_errc x) {
  switch (x) {
    case order_errc::nil:
      return "nil";
    case order_errc::invalid_order:
      return "invalid_order";
    case order_errc::unknown_order:
      return "unknown_order";
    case order_errc::unknown_line:
      return "unknown_line";
    case order_errc::unexpected_reply:
      return "unexpected_reply";
    case order_errc::capture_failed:
      return "capture_failed";
    case order_errc::conflicting_order:
      return "conflicting_order";
  }
  return "<unknown order_errc>";
}

} // namespace ordermesh::actors::order

CAF_ERROR_CODE_ENUM(ordermesh::actors::order::order_errc, "order")
