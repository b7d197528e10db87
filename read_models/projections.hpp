#pragma once

#include "config/config.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/result.hpp"
#include "persistence/subscription.hpp"
#include "read_models/rows.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ordermesh::read_models {

/// Where the next page of a customer's orders starts: after this order, newest first.
struct order_cursor {
  int64_t placed_at_us = 0;
  std::string order_id;
};

struct order_page {
  std::vector<order_row> orders;
  /// Set when more orders follow.
  std::optional<order_cursor> next;
};

/// An order whose read row changed in a page, as the row stands after the page.
struct order_change {
  std::string order_id;
  /// Whose listing (list_orders) changed with it.
  std::string customer_id;
  /// placed | reserved | confirmed | rejected | cancelled.
  std::string status;
  /// Why it was rejected or cancelled; empty otherwise.
  std::string reason;
};

/// What one projector::run_once() did: enough to invalidate cached reads and to wake whoever
/// waits for an order to reach a status.
struct projection_changes {
  /// Events read from the log in this page (max_events: more may be waiting).
  size_t read = 0;
  /// Events that changed a read model (events of other streams and replays count 0).
  size_t applied = 0;
  /// Each order whose row changed, once, in the order of its first change in the page.
  std::vector<order_change> orders;
  /// Each SKU whose read_inventory row changed, once, in the order of its first change.
  std::vector<std::string> skus;
  /// The checkpoint after the page: the last event read (stored with the rows).
  persistence::log_checkpoint checkpoint;
  /// The highest global position read in this page (0 if none). Events come in writing
  /// transaction order (subscription.hpp), so the last one read need not be the highest.
  int64_t highest_position = 0;

  /// Whether no read row changed.
  bool empty() const { return orders.empty() && skus.empty(); }
};

/// Tails the global log through a gap-safe subscription into the read models of migration 0002
/// (read_orders, read_order_lines, read_inventory). Each page of events is applied together with
/// the checkpoint in one transaction, so a crash never leaves rows without their checkpoint or
/// the reverse; rows are also guarded by their stream version, so replaying an event changes
/// nothing. Blocking and not thread-safe, like pg_event_store. No method throws.
///
/// The query methods (get_order, list_orders, get_inventory) each run one statement (one snapshot,
/// one round trip) on the projector's own connection, opened on first use and again after it broke:
/// a pool of blocking workers gives each worker its own projector (constructing one does not
/// connect). To keep the read models filled, run one projector under a projection_runner.
class projector {
public:
  /// `name` is the checkpoint's key in subscription_checkpoints.
  projector(config::pg_config pg, std::string name);
  ~projector();
  projector(const projector&) = delete;
  projector& operator=(const projector&) = delete;

  /// Polls up to `max_events` events after the stored checkpoint and applies them and the new
  /// checkpoint in one transaction. Returns what changed: only rows whose stream version moved
  /// (a replayed event changes nothing and is not reported), each order with its status after the
  /// page. On an error (including an order.* or inventory.* event that its codec cannot decode:
  /// rejected) nothing of the page is kept and the next call starts again from the stored
  /// checkpoint.
  persistence::store_result<projection_changes> run_once(int32_t max_events = 500);

  /// The customer's orders with their lines, newest first (placed_at DESC, order_id DESC), at most
  /// `limit`, starting after `after`. One statement per page.
  persistence::store_result<order_page> list_orders(const std::string& customer_id,
                                                    const std::optional<order_cursor>& after,
                                                    int32_t limit);

  /// One order with its lines; nullopt if it is not (yet) projected.
  persistence::store_result<std::optional<order_row>> get_order(const std::string& order_id);

  /// One SKU's stock; nullopt if no inventory event of it is (yet) projected. One statement.
  persistence::store_result<std::optional<inventory_row>> get_inventory(const std::string& sku);

  /// The highest global position committed to the log (0 if it is empty): with the checkpoint,
  /// how far the read models lag. One index lookup.
  persistence::store_result<int64_t> newest_position();

  /// The key of the advisory lock (pg_advisory_xact_lock) each page's transaction takes before
  /// it reads the rows it folds: the page writers of one database take turns.
  static constexpr int64_t page_lock_key = 4242010010;

  /// The statements the last run_once that read events sent in its page's transaction (BEGIN and
  /// COMMIT not counted): for tests that the cost of a page does not grow with its size.
  size_t last_page_statements() const { return last_page_statements_; }

  /// The listing statement ($1 customer, [$2 placed_at_us, $3 order_id,] last: limit), for EXPLAIN.
  static const std::string& list_orders_sql(bool with_cursor);

  /// get_order's statement ($1 order_id), for EXPLAIN.
  static const std::string& get_order_sql();

  /// get_inventory's statement ($1 sku), for EXPLAIN.
  static const std::string& get_inventory_sql();

  /// The statements of a page (name, SQL), as run_once prepares them on its connection, for
  /// EXPLAIN: they are planned once per connection, maybe while the tables are empty or tiny.
  static const std::vector<std::pair<const char*, std::string>>& page_statements();

  /// The settings (SET statements) its connection runs before its first page (a connection
  /// that only answers queries never runs them).
  static const std::vector<std::string>& session_settings();

private:
  template <class T, class Body>
  persistence::store_result<T> with_connection(const char* what, Body&& body);

  config::pg_config pg_;
  std::string name_;
  persistence::pg_event_store store_;
  std::optional<persistence::subscription> sub_;
  struct session; // the open pqxx connection for the read models
  std::unique_ptr<session> conn_;
  size_t last_page_statements_ = 0;
};

} // namespace ordermesh::read_models
