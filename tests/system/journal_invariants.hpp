#pragma once

// Invariants over a whole journal history, checked by replaying every event in global order.
// The checker reads the persisted wire contract (event types and payload fields), not the
// aggregates' code, so that a bug in apply() cannot hide itself.

#include "config/config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ordermesh::testing {

/// One event as stored.
struct journal_row {
  int64_t position = 0;
  std::string stream_id;
  int64_t stream_version = 0;
  std::string type;
  nlohmann::json payload;
  /// The message id from the metadata (which command caused it), "" if none.
  std::string message_id;
};

/// SQL counting the (confirmed sale, SKU) pairs an order.confirmed names that no
/// inventory.orders_settled of that SKU names yet: what the settlement runner has still to settle
/// (0 once it caught up). Wait for it before checking a settled history.
inline constexpr const char* unsettled_sales_sql =
    "SELECT count(*) FROM events c"
    " CROSS JOIN LATERAL jsonb_array_elements_text(c.payload::jsonb->'skus') AS k(sku)"
    " WHERE c.event_type = 'order.confirmed.v1' AND NOT EXISTS (SELECT 1 FROM events s"
    " CROSS JOIN LATERAL jsonb_array_elements_text(s.payload::jsonb->'order_ids') AS x(id)"
    " WHERE s.stream_id = 'inventory/' || k.sku"
    " AND s.event_type = 'inventory.orders_settled.v1' AND x.id = substr(c.stream_id, 7))";

/// Every event of the database, in global order.
std::vector<journal_row> read_journal(const config::pg_config& pg);

/// What the checker requires.
struct invariant_options {
  /// The system has settled (every saga had the time to end): also require that every order has
  /// ended, that every confirmed order's stock was committed, and that every authorization was
  /// captured or voided. Without it only the invariants that hold at every instant are checked.
  bool settled = true;
};

/// What the history showed.
struct invariant_report {
  /// One line per broken invariant, naming the position, stream and numbers.
  std::vector<std::string> violations;
  /// Counts, for messages: "orders", "confirmed", "rejected", "cancelled", "authorized",
  /// "captured", "voided", "reserved", "committed", "expired", "released", "events".
  std::map<std::string, int64_t> counts;

  bool ok() const { return violations.empty(); }
  /// The counts and kinds on one line each, then each violation on its own line (at most
  /// `max_lines`).
  std::string describe(size_t max_lines = 30) const;
  /// Whether some violation line contains `text` (for tests of the checker).
  bool has(const std::string& text) const;
  /// How many violations of each kind ("oversold", "confirmed without committed stock", ...).
  std::map<std::string, int> kinds;
  /// "ok", or the kinds with their counts on one line.
  std::string kinds_text() const;
  /// The orders named by violations, in order of appearance, for `describe_order`.
  std::vector<std::string> orders;
};

/// Every event of order `order_id`, its payment and its stock, one line each, for failure
/// messages.
std::string describe_order(const std::vector<journal_row>& history, const std::string& order_id);

/// Checks, replaying `history` (sorted by position):
/// - stock: at every position of every SKU, held reservations never exceed the stock on hand
///   ("oversold"), and a commit or release only takes what its order holds;
/// - orders: one `order.placed` per order stream, at most one terminal event (confirmed,
///   rejected, cancelled), and nothing after compensation/capture ends the saga twice;
/// - notifications: at most one `notification.recorded` per order, with the status of the
///   order's terminal event ("notified twice", "notified with another status");
/// - payments: a capture only after an authorization, never two captures of one payment;
/// - when settled: every order has exactly one terminal event and an ended saga
///   (`payment_captured` or `compensation_completed`, or an `order.confirmed` naming its SKUs: a
///   sale the settlement runner settles and notifies, notified once: "confirmed sale not notified
///   once"; `unnotified_sales_sql` in tests/support/order_sql.hpp counts what the runner has still
///   to notify, for tests to wait on); every confirmed order has each of its lines
///   committed in the inventory ("confirmed without committed stock"), a cancelled or rejected one
///   none; a confirmed sale (`order.sale_requested`, or `order.confirmed` naming SKUs) each line
///   settled once at its inventory
///   (`inventory.settled`, or named once by an `inventory.orders_settled`: "confirmed sale not
///   settled once"); per payment, authorizations =
///   captures + voids (a void counts when it releases an open authorization: voiding a payment that
///   was never authorized releases nothing).
invariant_report check_journal(const std::vector<journal_row>& history,
                               const invariant_options& options = {});

} // namespace ordermesh::testing
