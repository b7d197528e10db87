#pragma once

#include "actors/order/messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ordermesh::read_models {

// The rows of the read-model tables, one type per table: what a page folds (page_fold) and what
// the queries answer (projector::get_order, ...).

/// Where an order line's stock stands; an order is reserved once every line is.
enum class line_reservation : uint8_t { pending, reserved, failed };

/// "pending" | "reserved" | "failed", as read_order_lines.reservation stores it.
std::string_view to_string(line_reservation x);

/// The reservation a stored name stands for; nullopt for an unknown name.
std::optional<line_reservation> line_reservation_from(std::string_view name);

/// A row of read_order_lines.
struct order_line_row {
  int32_t line_no = 0;
  std::string sku;
  int32_t qty = 0;
  line_reservation reservation = line_reservation::pending;
};

/// A row of read_orders with its lines (by line_no).
struct order_row {
  std::string order_id;
  std::string customer_id;
  actors::order::order_status status = actors::order::order_status::placed;
  /// Why it was rejected or cancelled; empty otherwise.
  std::string reason;
  int64_t amount_cents = 0;
  /// Commit time of order.placed, microseconds since the Unix epoch.
  int64_t placed_at_us = 0;
  /// Commit time of the last applied event, microseconds since the Unix epoch.
  int64_t updated_at_us = 0;
  /// Last applied version of the stream "order/<order_id>".
  int64_t version = 0;
  std::vector<order_line_row> lines;
};

/// A row of read_inventory.
struct inventory_row {
  std::string sku;
  /// Units in stock, reserved ones included.
  int64_t on_hand = 0;
  /// Units held by open reservations: the sum of the SKU's holds.
  int64_t reserved = 0;
  /// Last applied version of the stream "inventory/<sku>".
  int64_t version = 0;
  /// Commit time of the last applied event, microseconds since the Unix epoch.
  int64_t updated_at_us = 0;

  /// Units that can still be reserved (read_inventory.available).
  int64_t available() const { return on_hand - reserved; }
};

} // namespace ordermesh::read_models
