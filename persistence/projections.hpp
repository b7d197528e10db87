#pragma once

#include "config/config.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/result.hpp"
#include "persistence/subscription.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::persistence {

struct order_line_view {
  int32_t line_no = 0;
  std::string sku;
  int32_t qty = 0;
};

/// One row of read_orders with its lines.
struct order_view {
  std::string order_id;
  std::string customer_id;
  /// placed | reserved | confirmed | rejected | cancelled.
  std::string status;
  std::string reason;
  int64_t amount_cents = 0;
  /// Commit time of order.placed, microseconds since the Unix epoch.
  int64_t placed_at_us = 0;
  /// Commit time of the last applied event, microseconds since the Unix epoch.
  int64_t updated_at_us = 0;
  /// Last applied version of the stream "order/<order_id>".
  int64_t version = 0;
  std::vector<order_line_view> lines;
};

/// Where the next page of a customer's orders starts: after this order, newest first.
struct order_cursor {
  int64_t placed_at_us = 0;
  std::string order_id;
};

struct order_page {
  std::vector<order_view> orders;
  /// Set when more orders follow.
  std::optional<order_cursor> next;
};

/// Tails the global log through a gap-safe subscription into the read models of migration 0002
/// (read_orders, read_order_lines, read_inventory). Each page of events is applied together with
/// the checkpoint in one transaction, so a crash never leaves rows without their checkpoint or
/// the reverse; rows are also guarded by their stream version, so replaying an event changes
/// nothing. Blocking and not thread-safe, like pg_event_store. No method throws.
class projector {
public:
  /// `name` is the checkpoint's key in subscription_checkpoints.
  projector(config::pg_config pg, std::string name);
  ~projector();
  projector(const projector&) = delete;
  projector& operator=(const projector&) = delete;

  /// Polls up to `max_events` events after the stored checkpoint and applies them and the new
  /// checkpoint in one transaction. Returns how many events changed a read model (events of other
  /// streams and replays count 0). On an error (including an order.* or inventory.* event that its
  /// codec cannot decode: rejected) nothing of the page is kept and the next call starts again
  /// from the stored checkpoint.
  store_result<size_t> run_once(int32_t max_events = 500);

  /// The customer's orders with their lines, newest first (placed_at DESC, order_id DESC), at most
  /// `limit`, starting after `after`. One statement per page.
  store_result<order_page> list_orders(const std::string& customer_id,
                                       const std::optional<order_cursor>& after, int32_t limit);

  /// One order with its lines; nullopt if it is not (yet) projected.
  store_result<std::optional<order_view>> get_order(const std::string& order_id);

  /// The listing statement ($1 customer, [$2 placed_at_us, $3 order_id,] last: limit), for EXPLAIN.
  static const std::string& list_orders_sql(bool with_cursor);

private:
  template <class T, class Body>
  store_result<T> with_connection(const char* what, Body&& body);

  config::pg_config pg_;
  std::string name_;
  pg_event_store store_;
  std::optional<subscription> sub_;
  struct session; // the open pqxx connection for the read models
  std::unique_ptr<session> conn_;
};

} // namespace ordermesh::persistence
