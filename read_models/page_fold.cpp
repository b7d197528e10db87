#include "read_models/page_fold.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/inventory/codec.hpp"
#include "actors/order/codec.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace ordermesh::read_models {

namespace order = actors::order;
namespace inventory = actors::inventory;

namespace {

constexpr std::string_view order_prefix = "order/";
constexpr std::string_view inventory_prefix = "inventory/";

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

undecodable_event cannot_decode(const persistence::recorded_event& e) {
  return undecodable_event{"cannot decode " + e.type + " at position " +
                           std::to_string(e.global_position)};
}

/// Keys in the order they were first added, each once.
template <class Key, class Set = std::unordered_set<Key>>
class ordered_keys {
public:
  void add(const Key& key) {
    if (seen_.insert(key).second) {
      keys_.push_back(key);
    }
  }
  std::vector<Key>& keys() { return keys_; }

private:
  Set seen_;
  std::vector<Key> keys_;
};

/// The page's working copy of the rows, and which of them changed.
class page_state {
public:
  explicit page_state(stored_rows stored) : stored_(std::move(stored)) {
    orders_ = stored_.orders;
    inventory_ = stored_.inventory;
    for (const auto& [key, qty] : stored_.holds) {
      holds_.emplace(key, qty);
    }
  }

  bool apply(const order_event_at& e) {
    if (auto placed = std::get_if<order::order_placed>(&e.event)) {
      return place(e, *placed);
    }
    auto found = orders_.find(e.order_id);
    if (found == orders_.end() || found->second.version >= e.version) {
      return false;
    }
    auto& row = found->second;
    row.version = e.version;
    row.updated_at_us = e.recorded_at_us;
    std::visit(actors::overloaded{
                   [&](const order::stock_reserved& x) {
                     set_line(row, x.sku, line_reservation::reserved);
                   },
                   // A take (reserve and commit at once): the line holds its stock.
                   [&](const order::stock_committed& x) {
                     set_line(row, x.sku, line_reservation::reserved);
                   },
                   // Every line taken (the current binary records no event per line).
                   [&](const order::sale_requested&) {
                     for (const auto& line : row.lines) {
                       set_line(row, line.sku, line_reservation::reserved);
                     }
                   },
                   [&](const order::stock_reservation_failed& x) {
                     set_line(row, x.sku, line_reservation::failed);
                   },
                   // A sale confirmed straight from placed (its first sale recorded by no
                   // event): the SKUs it names were taken.
                   [&](const order::order_confirmed& x) {
                     for (const auto& sku : x.skus) {
                       set_line(row, sku, line_reservation::reserved);
                     }
                     set_status(row, order::order_status::confirmed, "");
                   },
                   [&](const order::order_rejected& x) {
                     set_status(row, order::order_status::rejected, x.reason);
                   },
                   [&](const order::order_cancelled& x) {
                     set_status(row, order::order_status::cancelled, x.reason);
                   },
                   // The rest move the saga, not what a reader of the order sees.
                   [](const auto&) {},
               },
               e.event);
    changed_orders_.add(e.order_id);
    return true;
  }

  bool apply(const inventory_event_at& e) {
    auto& row = inventory_.try_emplace(e.sku, inventory_row{e.sku, 0, 0, 0, e.recorded_at_us})
                    .first->second;
    if (row.version >= e.version) {
      return false;
    }
    row.version = e.version;
    row.updated_at_us = e.recorded_at_us;
    std::visit(actors::overloaded{
                   [&](const inventory::restocked& x) { row.on_hand += x.qty; },
                   [&](const inventory::reserved& x) { hold(row, x.order_id, x.qty); },
                   [](const inventory::reservation_rejected&) {},
                   [&](const inventory::released& x) { unhold(row, x.order_id); },
                   [&](const inventory::committed& x) {
                     unhold(row, x.order_id);
                     row.on_hand -= x.qty;
                   },
                   [&](const inventory::reservation_expired& x) { unhold(row, x.order_id); },
                   [&](const inventory::returned& x) { row.on_hand += x.qty; },
                   [](const inventory::settled&) {}, // stock unchanged
                   [](const inventory::orders_settled&) {},
               },
               e.event);
    changed_skus_.add(e.sku);
    return true;
  }

  /// The changed rows, as they stand now.
  page_rows result(size_t applied) {
    page_rows out;
    out.applied = applied;
    for (const auto& id : changed_orders_.keys()) {
      const auto& row = orders_.at(id);
      auto before = stored_.orders.find(id);
      const bool stored = before != stored_.orders.end();
      for (const auto& line : row.lines) {
        const auto* old = stored ? line_of(before->second, line.line_no) : nullptr;
        if (old == nullptr || old->reservation != line.reservation) {
          out.lines.emplace_back(id, line);
          out.line_stored.push_back(old != nullptr);
        }
      }
      out.orders.push_back(row);
      out.order_stored.push_back(stored);
    }
    for (const auto& sku : changed_skus_.keys()) {
      out.inventory.push_back(inventory_.at(sku));
      out.inventory_stored.push_back(stored_.inventory.count(sku) != 0);
    }
    for (const auto& key : touched_holds_.keys()) {
      auto now = holds_.find(key);
      auto before = stored_.holds.find(key);
      if (now != holds_.end()) {
        if (before == stored_.holds.end() || before->second != now->second) {
          out.holds_set.emplace_back(key, now->second);
        }
      } else if (before != stored_.holds.end()) {
        out.holds_cleared.push_back(key);
      }
    }
    return out;
  }

private:
  bool place(const order_event_at& e, const order::order_placed& x) {
    if (orders_.count(e.order_id) != 0) {
      return false;
    }
    order_row row;
    row.order_id = e.order_id;
    row.customer_id = x.customer_id;
    row.status = order::order_status::placed;
    row.amount_cents = x.amount_cents;
    row.placed_at_us = e.recorded_at_us;
    row.updated_at_us = e.recorded_at_us;
    row.version = e.version;
    for (size_t i = 0; i < x.lines.size(); ++i) {
      row.lines.push_back({static_cast<int32_t>(i + 1), x.lines[i].sku,
                           static_cast<int32_t>(x.lines[i].qty), line_reservation::pending});
    }
    orders_.emplace(e.order_id, std::move(row));
    changed_orders_.add(e.order_id);
    return true;
  }

  // As the aggregate: the order is reserved once every line is.
  static void set_line(order_row& row, const std::string& sku, line_reservation reservation) {
    for (auto& line : row.lines) {
      if (line.sku == sku) {
        line.reservation = reservation;
      }
    }
    bool all_reserved = std::all_of(row.lines.begin(), row.lines.end(), [](const auto& line) {
      return line.reservation == line_reservation::reserved;
    });
    if (row.status == order::order_status::placed && all_reserved) {
      row.status = order::order_status::reserved;
    }
  }

  static void set_status(order_row& row, order::order_status status, const std::string& reason) {
    row.status = status;
    row.reason = reason;
  }

  static const order_line_row* line_of(const order_row& row, int32_t line_no) {
    for (const auto& line : row.lines) {
      if (line.line_no == line_no) {
        return &line;
      }
    }
    return nullptr;
  }

  void hold(inventory_row& row, const std::string& order_id, int64_t qty) {
    hold_key key{row.sku, order_id};
    touched_holds_.add(key);
    auto& held = holds_[key];
    row.reserved += qty - held;
    held = qty;
  }

  void unhold(inventory_row& row, const std::string& order_id) {
    hold_key key{row.sku, order_id};
    touched_holds_.add(key);
    auto held = holds_.find(key);
    if (held != holds_.end()) {
      row.reserved -= held->second;
      holds_.erase(held);
    }
  }

  const stored_rows stored_;
  std::unordered_map<std::string, order_row> orders_;
  std::unordered_map<std::string, inventory_row> inventory_;
  std::map<hold_key, int64_t> holds_;
  ordered_keys<std::string> changed_orders_;
  ordered_keys<std::string> changed_skus_;
  ordered_keys<hold_key, std::set<hold_key>> touched_holds_;
};

} // namespace

const std::vector<std::string>& folded_types() {
  static const std::vector<std::string> types = [] {
    auto all = order::decodable_types();
    const auto& stock = inventory::decodable_types();
    all.insert(all.end(), stock.begin(), stock.end());
    return all;
  }();
  return types;
}

std::vector<projected_event> decode_page(const std::vector<persistence::recorded_event>& events) {
  std::vector<projected_event> out;
  out.reserve(events.size());
  for (const auto& e : events) {
    if (starts_with(e.stream_id, order_prefix)) {
      auto ev = order::decode(e.type, e.schema_version, e.payload);
      if (!ev) {
        throw cannot_decode(e);
      }
      out.emplace_back(order_event_at{e.stream_id.substr(order_prefix.size()), e.stream_version,
                                      e.recorded_at_us, std::move(*ev)});
    } else if (starts_with(e.stream_id, inventory_prefix)) {
      auto ev = inventory::decode(e.type, e.schema_version, e.payload);
      if (!ev) {
        throw cannot_decode(e);
      }
      out.emplace_back(inventory_event_at{e.stream_id.substr(inventory_prefix.size()),
                                          e.stream_version, e.recorded_at_us, std::move(*ev)});
    }
  }
  return out;
}

page_keys keys_of(const std::vector<projected_event>& events) {
  ordered_keys<std::string> orders;
  ordered_keys<std::string> skus;
  ordered_keys<hold_key, std::set<hold_key>> holds;
  auto held_by = [](const inventory::event& ev) -> const std::string* {
    return std::visit(actors::overloaded{
                          [](const inventory::reserved& x) { return &x.order_id; },
                          [](const inventory::released& x) { return &x.order_id; },
                          [](const inventory::committed& x) { return &x.order_id; },
                          [](const inventory::reservation_expired& x) { return &x.order_id; },
                          [](const auto&) -> const std::string* { return nullptr; },
                      },
                      ev);
  };
  for (const auto& e : events) {
    std::visit(actors::overloaded{
                   [&](const order_event_at& x) { orders.add(x.order_id); },
                   [&](const inventory_event_at& x) {
                     skus.add(x.sku);
                     if (auto order_id = held_by(x.event)) {
                       holds.add(hold_key{x.sku, *order_id});
                     }
                   },
               },
               e);
  }
  return page_keys{std::move(orders.keys()), std::move(skus.keys()), std::move(holds.keys())};
}

std::vector<hold_key> holds_to_read(const std::vector<hold_key>& touched,
                                    const std::unordered_map<std::string, inventory_row>& stock) {
  std::vector<hold_key> out;
  for (const auto& key : touched) {
    auto row = stock.find(key.sku);
    if (row != stock.end() && row->second.reserved != 0) {
      out.push_back(key);
    }
  }
  return out;
}

page_rows fold_page(const std::vector<projected_event>& events, stored_rows stored) {
  page_state state{std::move(stored)};
  size_t applied = 0;
  for (const auto& e : events) {
    applied += std::visit([&](const auto& x) { return state.apply(x); }, e) ? 1 : 0;
  }
  return state.result(applied);
}

} // namespace ordermesh::read_models
