#include "tests/system/journal_invariants.hpp"

#include "persistence/pg_event_store.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <set>
#include <sstream>

namespace ordermesh::testing {

namespace {

// The persisted wire names (actors/*/messages.hpp); written out so that the checker does not
// share code with what it checks.
namespace wire {
constexpr const char* order_placed = "order.placed.v1";
constexpr const char* order_confirmed = "order.confirmed.v1";
constexpr const char* order_rejected = "order.rejected.v1";
constexpr const char* order_cancelled = "order.cancelled.v1";
constexpr const char* payment_captured = "order.payment_captured.v1";
constexpr const char* compensation_completed = "order.compensation_completed.v1";
constexpr const char* restocked = "inventory.restocked.v1";
constexpr const char* reserved = "inventory.reserved.v1";
constexpr const char* released = "inventory.released.v1";
constexpr const char* committed = "inventory.committed.v1";
constexpr const char* expired = "inventory.reservation_expired.v1";
constexpr const char* returned = "inventory.returned.v1";
constexpr const char* inventory_settled = "inventory.settled.v1";
constexpr const char* orders_settled = "inventory.orders_settled.v1";
constexpr const char* sale_requested = "order.sale_requested.v1";
constexpr const char* authorized_v1 = "payment.authorized.v1";
constexpr const char* authorized = "payment.authorized.v2";
constexpr const char* hold_released = "payment.hold_released.v1";
constexpr const char* captured = "payment.captured.v1";
constexpr const char* voided = "payment.voided.v1";
constexpr const char* refunded = "payment.refunded.v1";
constexpr const char* sold = "payment.sold.v1";
constexpr const char* sale_reversed = "payment.sale_reversed.v1";
constexpr const char* notification_recorded = "notification.recorded.v1";
} // namespace wire

/// "order/abc" -> ("order", "abc").
std::pair<std::string, std::string> split_stream(const std::string& stream) {
  auto slash = stream.find('/');
  if (slash == std::string::npos) {
    return {stream, ""};
  }
  return {stream.substr(0, slash), stream.substr(slash + 1)};
}

struct sku_stock {
  int64_t on_hand = 0;
  int64_t reserved = 0;
  std::map<std::string, int64_t> holds;
  /// Orders whose hold here ended (released, returned): a later commit takes nothing.
  std::set<std::string> ended;
  /// Units committed per order.
  std::map<std::string, int64_t> committed;
  /// Orders settled here (their committed quantity forgotten), and how often.
  std::map<std::string, int> settled;
};

struct order_history {
  int placed = 0;
  std::vector<std::pair<std::string, int64_t>> lines;
  std::vector<std::string> terminal;
  int saga_ends = 0;
  /// Sold in one PSP call (order.sale_requested, or order.confirmed naming its SKUs): its lines
  /// are settled once.
  bool sale = false;
  /// Confirmed naming its SKUs: its saga ends there (the settlement runner settles and notifies
  /// it); the binary before recorded payment_captured after the notification's answer.
  bool confirmed_naming_skus = false;
  /// notification.recorded events of notification/<order>, and the status of the first.
  int notified = 0;
  std::string notified_as;
};

/// "order.confirmed.v1" -> "confirmed" (the notification's status names).
std::string status_of_terminal(const std::string& type) {
  auto start = type.find('.') + 1;
  return type.substr(start, type.rfind('.') - start);
}

struct payment_history {
  int authorized = 0;
  /// Holds end by the capture or by a release the PSP confirmed (payment.hold_released: a voided
  /// payment's hold, and every surplus attempt's): the keys of attempts that authorized, and of
  /// attempts whose hold was released. (payment.voided is the decision, not the release.)
  std::set<std::string> authorized_keys;
  std::set<std::string> released_keys;
  /// Written since attempts carry their key (payment.authorized.v2): a hold ends only by the
  /// capture or its payment.hold_released. Before (v1), payment.voided released the hold.
  bool keyed = false;
  int captured = 0;
  /// (v1 journals) Voids that closed an open authorization.
  int voided = 0;
  int refunded = 0;
};

/// Holds released: attempts that authorized and whose hold the PSP released (v1: voids that
/// found a hold open).
int released_surplus(const payment_history& p) {
  if (!p.keyed) {
    return p.voided;
  }
  int n = 0;
  for (const auto& key : p.released_keys) {
    n += static_cast<int>(p.authorized_keys.count(key));
  }
  return n;
}

int64_t qty_of(const journal_row& row) {
  return row.payload.value("qty", int64_t{0});
}

std::string order_of(const journal_row& row) {
  return row.payload.value("order_id", std::string{});
}

class checker {
public:
  explicit checker(invariant_options options) : options_(options) {}

  void apply(const journal_row& row) {
    ++report_.counts["events"];
    auto [kind, id] = split_stream(row.stream_id);
    if (kind == "inventory") {
      on_inventory(row, id);
    } else if (kind == "order") {
      on_order(row, id);
    } else if (kind == "payment") {
      on_payment(row, id);
    } else if (kind == "notification") {
      on_notification(row, id);
    }
  }

  invariant_report finish() {
    if (options_.settled) {
      check_settled();
    }
    return std::move(report_);
  }

private:
  void violation(const journal_row& row, const char* kind, const std::string& what) {
    ++report_.kinds[kind];
    std::ostringstream line;
    line << "position " << row.position << " (" << row.stream_id << " v" << row.stream_version
         << " " << row.type << "): " << what;
    report_.violations.push_back(line.str());
    auto [stream_kind, id] = split_stream(row.stream_id);
    name_order(stream_kind == "inventory" ? order_of(row) : id);
  }

  void name_order(const std::string& order) {
    if (!order.empty() &&
        std::find(report_.orders.begin(), report_.orders.end(), order) == report_.orders.end()) {
      report_.orders.push_back(order);
    }
  }

  void on_inventory(const journal_row& row, const std::string& sku) {
    auto& s = stock_[sku];
    const auto order = order_of(row);
    auto take_hold = [&](const char* verb) -> std::optional<int64_t> {
      auto held = s.holds.find(order);
      if (held == s.holds.end()) {
        violation(row, "stock taken that the order does not hold",
                  std::string{verb} + " for order " + order + ", which holds nothing of " + sku);
        return std::nullopt;
      }
      auto qty = held->second;
      s.reserved -= qty;
      s.holds.erase(held);
      return qty;
    };
    if (row.type == wire::restocked) {
      s.on_hand += qty_of(row);
    } else if (row.type == wire::inventory_settled) {
      ++report_.counts["settled"];
      s.settled[order] += 1;
    } else if (row.type == wire::orders_settled) {
      // The settlement runner's: one event per SKU and round, naming each order it settled.
      for (const auto& id : row.payload.at("order_ids")) {
        ++report_.counts["settled"];
        s.settled[id.get<std::string>()] += 1;
      }
    } else if (row.type == wire::returned) {
      // An order that ends unsold gives its committed units back, at most once.
      ++report_.counts["returned"];
      auto& committed = s.committed[order];
      if (committed < qty_of(row)) {
        violation(row, "units returned that were not committed",
                  "order " + order + " returns " + std::to_string(qty_of(row)) + " of " + sku +
                      " but has " + std::to_string(committed) + " committed");
      }
      committed -= qty_of(row);
      s.on_hand += qty_of(row);
      s.ended.insert(order);
    } else if (row.type == wire::reserved) {
      ++report_.counts["reserved"];
      auto& held = s.holds[order];
      s.reserved += qty_of(row) - held;
      held = qty_of(row);
    } else if (row.type == wire::released) {
      ++report_.counts["released"];
      if (qty_of(row) != 0 || s.holds.count(order) != 0) {
        take_hold("released"); // else: an order never seen here, closed (holds nothing)
      }
      s.ended.insert(order);
    } else if (row.type == wire::expired) {
      // Not ended: a take of the order may still take fresh stock (a hold the older binary's
      // reserve left unrecorded by its order, expired before the take arrived).
      ++report_.counts["expired"];
      take_hold("expired");
    } else if (row.type == wire::committed) {
      ++report_.counts["committed"];
      // Without a hold it is a take (reserve and commit at once) of an order never seen here: the
      // oversold check covers it; an order whose hold ended here takes nothing.
      if (s.holds.count(order) != 0 || s.ended.count(order) != 0) {
        auto held = take_hold("committed");
        if (held && *held != qty_of(row)) {
          violation(row, "commit of another quantity than held",
                    "commits " + std::to_string(qty_of(row)) + " but order " + order + " held " +
                        std::to_string(*held));
        }
      }
      s.on_hand -= qty_of(row);
      s.committed[order] += qty_of(row);
    }
    if (s.on_hand < 0 || s.reserved > s.on_hand) {
      violation(row, "oversold",
                "oversold: " + sku + " has " + std::to_string(s.reserved) + " reserved of " +
                    std::to_string(s.on_hand) + " on hand");
    }
  }

  void on_order(const journal_row& row, const std::string& id) {
    auto& o = orders_[id];
    if (row.type == wire::order_placed) {
      ++o.placed;
      if (o.placed > 1) {
        violation(row, "order placed twice",
                  "order " + id + " placed " + std::to_string(o.placed) + " times");
      }
      o.lines.clear();
      for (const auto& line : row.payload.value("lines", nlohmann::json::array())) {
        o.lines.emplace_back(line.value("sku", std::string{}), line.value("qty", int64_t{0}));
      }
    } else if (row.type == wire::order_confirmed || row.type == wire::order_rejected ||
               row.type == wire::order_cancelled) {
      // A sale confirmed naming its SKUs (straight from placed: no order.sale_requested).
      o.sale = o.sale || (row.type == wire::order_confirmed &&
                          !row.payload.value("skus", nlohmann::json::array()).empty());
      o.terminal.push_back(row.type);
      if (o.terminal.size() > 1) {
        violation(row, "second terminal event",
                  "order " + id + " has a second terminal event after " + o.terminal.front());
      }
      if (row.type == wire::order_confirmed &&
          !row.payload.value("skus", nlohmann::json::array()).empty()) {
        o.confirmed_naming_skus = true;
      }
      check_notification(row, id);
    } else if (row.type == wire::sale_requested) {
      o.sale = true;
    } else if (row.type == wire::payment_captured || row.type == wire::compensation_completed) {
      ++o.saga_ends;
      if (o.saga_ends > 1) {
        violation(row, "saga ended twice", "order " + id + "'s saga ended twice");
      }
    }
  }

  /// The notification entity records once per order, with the order's terminal status (checked
  /// at whichever of the two comes last).
  void on_notification(const journal_row& row, const std::string& id) {
    if (row.type != wire::notification_recorded) {
      return;
    }
    auto& o = orders_[id];
    ++report_.counts["notified"];
    if (++o.notified > 1) {
      violation(row, "notified twice",
                "order " + id + " notified " + std::to_string(o.notified) + " times");
    }
    if (o.notified == 1) {
      o.notified_as = row.payload.value("status", std::string{});
    }
    check_notification(row, id);
  }

  void check_notification(const journal_row& row, const std::string& id) {
    const auto& o = orders_[id];
    if (o.notified == 0 || o.terminal.empty()) {
      return;
    }
    if (o.notified_as != status_of_terminal(o.terminal.front())) {
      violation(row, "notified with another status",
                "order " + id + " (" + o.terminal.front() + ") notified as " + o.notified_as);
    }
  }

  void on_payment(const journal_row& row, const std::string& id) {
    auto& p = payments_[id];
    if (row.type == wire::authorized || row.type == wire::authorized_v1) {
      ++p.authorized;
      ++report_.counts["authorized"];
      p.authorized_keys.insert(row.payload.value("idempotency_key", std::string{}));
      p.keyed = p.keyed || row.type == wire::authorized;
    } else if (row.type == wire::hold_released) {
      ++report_.counts["hold_released"];
      p.released_keys.insert(row.payload.value("idempotency_key", std::string{}));
    } else if (row.type == wire::captured) {
      ++p.captured;
      ++report_.counts["captured"];
      if (p.captured > 1 || p.captured > p.authorized - released_surplus(p)) {
        violation(row, "capture without authorization or twice",
                  "payment " + id + " captured " + std::to_string(p.captured) + " times after " +
                      std::to_string(p.authorized) + " authorizations");
      }
    } else if (row.type == wire::voided) {
      // (v1) A void closes a hold only if one is open: a payment never authorized (declined,
      // failed, never answered) is voided too, and holds nothing.
      ++report_.counts["voided"];
      if (p.authorized > p.captured + p.voided) {
        ++p.voided;
      }
    } else if (row.type == wire::refunded) {
      ++p.refunded;
      ++report_.counts["refunded"];
    } else if (row.type == wire::sold) {
      // A sale: authorized and captured at once.
      ++p.authorized;
      ++p.captured;
      ++report_.counts["authorized"];
      ++report_.counts["captured"];
      if (p.captured > 1) {
        violation(row, "capture without authorization or twice",
                  "payment " + id + " captured " + std::to_string(p.captured) + " times");
      }
    } else if (row.type == wire::sale_reversed && p.captured > p.refunded) {
      ++p.refunded;
      ++report_.counts["refunded"];
    }
  }

  void settled_violation(const char* kind, const std::string& what, const std::string& order) {
    ++report_.kinds[kind];
    report_.violations.push_back(what);
    if (std::find(report_.orders.begin(), report_.orders.end(), order) == report_.orders.end()) {
      report_.orders.push_back(order);
    }
  }

  void check_settled() {
    for (const auto& [id, o] : orders_) {
      ++report_.counts["orders"];
      if (o.placed != 1) {
        settled_violation(
            "order.placed count",
            "order " + id + " has " + std::to_string(o.placed) + " order.placed events", id);
        continue;
      }
      if (o.terminal.size() != 1) {
        settled_violation("not exactly one terminal event",
                          "order " + id + " has " + std::to_string(o.terminal.size()) +
                              " terminal events (settled)",
                          id);
        continue;
      }
      const bool confirmed = o.terminal.front() == wire::order_confirmed;
      ++report_.counts[confirmed                                    ? "confirmed"
                       : o.terminal.front() == wire::order_rejected ? "rejected"
                                                                    : "cancelled"];
      // Ended at its confirmation (a sale confirmed naming its SKUs), or by its last step.
      if (o.saga_ends != 1 && !(o.saga_ends == 0 && o.confirmed_naming_skus)) {
        settled_violation("saga never ended",
                          "order " + id + " (" + o.terminal.front() + ") never ended its saga", id);
      }
      // The settlement runner notifies every sale confirmed naming its SKUs (the saga's own
      // notifications of other orders are not awaited: lost with a crash, not checked).
      if (o.confirmed_naming_skus && o.notified != 1) {
        settled_violation("confirmed sale not notified once",
                          "order " + id + " is a confirmed sale notified " +
                              std::to_string(o.notified) + " times",
                          id);
      }
      for (const auto& [sku, qty] : o.lines) {
        auto committed = stock_[sku].committed[id];
        if (confirmed && committed != qty) {
          settled_violation("confirmed without committed stock",
                            "order " + id + " is confirmed but " + std::to_string(committed) +
                                " of its " + std::to_string(qty) + " " + sku +
                                " were committed (confirmed without committed stock)",
                            id);
        }
        if (confirmed && o.sale && stock_[sku].settled[id] != 1) {
          settled_violation("confirmed sale not settled once",
                            "order " + id + " is a confirmed sale settled " +
                                std::to_string(stock_[sku].settled[id]) + " times at " + sku +
                                " (confirmed sale not settled once)",
                            id);
        }
        if (!confirmed && committed != 0) {
          settled_violation("ended unsold but took stock",
                            "order " + id + " ended " + o.terminal.front() + " but took " +
                                std::to_string(committed) + " " + sku + " from the stock",
                            id);
        }
      }
      const auto& p = payments_[id];
      if (p.authorized != p.captured + released_surplus(p)) {
        settled_violation("authorizations != captures + releases",
                          "payment " + id + " (order " + o.terminal.front() +
                              "): " + std::to_string(p.authorized) +
                              " authorizations != " + std::to_string(p.captured) + " captures + " +
                              std::to_string(released_surplus(p)) + " releases",
                          id);
      }
      if (!confirmed && p.captured > p.refunded) {
        settled_violation("charged for an unsold order",
                          "order " + id + " ended " + o.terminal.front() +
                              " with its payment captured and not refunded",
                          id);
      }
      if (confirmed && p.captured != 1) {
        settled_violation(
            "confirmed with captures != 1",
            "order " + id + " is confirmed with " + std::to_string(p.captured) + " captures", id);
      }
    }
    for (const auto& [id, p] : payments_) {
      if (orders_.count(id) == 0 && p.authorized > 0) {
        settled_violation("authorization without order",
                          "payment " + id + " has authorizations but no order", id);
      }
    }
    int64_t held = 0;
    for (const auto& [sku, s] : stock_) {
      held += s.reserved;
    }
    report_.counts["held_at_end"] = held;
  }

  invariant_options options_;
  invariant_report report_;
  std::map<std::string, sku_stock> stock_;
  std::map<std::string, order_history> orders_;
  std::map<std::string, payment_history> payments_;
};

} // namespace

std::string invariant_report::describe(size_t max_lines) const {
  std::ostringstream out;
  for (const auto& [name, value] : counts) {
    out << name << "=" << value << " ";
  }
  out << "\n" << kinds_text() << "\n" << violations.size() << " violation(s)\n";
  for (size_t i = 0; i < violations.size() && i < max_lines; ++i) {
    out << "  " << violations[i] << "\n";
  }
  if (violations.size() > max_lines) {
    out << "  ... " << violations.size() - max_lines << " more\n";
  }
  return out.str();
}

std::string invariant_report::kinds_text() const {
  if (violations.empty()) {
    return "ok";
  }
  std::string out;
  for (const auto& [kind, n] : kinds) {
    out += (out.empty() ? "" : "; ") + kind + " x" + std::to_string(n);
  }
  return out;
}

bool invariant_report::has(const std::string& text) const {
  for (const auto& v : violations) {
    if (v.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::vector<journal_row> read_journal(const config::pg_config& pg) {
  pqxx::connection c{persistence::pg_event_store::connection_string(pg)};
  pqxx::work tx{c};
  std::vector<journal_row> out;
  for (const auto& r : tx.exec("SELECT global_position, stream_id, stream_version, event_type, "
                               "payload::text, coalesce(metadata->>'message_id', '') FROM events "
                               "ORDER BY global_position")) {
    out.push_back(journal_row{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                              r[3].as<std::string>(), nlohmann::json::parse(r[4].as<std::string>()),
                              r[5].as<std::string>()});
  }
  tx.commit();
  return out;
}

std::string describe_order(const std::vector<journal_row>& history, const std::string& order_id) {
  std::ostringstream out;
  for (const auto& row : history) {
    if (row.stream_id == "order/" + order_id || row.stream_id == "payment/" + order_id ||
        row.payload.value("order_id", std::string{}) == order_id ||
        row.message_id.rfind(order_id + "/", 0) == 0) {
      out << "  " << row.position << " " << row.stream_id << " v" << row.stream_version << " "
          << row.type << " " << row.payload.dump() << " (message " << row.message_id << ")\n";
    }
  }
  return out.str();
}

invariant_report check_journal(const std::vector<journal_row>& history,
                               const invariant_options& options) {
  checker c{options};
  for (const auto& row : history) {
    c.apply(row);
  }
  return c.finish();
}

} // namespace ordermesh::testing
