#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <string>

namespace ordermesh::actors::inventory {

/// Why an inventory command was rejected (nothing recorded).
/// A rejection travels as a caf::error of category "inventory" (registered below; rendered by
/// core::configure), its context the reason text.
enum class inventory_errc : uint8_t {
  nil = 0,
  /// qty <= 0 or above max_quantity.
  invalid_quantity,
  /// ttl_ms <= 0.
  invalid_ttl,
  /// Reserve redelivered for an order whose reservation was rejected for lack of stock.
  out_of_stock,
  /// Release or commit for an order that holds no reservation and never finished one here.
  unknown_reservation,
  /// Commit of a reservation that expired (or is past its deadline).
  reservation_expired,
  /// Reserve for an order whose reservation was already released, expired or rejected.
  reservation_closed,
  /// Reserve of a SKU that was never restocked: no such SKU (not a lack of stock).
  unknown_sku,
};

inline std::string to_string(inventory_errc x) {
  switch (x) {
    case inventory_errc::nil:
      return "nil";
    case inventory_errc::invalid_quantity:
      return "invalid_quantity";
    case inventory_errc::invalid_ttl:
      return "invalid_ttl";
    case inventory_errc::out_of_stock:
      return "out_of_stock";
    case inventory_errc::unknown_reservation:
      return "unknown_reservation";
    case inventory_errc::reservation_expired:
      return "reservation_expired";
    case inventory_errc::reservation_closed:
      return "reservation_closed";
    case inventory_errc::unknown_sku:
      return "unknown_sku";
  }
  return "<unknown inventory_errc>";
}

} // namespace ordermesh::actors::inventory

CAF_ERROR_CODE_ENUM(ordermesh::actors::inventory::inventory_errc, "inventory")
