#pragma once

#include "actors/inventory/messages.hpp"
#include "actors/order/messages.hpp"
#include "persistence/event.hpp"
#include "read_models/rows.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ordermesh::read_models {

// The pure core of the projection: what one page of events does to the read-model rows, given
// the rows as they stood. No I/O; projections.cpp reads the rows and writes the result.

/// The key of a row of read_inventory_holds: the units an open reservation holds.
struct hold_key {
  std::string sku;
  std::string order_id;

  bool operator<(const hold_key& other) const {
    return std::tie(sku, order_id) < std::tie(other.sku, other.order_id);
  }
  bool operator==(const hold_key& other) const {
    return sku == other.sku && order_id == other.order_id;
  }
};

/// A decoded event of the stream "order/<order_id>".
struct order_event_at {
  std::string order_id;
  int64_t version = 0;
  /// Commit time, microseconds since the Unix epoch.
  int64_t recorded_at_us = 0;
  actors::order::event event;
};

/// A decoded event of the stream "inventory/<sku>".
struct inventory_event_at {
  std::string sku;
  int64_t version = 0;
  int64_t recorded_at_us = 0;
  actors::inventory::event event;
};

using projected_event = std::variant<order_event_at, inventory_event_at>;

/// An event of a projected stream (order/*, inventory/*) that its codec cannot decode: its page
/// must not commit.
struct undecodable_event : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The event types the fold reads: every type the order and inventory codecs decode (each event
/// of those streams changes its row, if only its version and updated_at). The projection reads
/// the log for these only (persistence::subscription), so a type added to either codec is read.
const std::vector<std::string>& folded_types();

/// The page's events of projected streams, decoded, in the page's order; events of other streams
/// are left out. Throws undecodable_event.
std::vector<projected_event> decode_page(const std::vector<persistence::recorded_event>& events);

/// The keys whose stored rows fold_page needs, each once: the orders and SKUs the events name,
/// and the holds the inventory events of a reservation touch.
struct page_keys {
  std::vector<std::string> order_ids;
  std::vector<std::string> skus;
  std::vector<hold_key> holds;
};

page_keys keys_of(const std::vector<projected_event>& events);

/// The rows of (some of) a page's keys as they stood before it; a key without a row has none yet.
struct stored_rows {
  std::unordered_map<std::string, order_row> orders;
  std::unordered_map<std::string, inventory_row> inventory;
  std::map<hold_key, int64_t> holds;
};

/// The holds of `touched` that can be stored, given the SKUs' stored rows: those of SKUs holding
/// units (reserved > 0). A hold always holds units and `reserved` is the sum of its SKU's holds,
/// so the others have none (in a bench/orders page, whose stock is taken, none at all).
std::vector<hold_key> holds_to_read(const std::vector<hold_key>& touched,
                                    const std::unordered_map<std::string, inventory_row>& stock);

/// What a page changes: only rows that changed, each once, as the page leaves them.
struct page_rows {
  /// Events that changed a row (a replayed one, at or below its row's version, changes nothing).
  size_t applied = 0;
  /// Each order whose row changed, in the order of its first change (lines included).
  std::vector<order_row> orders;
  /// The lines to write: new ones, or whose reservation moved; (order_id, line).
  std::vector<std::pair<std::string, order_line_row>> lines;
  /// Each SKU whose row changed, in the order of its first change.
  std::vector<inventory_row> inventory;
  /// Whether each row of `orders`, `lines` and `inventory` (index for index) was stored before
  /// the page: those are updated, the others inserted.
  std::vector<bool> order_stored;
  std::vector<bool> line_stored;
  std::vector<bool> inventory_stored;
  /// Holds to store (new or with a new quantity) and holds to remove.
  std::vector<std::pair<hold_key, int64_t>> holds_set;
  std::vector<hold_key> holds_cleared;
};

/// Applies the events in order to `stored`, as the projection has always done per event:
/// - an order row appears with order.placed (placed, lines pending) and a placed event for an
///   existing row changes nothing; any other event changes the row only above its version, and
///   then sets version and updated_at;
/// - a line reserved (stock_reserved, or stock_committed: a take) or failed sets every line of
///   that SKU, sale_requested sets every line reserved (each was taken), and a placed order
///   becomes reserved once every line is reserved; confirmed sets the lines of the SKUs it names
///   reserved (a sale confirmed straight from placed) and, like rejected and cancelled, the
///   status (and reason); other order events move only the version;
/// - an inventory row appears (zeros) with the SKU's first event; an event above its version moves
///   on_hand (restocked, returned: +qty; committed: -qty) and the holds: reserved stores the
///   order's hold (replacing an earlier one), released, expired and committed remove it; reserved
///   is the sum of the SKU's holds.
/// `stored` must hold every row of keys_of(events) that exists (of the holds, those of
/// holds_to_read: no other can exist).
page_rows fold_page(const std::vector<projected_event>& events, stored_rows stored);

} // namespace ordermesh::read_models
