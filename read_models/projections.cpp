#include "read_models/projections.hpp"

#include "persistence/sql_array.hpp"
#include "read_models/page_fold.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <stdexcept>

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

// Microseconds since the Unix epoch <-> timestamptz, exactly.
#define OM_TS(param) "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"
#define OM_US(column) "(extract(epoch FROM " column ") * 1000000)::bigint"

/// A stored row the fold cannot take (a value no projection writes): the page must not commit.
struct invalid_stored_row : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The columns of read_orders `o` left-joined with read_order_lines `l` that order_of and line_of
// read, by the page and by the queries alike.
#define OM_ORDER_COLUMNS                                                                           \
  "o.order_id, o.customer_id, o.status, o.reason, o.amount_cents, " OM_US(                         \
      "o.placed_at") ", " OM_US("o.updated_at") ", o.version, l.line_no, l.sku, l.qty, "           \
                                                "l.reservation"

/// The order of a row of OM_ORDER_COLUMNS, without its lines.
order_row order_of(const pqxx::row& row) {
  const auto id = row[0].as<std::string>();
  const auto status = order::order_status_from(row[2].as<std::string>());
  if (!status) {
    throw invalid_stored_row{"read_orders row " + id + " has status " + row[2].as<std::string>()};
  }
  order_row o;
  o.order_id = id;
  o.customer_id = row[1].as<std::string>();
  o.status = *status;
  o.reason = row[3].as<std::string>();
  o.amount_cents = row[4].as<int64_t>();
  o.placed_at_us = row[5].as<int64_t>();
  o.updated_at_us = row[6].as<int64_t>();
  o.version = row[7].as<int64_t>();
  return o;
}

/// The line of a row of OM_ORDER_COLUMNS; nullopt for an order without lines.
std::optional<order_line_row> line_of(const pqxx::row& row) {
  if (row[8].is_null()) {
    return std::nullopt;
  }
  const auto reservation = line_reservation_from(row[11].as<std::string>());
  if (!reservation) {
    throw invalid_stored_row{"read_order_lines row of " + row[0].as<std::string>() +
                             " has reservation " + row[11].as<std::string>()};
  }
  return order_line_row{row[8].as<int32_t>(), row[9].as<std::string>(), row[10].as<int32_t>(),
                        *reservation};
}

// The columns of read_inventory that inventory_of reads.
#define OM_INVENTORY_COLUMNS "sku, on_hand, reserved, version, " OM_US("updated_at")

inventory_row inventory_of(const pqxx::row& row) {
  return inventory_row{row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<int64_t>(),
                       row[3].as<int64_t>(), row[4].as<int64_t>()};
}

// The page's statements, prepared once per connection (prepare_page_statements): a page runs each
// at most once whatever its size, the rows of a table going in arrays (unnest).
namespace page_sql {

// Page writers wait for each other here, so that each reads the rows as the previous page left
// them; FOR UPDATE could not lock the rows a page is about to create.
// Each statement that finds rows names the page's keys on every table it reads (`= ANY($1)`, the
// leading column of its primary key), or looks a row up by one found so (the lines), and the
// connection that writes pages plans no sequential scan (projector::session_settings): its plan,
// made once per connection and maybe while the tables were empty or tiny, then looks the rows up by
// key however large the tables grow.
const char* const lock = "om_rm_lock";
const char* const read_orders = "om_rm_read_orders";
const char* const read_inventory = "om_rm_read_inventory";
const char* const read_holds = "om_rm_read_holds";
const char* const insert_orders = "om_rm_insert_orders";
const char* const upsert_orders = "om_rm_upsert_orders";
const char* const insert_lines = "om_rm_insert_lines";
const char* const upsert_lines = "om_rm_upsert_lines";
const char* const insert_inventory = "om_rm_insert_inventory";
const char* const upsert_inventory = "om_rm_upsert_inventory";
const char* const set_holds = "om_rm_set_holds";
const char* const clear_holds = "om_rm_clear_holds";
const char* const checkpoint = "om_rm_checkpoint";

const std::vector<std::pair<const char*, std::string>> statements{
    {lock, "SELECT pg_advisory_xact_lock($1)"},
    // Each order's lines looked up by that order alone, once it is found (OFFSET 0 keeps the
    // subquery a nested loop over the orders found): a join of the lines by all the page's keys
    // probed the lines' index for every key, or once per order found with the whole key array
    // (a generic plan on a grown table: 7 times the time of this one).
    {read_orders, "SELECT " OM_ORDER_COLUMNS " FROM read_orders o LEFT JOIN LATERAL (SELECT * "
                  "FROM read_order_lines l WHERE l.order_id = o.order_id OFFSET 0) l ON true "
                  "WHERE o.order_id = ANY($1::text[])"},
    {read_inventory,
     "SELECT " OM_INVENTORY_COLUMNS " FROM read_inventory WHERE sku = ANY($1::text[])"},
    {read_holds, "SELECT h.sku, h.order_id, h.qty FROM unnest($1::text[], $2::text[]) AS "
                 "k(sku, order_id) JOIN read_inventory_holds h ON h.sku = k.sku AND "
                 "h.order_id = k.order_id AND h.sku = ANY($1::text[])"},
    // The page read every row it writes (under the lock): the rows it did not find are inserted
    // without ON CONFLICT, whose arbiter probes each key before the insertion probes it again (a
    // plain INSERT of new lines cost about half as much, of new orders three quarters). The rows
    // it found go through ON CONFLICT DO UPDATE: an UPDATE ... FROM unnest() would save its probe
    // too, but a plan of it made on tiny tables (once per connection) joins by scanning a table.
    {insert_orders,
     "INSERT INTO read_orders (order_id, customer_id, status, reason, amount_cents, placed_at, "
     "updated_at, version) SELECT r.order_id, r.customer_id, r.status, r.reason, "
     "r.amount_cents, " OM_TS("r.placed_at_us") ", " OM_TS(
         "r.updated_at_us") ", r.version FROM unnest($1::text[], $2::text[], $3::text[], "
                            "$4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) "
                            "AS r(order_id, customer_id, status, reason, amount_cents, "
                            "placed_at_us, updated_at_us, version)"},
    {insert_lines, "INSERT INTO read_order_lines (order_id, line_no, sku, qty, reservation) "
                   "SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], "
                   "$5::text[])"},
    {insert_inventory,
     "INSERT INTO read_inventory (sku, on_hand, reserved, available, version, updated_at) "
     "SELECT r.sku, r.on_hand, r.reserved, r.on_hand - r.reserved, r.version, " OM_TS(
         "r.updated_at_us") " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], "
                            "$5::bigint[]) AS r(sku, on_hand, reserved, version, updated_at_us)"},
    // The rows the page found: guarded by version as well, although the lock already keeps a
    // page from going backwards.
    {upsert_orders,
     "INSERT INTO read_orders (order_id, customer_id, status, reason, amount_cents, placed_at, "
     "updated_at, version) SELECT r.order_id, r.customer_id, r.status, r.reason, "
     "r.amount_cents, " OM_TS("r.placed_at_us") ", " OM_TS(
         "r.updated_at_us") ", r.version FROM unnest($1::text[], $2::text[], $3::text[], "
                            "$4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) "
                            "AS r(order_id, customer_id, status, reason, amount_cents, "
                            "placed_at_us, updated_at_us, version) ON CONFLICT (order_id) DO "
                            "UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, "
                            "updated_at = EXCLUDED.updated_at, version = EXCLUDED.version WHERE "
                            "read_orders.version < EXCLUDED.version"},
    {upsert_lines, "INSERT INTO read_order_lines (order_id, line_no, sku, qty, reservation) "
                   "SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], "
                   "$5::text[]) ON CONFLICT (order_id, line_no) DO UPDATE SET reservation = "
                   "EXCLUDED.reservation"},
    {upsert_inventory,
     "INSERT INTO read_inventory (sku, on_hand, reserved, available, version, updated_at) "
     "SELECT r.sku, r.on_hand, r.reserved, r.on_hand - r.reserved, r.version, " OM_TS(
         "r.updated_at_us") " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], "
                            "$5::bigint[]) AS r(sku, on_hand, reserved, version, updated_at_us) "
                            "ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, "
                            "reserved = EXCLUDED.reserved, available = EXCLUDED.available, "
                            "version = EXCLUDED.version, updated_at = EXCLUDED.updated_at "
                            "WHERE read_inventory.version < EXCLUDED.version"},
    {set_holds, "INSERT INTO read_inventory_holds (sku, order_id, qty) SELECT * FROM "
                "unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT (sku, order_id) DO "
                "UPDATE SET qty = EXCLUDED.qty"},
    {clear_holds, "DELETE FROM read_inventory_holds h USING unnest($1::text[], $2::text[]) AS "
                  "k(sku, order_id) WHERE h.sku = k.sku AND h.order_id = k.order_id AND "
                  "h.sku = ANY($1::text[])"},
    {checkpoint,
     "INSERT INTO subscription_checkpoints (subscription, transaction_id, position)"
     " VALUES ($1, $2::xid8, $3) ON CONFLICT (subscription) DO UPDATE SET"
     " transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,"
     " updated_at = clock_timestamp()"
     // Only forward: a lagging projector of the same name does not move it back.
     " WHERE (subscription_checkpoints.transaction_id, subscription_checkpoints.position)"
     " < (EXCLUDED.transaction_id, EXCLUDED.position)"},
};

} // namespace page_sql

void prepare_page_statements(pqxx::connection& c) {
  for (const auto& [name, sql] : page_sql::statements) {
    c.prepare(name, sql);
  }
}

/// Applies one page of events inside the caller's transaction: reads the rows the page touches,
/// folds the page into them (fold_page) and writes the rows that changed, with a fixed number of
/// statements whatever the page's size.
class page_writer {
public:
  explicit page_writer(pqxx::work& tx) : tx_(tx) {}

  /// Applies every event; what changed, with each changed order as it stands after the page.
  projection_changes apply_page(const std::vector<recorded_event>& events) {
    projection_changes out;
    out.read = events.size();
    auto decoded = decode_page(events);
    if (decoded.empty()) {
      return out;
    }
    auto keys = keys_of(decoded);
    exec(page_sql::lock, projector::page_lock_key);
    auto rows = fold_page(decoded, read_rows(keys));
    write(rows);
    out.applied = rows.applied;
    for (auto& row : rows.orders) {
      out.orders.push_back({std::move(row.order_id), std::move(row.customer_id),
                            order::to_string(row.status), std::move(row.reason)});
    }
    for (auto& row : rows.inventory) {
      out.skus.push_back(std::move(row.sku));
    }
    return out;
  }

  /// Stores the checkpoint after the page.
  void store_checkpoint(const std::string& name, const log_checkpoint& checkpoint) {
    exec(page_sql::checkpoint, name, std::to_string(checkpoint.transaction_id),
         checkpoint.position);
  }

  /// The statements run so far.
  size_t statements() const { return statements_; }

private:
  template <class... Args>
  pqxx::result exec(const char* statement, Args&&... args) {
    ++statements_;
    return tx_.exec_prepared(statement, std::forward<Args>(args)...);
  }

  stored_rows read_rows(const page_keys& keys) {
    stored_rows out;
    if (!keys.order_ids.empty()) {
      for (const auto& row : exec(page_sql::read_orders, sql_text_array(keys.order_ids))) {
        auto id = row[0].as<std::string>();
        auto at = out.orders.find(id);
        if (at == out.orders.end()) {
          at = out.orders.emplace(id, order_of(row)).first;
        }
        if (auto line = line_of(row)) {
          at->second.lines.push_back(std::move(*line));
        }
      }
      for (auto& [id, o] : out.orders) {
        std::sort(o.lines.begin(), o.lines.end(),
                  [](const auto& a, const auto& b) { return a.line_no < b.line_no; });
      }
    }
    if (!keys.skus.empty()) {
      for (const auto& row : exec(page_sql::read_inventory, sql_text_array(keys.skus))) {
        auto stock = inventory_of(row);
        auto sku = stock.sku;
        out.inventory[sku] = std::move(stock);
      }
    }
    if (const auto holds = holds_to_read(keys.holds, out.inventory); !holds.empty()) {
      std::vector<std::string> skus;
      std::vector<std::string> order_ids;
      for (const auto& key : holds) {
        skus.push_back(key.sku);
        order_ids.push_back(key.order_id);
      }
      for (const auto& row :
           exec(page_sql::read_holds, sql_text_array(skus), sql_text_array(order_ids))) {
        out.holds[hold_key{row[0].as<std::string>(), row[1].as<std::string>()}] =
            row[2].as<int64_t>();
      }
    }
    return out;
  }

  void write(const page_rows& rows) {
    write_orders(rows, false);
    write_orders(rows, true);
    write_lines(rows, false);
    write_lines(rows, true);
    write_inventory(rows, false);
    write_inventory(rows, true);
    if (!rows.holds_set.empty()) {
      std::vector<std::string> skus, order_ids;
      std::vector<int64_t> qtys;
      for (const auto& [key, qty] : rows.holds_set) {
        skus.push_back(key.sku);
        order_ids.push_back(key.order_id);
        qtys.push_back(qty);
      }
      exec(page_sql::set_holds, sql_text_array(skus), sql_text_array(order_ids),
           sql_int_array(qtys));
    }
    if (!rows.holds_cleared.empty()) {
      std::vector<std::string> skus, order_ids;
      for (const auto& key : rows.holds_cleared) {
        skus.push_back(key.sku);
        order_ids.push_back(key.order_id);
      }
      exec(page_sql::clear_holds, sql_text_array(skus), sql_text_array(order_ids));
    }
  }

  /// The orders stored before the page (`stored`: upserted) or the others (inserted).
  void write_orders(const page_rows& rows, bool stored) {
    std::vector<std::string> ids, customers, statuses, reasons;
    std::vector<int64_t> amounts, placed, updated, versions;
    for (size_t i = 0; i < rows.orders.size(); ++i) {
      if (rows.order_stored[i] != stored) {
        continue;
      }
      const auto& o = rows.orders[i];
      ids.push_back(o.order_id);
      customers.push_back(o.customer_id);
      statuses.emplace_back(order::to_string(o.status));
      reasons.push_back(o.reason);
      amounts.push_back(o.amount_cents);
      placed.push_back(o.placed_at_us);
      updated.push_back(o.updated_at_us);
      versions.push_back(o.version);
    }
    if (ids.empty()) {
      return;
    }
    exec(stored ? page_sql::upsert_orders : page_sql::insert_orders, sql_text_array(ids),
         sql_text_array(customers), sql_text_array(statuses), sql_text_array(reasons),
         sql_int_array(amounts), sql_int_array(placed), sql_int_array(updated),
         sql_int_array(versions));
  }

  void write_lines(const page_rows& rows, bool stored) {
    std::vector<std::string> ids, skus, reservations;
    std::vector<int64_t> line_nos, qtys;
    for (size_t i = 0; i < rows.lines.size(); ++i) {
      if (rows.line_stored[i] != stored) {
        continue;
      }
      const auto& [id, line] = rows.lines[i];
      ids.push_back(id);
      line_nos.push_back(line.line_no);
      skus.push_back(line.sku);
      qtys.push_back(line.qty);
      reservations.emplace_back(to_string(line.reservation));
    }
    if (ids.empty()) {
      return;
    }
    exec(stored ? page_sql::upsert_lines : page_sql::insert_lines, sql_text_array(ids),
         sql_int_array(line_nos), sql_text_array(skus), sql_int_array(qtys),
         sql_text_array(reservations));
  }

  void write_inventory(const page_rows& rows, bool stored) {
    std::vector<std::string> skus;
    std::vector<int64_t> on_hand, reserved, versions, updated;
    for (size_t i = 0; i < rows.inventory.size(); ++i) {
      if (rows.inventory_stored[i] != stored) {
        continue;
      }
      const auto& row = rows.inventory[i];
      skus.push_back(row.sku);
      on_hand.push_back(row.on_hand);
      reserved.push_back(row.reserved);
      versions.push_back(row.version);
      updated.push_back(row.updated_at_us);
    }
    if (skus.empty()) {
      return;
    }
    exec(stored ? page_sql::upsert_inventory : page_sql::insert_inventory, sql_text_array(skus),
         sql_int_array(on_hand), sql_int_array(reserved), sql_int_array(versions),
         sql_int_array(updated));
  }

  pqxx::work& tx_;
  size_t statements_ = 0;
};

// One page of orders (limit + 1, to know whether more follow) joined with their lines: one row per
// line, or one row with NULL line columns for an order without lines.
std::string list_sql(bool with_cursor) {
  std::string page = "SELECT * FROM read_orders WHERE customer_id = $1";
  if (with_cursor) {
    page += " AND (placed_at, order_id) < (" OM_TS("$2") ", $3)";
  }
  page += " ORDER BY placed_at DESC, order_id DESC LIMIT ";
  page += with_cursor ? "$4" : "$2";
  return "WITH o AS (" + page + ") SELECT " OM_ORDER_COLUMNS +
         " FROM o LEFT JOIN read_order_lines l USING (order_id)"
         " ORDER BY o.placed_at DESC, o.order_id DESC, l.line_no";
}

const std::string order_sql = std::string{"SELECT " OM_ORDER_COLUMNS} +
                              " FROM read_orders o LEFT JOIN read_order_lines l"
                              " USING (order_id) WHERE o.order_id = $1 ORDER BY l.line_no";

const std::string inventory_sql =
    "SELECT " OM_INVENTORY_COLUMNS " FROM read_inventory WHERE sku = $1";

/// Groups rows of OM_ORDER_COLUMNS (sorted by order) into orders.
std::vector<order_row> to_orders(const pqxx::result& rows) {
  std::vector<order_row> out;
  for (const auto& row : rows) {
    if (out.empty() || out.back().order_id != row[0].as<std::string>()) {
      out.push_back(order_of(row));
    }
    if (auto line = line_of(row)) {
      out.back().lines.push_back(std::move(*line));
    }
  }
  return out;
}

#undef OM_INVENTORY_COLUMNS
#undef OM_ORDER_COLUMNS
#undef OM_TS
#undef OM_US

} // namespace

struct projector::session {
  pqxx::connection connection;
  /// Whether session_settings() and the page's statements are set up on it: by its first page,
  /// so that a connection that only answers queries plans them with every plan allowed.
  bool writes_pages = false;
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

const std::vector<std::pair<const char*, std::string>>& projector::page_statements() {
  return page_sql::statements;
}

const std::vector<std::string>& projector::session_settings() {
  // Every statement of a page looks rows up by the page's keys, and each is planned once per
  // connection, maybe while a table was tiny and a scan of it cheapest: that plan would then scan
  // the table as it grows, until the next ANALYZE. Without sequential scans the planner keeps to
  // the keys' indexes at any size. The queries (get_order, ...) are planned afresh each time
  // with the current statistics and need no such setting: a connection gets it with its first
  // page, so a gateway worker's never does.
  static const std::vector<std::string> settings{"SET enable_seqscan = off"};
  return settings;
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
  } catch (const invalid_stored_row& e) {
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
    // Only what the fold uses: the other events and every event's metadata stay in the server.
    sub_.emplace(store_, *checkpoint, folded_types());
  }
  const auto before = sub_->checkpoint();
  auto events = sub_->poll(max_events);
  if (!events) {
    sub_.reset();
    return events.error();
  }
  if (events->empty()) {
    projection_changes none;
    none.checkpoint = sub_->checkpoint();
    if (!(none.checkpoint == before)) {
      // Passed over events of other types up to the log's end: not to be scanned again.
      auto saved = store_.save_checkpoint(name_, none.checkpoint);
      if (!saved) {
        sub_.reset();
        return saved.error();
      }
    }
    return none;
  }
  auto applied = with_connection<projection_changes>("project", [&](pqxx::connection& c) {
    if (!conn_->writes_pages) {
      pqxx::nontransaction settings{c};
      for (const auto& setting : session_settings()) {
        settings.exec0(setting);
      }
      settings.commit();
      prepare_page_statements(c);
      conn_->writes_pages = true;
    }
    pqxx::work tx{c};
    page_writer writer{tx};
    auto changes = writer.apply_page(*events);
    changes.checkpoint = sub_->checkpoint();
    for (const auto& e : *events) {
      changes.highest_position = std::max(changes.highest_position, e.global_position);
    }
    writer.store_checkpoint(name_, changes.checkpoint);
    last_page_statements_ = writer.statements();
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

store_result<std::optional<order_row>> projector::get_order(const std::string& order_id) {
  return with_connection<std::optional<order_row>>(
      "get order", [&](pqxx::connection& c) -> std::optional<order_row> {
        pqxx::nontransaction tx{c};
        auto orders = to_orders(tx.exec_params(order_sql, order_id));
        if (orders.empty()) {
          return std::nullopt;
        }
        return std::move(orders.front());
      });
}

store_result<std::optional<inventory_row>> projector::get_inventory(const std::string& sku) {
  return with_connection<std::optional<inventory_row>>(
      "get inventory", [&](pqxx::connection& c) -> std::optional<inventory_row> {
        pqxx::nontransaction tx{c};
        auto rows = tx.exec_params(inventory_sql, sku);
        if (rows.empty()) {
          return std::nullopt;
        }
        return inventory_of(rows[0]);
      });
}

store_result<int64_t> projector::newest_position() {
  return with_connection<int64_t>("newest position", [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    return tx.exec("SELECT coalesce(max(global_position), 0) FROM events")[0][0].as<int64_t>();
  });
}

} // namespace ordermesh::read_models
