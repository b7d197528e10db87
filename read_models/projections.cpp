#include "read_models/projections.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/inventory/codec.hpp"
#include "actors/order/codec.hpp"
#include "persistence/sql_array.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace ordermesh::read_models {

using persistence::log_checkpoint;
using persistence::pg_event_store;
using persistence::recorded_event;
using persistence::sql_int_array;
using persistence::sql_text_array;
using persistence::store_errc;
using persistence::store_error;
using persistence::store_result;

namespace {

namespace order = actors::order;
namespace inventory = actors::inventory;

const std::string order_prefix = "order/";
const std::string inventory_prefix = "inventory/";

// Microseconds since the Unix epoch <-> timestamptz, exactly.
#define OM_TS(param) "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"
#define OM_US(column) "(extract(epoch FROM " column ") * 1000000)::bigint"

/// An event of a projected stream that its codec cannot decode: the page must not commit.
struct undecodable_event : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// Keys in the order they were first added, each once.
class ordered_keys {
public:
  void add(const std::string& key) {
    if (seen_.insert(key).second) {
      keys_.push_back(key);
    }
  }
  const std::vector<std::string>& keys() const { return keys_; }

private:
  std::unordered_set<std::string> seen_;
  std::vector<std::string> keys_;
};

/// Applies one page of events inside the caller's transaction and remembers which rows changed.
class page_writer {
public:
  explicit page_writer(pqxx::work& tx) : tx_(tx) {}

  /// Applies every event; what changed, with each changed order as it stands after the page.
  projection_changes apply_page(const std::vector<recorded_event>& events) {
    projection_changes out;
    out.read = events.size();
    for (const auto& e : events) {
      out.applied += apply(e) ? 1 : 0;
    }
    out.orders = changed_orders();
    out.skus = skus_.keys();
    return out;
  }

private:
  /// Whether the event changed a read model.
  bool apply(const recorded_event& e) {
    if (starts_with(e.stream_id, order_prefix)) {
      auto ev = order::decode(e.type, e.schema_version, e.payload);
      if (!ev) {
        throw undecodable_event{"cannot decode " + e.type + " at position " +
                                std::to_string(e.global_position)};
      }
      auto id = e.stream_id.substr(order_prefix.size());
      if (!apply_order(e, id, *ev)) {
        return false;
      }
      orders_.add(id);
      return true;
    }
    if (starts_with(e.stream_id, inventory_prefix)) {
      auto ev = inventory::decode(e.type, e.schema_version, e.payload);
      if (!ev) {
        throw undecodable_event{"cannot decode " + e.type + " at position " +
                                std::to_string(e.global_position)};
      }
      auto sku = e.stream_id.substr(inventory_prefix.size());
      if (!apply_inventory(e, sku, *ev)) {
        return false;
      }
      skus_.add(sku);
      return true;
    }
    return false;
  }

  // The changed orders' rows after the page, in one statement.
  std::vector<order_change> changed_orders() {
    const auto& ids = orders_.keys();
    if (ids.empty()) {
      return {};
    }
    std::unordered_map<std::string, order_change> rows;
    for (const auto& row :
         tx_.exec_params("SELECT order_id, customer_id, status, reason FROM read_orders "
                         "WHERE order_id = ANY($1::text[])",
                         sql_text_array(ids))) {
      order_change c{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>()};
      auto id = c.order_id;
      rows.emplace(std::move(id), std::move(c));
    }
    std::vector<order_change> out;
    out.reserve(ids.size());
    for (const auto& id : ids) {
      // Every id here had its row inserted or updated in this transaction.
      out.push_back(std::move(rows.at(id)));
    }
    return out;
  }

  bool apply_order(const recorded_event& e, const std::string& id, const order::event& ev) {
    if (auto placed = std::get_if<order::order_placed>(&ev)) {
      return insert_order(e, id, *placed);
    }
    // Claims the stream version first: an event already applied changes nothing.
    auto claimed = tx_.exec_params("UPDATE read_orders SET version = $2, updated_at = " OM_TS(
                                       "$3") " WHERE order_id = $1 AND version < $2",
                                   id, e.stream_version, e.recorded_at_us);
    if (claimed.affected_rows() == 0) {
      return false;
    }
    std::visit(actors::overloaded{
                   [&](const order::stock_reserved& x) { set_line(id, x.sku, "reserved"); },
                   // A take (reserve and commit at once): the line holds its stock.
                   [&](const order::stock_committed& x) { set_line(id, x.sku, "reserved"); },
                   [&](const order::stock_reservation_failed& x) { set_line(id, x.sku, "failed"); },
                   [&](const order::order_confirmed&) {
                     set_status(id, order::order_status::confirmed, "");
                   },
                   [&](const order::order_rejected& x) {
                     set_status(id, order::order_status::rejected, x.reason);
                   },
                   [&](const order::order_cancelled& x) {
                     set_status(id, order::order_status::cancelled, x.reason);
                   },
                   // The rest move the saga, not what a reader of the order sees.
                   [](const auto&) {},
               },
               ev);
    return true;
  }

  bool insert_order(const recorded_event& e, const std::string& id, const order::order_placed& x) {
    auto inserted = tx_.exec_params(
        "INSERT INTO read_orders (order_id, customer_id, status, amount_cents, placed_at, "
        "updated_at, version) VALUES ($1, $2, $6, $3, " OM_TS("$4") ", " OM_TS(
            "$4") ", $5) "
                  "ON CONFLICT (order_id) DO NOTHING",
        id, x.customer_id, x.amount_cents, e.recorded_at_us, e.stream_version,
        order::to_string(order::order_status::placed));
    if (inserted.affected_rows() == 0) {
      return false;
    }
    for (size_t i = 0; i < x.lines.size(); ++i) {
      tx_.exec_params("INSERT INTO read_order_lines (order_id, line_no, sku, qty) "
                      "VALUES ($1, $2, $3, $4)",
                      id, static_cast<int32_t>(i + 1), x.lines[i].sku, x.lines[i].qty);
    }
    return true;
  }

  // As the aggregate: the order is reserved once every line is.
  void set_line(const std::string& id, const std::string& sku, const char* reservation) {
    tx_.exec_params("UPDATE read_order_lines SET reservation = $3 WHERE order_id = $1 AND sku = $2",
                    id, sku, reservation);
    tx_.exec_params("UPDATE read_orders SET status = $2 WHERE order_id = $1 "
                    "AND status = $3 AND NOT EXISTS (SELECT 1 FROM read_order_lines "
                    "WHERE order_id = $1 AND reservation <> 'reserved')",
                    id, order::to_string(order::order_status::reserved),
                    order::to_string(order::order_status::placed));
  }

  void set_status(const std::string& id, order::order_status status, const std::string& reason) {
    tx_.exec_params("UPDATE read_orders SET status = $2, reason = $3 WHERE order_id = $1", id,
                    order::to_string(status), reason);
  }

  bool apply_inventory(const recorded_event& e, const std::string& sku,
                       const inventory::event& ev) {
    tx_.exec_params(
        "INSERT INTO read_inventory (sku, on_hand, reserved, available, version, "
        "updated_at) VALUES ($1, 0, 0, 0, 0, " OM_TS("$2") ") "
                                                           "ON CONFLICT (sku) DO NOTHING",
        sku, e.recorded_at_us);
    auto claimed = tx_.exec_params("UPDATE read_inventory SET version = $2, updated_at = " OM_TS(
                                       "$3") " WHERE sku = $1 AND version < $2",
                                   sku, e.stream_version, e.recorded_at_us);
    if (claimed.affected_rows() == 0) {
      return false;
    }
    int64_t on_hand_delta = 0;
    std::visit(actors::overloaded{
                   [&](const inventory::restocked& x) { on_hand_delta = x.qty; },
                   [&](const inventory::reserved& x) { hold(sku, x.order_id, x.qty); },
                   [](const inventory::reservation_rejected&) {},
                   [&](const inventory::released& x) { unhold(sku, x.order_id); },
                   [&](const inventory::committed& x) {
                     unhold(sku, x.order_id);
                     on_hand_delta = -x.qty;
                   },
                   [&](const inventory::reservation_expired& x) { unhold(sku, x.order_id); },
                   [&](const inventory::returned& x) { on_hand_delta = x.qty; },
                   [](const inventory::settled&) {}, // stock unchanged
               },
               ev);
    tx_.exec_params(
        "UPDATE read_inventory i SET on_hand = i.on_hand + $2, reserved = h.total, "
        "available = i.on_hand + $2 - h.total FROM (SELECT coalesce(sum(qty), 0)::bigint AS total "
        "FROM read_inventory_holds WHERE sku = $1) h WHERE i.sku = $1",
        sku, on_hand_delta);
    return true;
  }

  void hold(const std::string& sku, const std::string& order_id, int64_t qty) {
    tx_.exec_params("INSERT INTO read_inventory_holds (sku, order_id, qty) VALUES ($1, $2, $3) "
                    "ON CONFLICT (sku, order_id) DO UPDATE SET qty = EXCLUDED.qty",
                    sku, order_id, qty);
  }

  void unhold(const std::string& sku, const std::string& order_id) {
    tx_.exec_params("DELETE FROM read_inventory_holds WHERE sku = $1 AND order_id = $2", sku,
                    order_id);
  }

  pqxx::work& tx_;
  ordered_keys orders_;
  ordered_keys skus_;
};

// One page of orders (limit + 1, to know whether more follow) joined with their lines: one row per
// line, or one row with NULL line columns for an order without lines.
// The columns to_orders reads, from read_orders `o` left-joined with read_order_lines `l`.
const std::string order_columns =
    "o.order_id, o.customer_id, o.status, o.reason, o.amount_cents, " OM_US(
        "o.placed_at") ", " OM_US("o.updated_at") ", o.version, l.line_no, l.sku, l.qty";

std::string list_sql(bool with_cursor) {
  std::string page = "SELECT * FROM read_orders WHERE customer_id = $1";
  if (with_cursor) {
    page += " AND (placed_at, order_id) < (" OM_TS("$2") ", $3)";
  }
  page += " ORDER BY placed_at DESC, order_id DESC LIMIT ";
  page += with_cursor ? "$4" : "$2";
  return "WITH o AS (" + page + ") SELECT " + order_columns +
         " FROM o LEFT JOIN read_order_lines l USING (order_id)"
         " ORDER BY o.placed_at DESC, o.order_id DESC, l.line_no";
}

const std::string order_sql = "SELECT " + order_columns +
                              " FROM read_orders o LEFT JOIN read_order_lines l"
                              " USING (order_id) WHERE o.order_id = $1 ORDER BY l.line_no";

const std::string inventory_sql = "SELECT sku, on_hand, reserved, available, version, " OM_US(
    "updated_at") " FROM read_inventory WHERE sku = $1";

/// Groups rows of the shape above (sorted by order) into orders.
std::vector<order_view> to_orders(const pqxx::result& rows) {
  std::vector<order_view> out;
  for (const auto& row : rows) {
    auto id = row[0].as<std::string>();
    if (out.empty() || out.back().order_id != id) {
      order_view o;
      o.order_id = id;
      o.customer_id = row[1].as<std::string>();
      o.status = row[2].as<std::string>();
      o.reason = row[3].as<std::string>();
      o.amount_cents = row[4].as<int64_t>();
      o.placed_at_us = row[5].as<int64_t>();
      o.updated_at_us = row[6].as<int64_t>();
      o.version = row[7].as<int64_t>();
      out.push_back(std::move(o));
    }
    if (!row[8].is_null()) {
      out.back().lines.push_back(
          {row[8].as<int32_t>(), row[9].as<std::string>(), row[10].as<int32_t>()});
    }
  }
  return out;
}

#undef OM_TS
#undef OM_US

} // namespace

struct projector::session {
  pqxx::connection connection;
};

projector::projector(config::pg_config pg, std::string name)
    : pg_(pg), name_(std::move(name)), store_(std::move(pg), config::journal_config{}) {}

projector::~projector() = default;

const std::string& projector::list_orders_sql(bool with_cursor) {
  static const std::string first = list_sql(false);
  static const std::string after = list_sql(true);
  return with_cursor ? after : first;
}

const std::string& projector::get_order_sql() {
  return order_sql;
}

const std::string& projector::get_inventory_sql() {
  return inventory_sql;
}

template <class T, class Body>
store_result<T> projector::with_connection(const char* what, Body&& body) {
  try {
    if (!conn_ || !conn_->connection.is_open()) {
      conn_.reset();
      conn_.reset(new session{pqxx::connection{pg_event_store::connection_string(pg_)}});
    }
    return body(conn_->connection);
  } catch (const undecodable_event& e) {
    return store_error{store_errc::rejected, std::string{what} + ": " + e.what()};
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    return store_error{store_errc::outcome_unknown, std::string{what} + ": " + e.what()};
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return store_error{store_errc::unavailable, std::string{what} + ": " + e.what()};
  } catch (const pqxx::sql_error& e) {
    return store_error{store_errc::rejected, std::string{what} + ": " + e.what()};
  } catch (const std::exception& e) {
    conn_.reset();
    return store_error{store_errc::unavailable, std::string{what} + ": " + e.what()};
  }
}

store_result<projection_changes> projector::run_once(int32_t max_events) {
  if (!sub_) {
    auto checkpoint = with_connection<log_checkpoint>("load checkpoint", [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      auto r = tx.exec_params("SELECT transaction_id::text, position FROM subscription_checkpoints"
                              " WHERE subscription = $1",
                              name_);
      return r.empty() ? log_checkpoint{}
                       : log_checkpoint{r[0][0].as<uint64_t>(), r[0][1].as<int64_t>()};
    });
    if (!checkpoint) {
      return checkpoint.error();
    }
    sub_.emplace(store_, *checkpoint);
  }
  auto events = sub_->poll(max_events);
  if (!events) {
    sub_.reset();
    return events.error();
  }
  if (events->empty()) {
    projection_changes none;
    none.checkpoint = sub_->checkpoint();
    return none;
  }
  auto applied = with_connection<projection_changes>("project", [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto changes = page_writer{tx}.apply_page(*events);
    changes.checkpoint = sub_->checkpoint();
    for (const auto& e : *events) {
      changes.highest_position = std::max(changes.highest_position, e.global_position);
    }
    tx.exec_params("INSERT INTO subscription_checkpoints (subscription, transaction_id, position)"
                   " VALUES ($1, $2::xid8, $3) ON CONFLICT (subscription) DO UPDATE SET"
                   " transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,"
                   " updated_at = clock_timestamp()",
                   name_, std::to_string(changes.checkpoint.transaction_id),
                   changes.checkpoint.position);
    tx.commit();
    return changes;
  });
  if (!applied) {
    // The subscription has moved past what committed: start again from the stored checkpoint.
    sub_.reset();
  }
  return applied;
}

// The queries below are one statement each, which sees one snapshot by itself: they run outside a
// transaction block, saving the BEGIN and COMMIT round trips.

store_result<order_page> projector::list_orders(const std::string& customer_id,
                                                const std::optional<order_cursor>& after,
                                                int32_t limit) {
  if (limit < 1) {
    return store_error{store_errc::invalid_request, "list orders: limit must be at least 1"};
  }
  return with_connection<order_page>("list orders", [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    auto rows = after ? tx.exec_params(list_orders_sql(true), customer_id, after->placed_at_us,
                                       after->order_id, limit + 1)
                      : tx.exec_params(list_orders_sql(false), customer_id, limit + 1);
    order_page page;
    page.orders = to_orders(rows);
    if (page.orders.size() > static_cast<size_t>(limit)) {
      page.orders.resize(static_cast<size_t>(limit));
      const auto& last = page.orders.back();
      page.next = order_cursor{last.placed_at_us, last.order_id};
    }
    return page;
  });
}

store_result<std::optional<order_view>> projector::get_order(const std::string& order_id) {
  return with_connection<std::optional<order_view>>(
      "get order", [&](pqxx::connection& c) -> std::optional<order_view> {
        pqxx::nontransaction tx{c};
        auto orders = to_orders(tx.exec_params(order_sql, order_id));
        if (orders.empty()) {
          return std::nullopt;
        }
        return std::move(orders.front());
      });
}

store_result<std::optional<inventory_view>> projector::get_inventory(const std::string& sku) {
  return with_connection<std::optional<inventory_view>>(
      "get inventory", [&](pqxx::connection& c) -> std::optional<inventory_view> {
        pqxx::nontransaction tx{c};
        auto rows = tx.exec_params(inventory_sql, sku);
        if (rows.empty()) {
          return std::nullopt;
        }
        const auto& row = rows[0];
        return inventory_view{row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<int64_t>(),
                              row[3].as<int64_t>(),     row[4].as<int64_t>(), row[5].as<int64_t>()};
      });
}

store_result<int64_t> projector::newest_position() {
  return with_connection<int64_t>("newest position", [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    return tx.exec("SELECT coalesce(max(global_position), 0) FROM events")[0][0].as<int64_t>();
  });
}

} // namespace ordermesh::read_models
