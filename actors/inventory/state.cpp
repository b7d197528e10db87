#include "actors/inventory/state.hpp"

#include "actors/common/overloaded.hpp"

#include <algorithm>
#include <optional>
#include <tuple>
#include <unordered_set>

namespace ordermesh::actors::inventory {

bool operator==(const inventory_state& x, const inventory_state& y) {
  return std::tie(x.known, x.on_hand, x.reserved_qty, x.reservations, x.finished,
                  x.committed_qty) ==
         std::tie(y.known, y.on_hand, y.reserved_qty, y.reservations, y.finished, y.committed_qty);
}

namespace {

using outcome = inventory_decision;

bool valid_quantity(int64_t qty) {
  return qty > 0 && qty <= max_quantity;
}

std::optional<finish> finished_as(const inventory_state& s, const std::string& order_id) {
  if (s.committed_qty.count(order_id) > 0) {
    return finish::committed;
  }
  return s.finished.find(order_id);
}

outcome decide_restock(const inventory_state&, const restock& cmd) {
  if (!valid_quantity(cmd.qty)) {
    return reject<event>(inventory_errc::invalid_quantity, "restock qty out of range");
  }
  return accept<event>({restocked{cmd.qty}});
}

outcome decide_reserve(const inventory_state& s, const reserve& cmd, const decide_context& ctx) {
  if (!valid_quantity(cmd.qty)) {
    return reject<event>(inventory_errc::invalid_quantity, "reserve qty out of range");
  }
  if (cmd.ttl_ms <= 0) {
    return reject<event>(inventory_errc::invalid_ttl, "reserve ttl_ms must be positive");
  }
  if (!s.known) {
    // Refused, not recorded: an unknown SKU gets no stream, whatever clients send.
    return reject<event>(inventory_errc::unknown_sku, to_string(inventory_errc::unknown_sku));
  }
  if (s.reservations.count(cmd.order_id) > 0) {
    return accept<event>(); // already reserved
  }
  if (auto done = finished_as(s, cmd.order_id)) {
    switch (*done) {
      case finish::committed:
        return accept<event>();
      case finish::rejected:
        return reject<event>(inventory_errc::out_of_stock, "reservation was rejected");
      case finish::returned:
        return reject<event>(inventory_errc::reservation_closed, "reservation was returned");
      case finish::released:
        return reject<event>(inventory_errc::reservation_closed, "reservation was released");
      case finish::expired:
        return reject<event>(inventory_errc::reservation_expired, "reservation expired");
    }
  }
  if (cmd.qty > s.available()) {
    return accept<event>(
        {reservation_rejected{cmd.order_id, cmd.qty, s.available(), "out_of_stock"}});
  }
  return accept<event>({reserved{cmd.order_id, cmd.qty, ctx.now_us + cmd.ttl_ms * 1000}});
}

outcome decide_release(const inventory_state& s, const release& cmd) {
  if (auto i = s.reservations.find(cmd.order_id); i != s.reservations.end()) {
    return accept<event>({released{cmd.order_id, i->second.qty}});
  }
  if (finished_as(s, cmd.order_id)) {
    return accept<event>();
  }
  return reject<event>(inventory_errc::unknown_reservation, "no reservation for " + cmd.order_id);
}

/// Takes cmd.qty units straight from the available stock (reserve and commit at once).
outcome decide_take(const inventory_state& s, const commit& cmd) {
  if (!s.known) {
    // Refused, not recorded: an unknown SKU gets no stream, whatever clients send.
    return reject<event>(inventory_errc::unknown_sku, to_string(inventory_errc::unknown_sku));
  }
  if (!valid_quantity(cmd.qty)) {
    return reject<event>(inventory_errc::invalid_quantity, "commit qty out of range");
  }
  if (cmd.qty > s.available()) {
    return accept<event>(
        {reservation_rejected{cmd.order_id, cmd.qty, s.available(), "out_of_stock"}});
  }
  return accept<event>({committed{cmd.order_id, cmd.qty}});
}

outcome decide_commit(const inventory_state& s, const commit& cmd, const decide_context& ctx) {
  if (auto i = s.reservations.find(cmd.order_id); i != s.reservations.end()) {
    if (i->second.expires_at_us > ctx.now_us) {
      return accept<event>({committed{cmd.order_id, i->second.qty}});
    }
    if (cmd.qty == 0) {
      return reject<event>(inventory_errc::reservation_expired, "reservation is past its deadline");
    }
    // A take whose own hold (an older binary's reserve the order never recorded) ran out: the
    // hold expires, and the take takes fresh stock like any new one.
    reservation_expired expiry{cmd.order_id, i->second.qty};
    auto d = decide_take(apply(s, expiry), cmd);
    if (d.accepted()) {
      d.events.insert(d.events.begin(), std::move(expiry));
    }
    return d;
  }
  if (auto done = finished_as(s, cmd.order_id)) {
    switch (*done) {
      case finish::committed:
        return accept<event>();
      case finish::expired:
        if (cmd.qty != 0) {
          return decide_take(s, cmd); // its hold ran out unused: a fresh take
        }
        return reject<event>(inventory_errc::reservation_expired, "reservation expired");
      case finish::rejected:
        return reject<event>(inventory_errc::out_of_stock, "reservation was rejected");
      case finish::released:
      case finish::returned:
        return reject<event>(inventory_errc::reservation_closed, "reservation is not held");
    }
  }
  if (cmd.qty != 0) {
    return decide_take(s, cmd);
  }
  return reject<event>(inventory_errc::unknown_reservation, "no reservation for " + cmd.order_id);
}

outcome decide_return(const inventory_state& s, const return_committed& cmd) {
  if (auto i = s.reservations.find(cmd.order_id); i != s.reservations.end()) {
    return accept<event>({released{cmd.order_id, i->second.qty}});
  }
  if (auto i = s.committed_qty.find(cmd.order_id); i != s.committed_qty.end()) {
    return accept<event>({returned{cmd.order_id, i->second}});
  }
  if (auto done = finished_as(s, cmd.order_id)) {
    if (*done != finish::committed) {
      return accept<event>(); // holds nothing here any more
    }
    // Committed before committed quantities were recorded: the order line's qty is the quantity.
    if (!valid_quantity(cmd.qty)) {
      return reject<event>(inventory_errc::invalid_quantity, "return qty out of range");
    }
    return accept<event>({returned{cmd.order_id, cmd.qty}});
  }
  if (!s.known) {
    return accept<event>(); // nothing was ever taken here, and an unknown SKU gets no stream
  }
  // Never seen: closed now (released, nothing held), so that a commit still on its way is refused.
  return accept<event>({released{cmd.order_id, 0}});
}

outcome decide_settle(const inventory_state& s, const settle& cmd) {
  if (s.committed_qty.count(cmd.order_id) > 0) {
    return accept<event>({settled{cmd.order_id}});
  }
  if (finished_as(s, cmd.order_id)) {
    return accept<event>(); // settled already, or it holds nothing here any more: for good
  }
  // Never seen by this copy: refused, so that the runtime answers only from a current copy
  // (another process hosting this SKU may have taken the order's units: a no-op answered from a
  // stale copy would end the order's saga with the quantity kept).
  return reject<event>(inventory_errc::unknown_reservation,
                       "nothing committed to " + cmd.order_id + " here");
}

outcome decide_settle_orders(const inventory_state& s, const settle_orders& cmd) {
  std::vector<std::string> to_settle;
  std::unordered_set<std::string> named;
  std::string unknown;
  for (const auto& id : cmd.order_ids) {
    if (!named.insert(id).second) {
      continue; // named twice
    }
    if (s.committed_qty.count(id) > 0) {
      to_settle.push_back(id);
    } else if (unknown.empty() && !finished_as(s, id)) {
      unknown = id;
    }
  }
  if (!to_settle.empty()) {
    // An id this copy does not know is passed over: if the copy is behind the stream (another
    // process appended), the append's version check fails and the batch is decided again on a
    // current copy; if it is current, the order holds nothing here (its settle long forgotten).
    return accept<event>({orders_settled{std::move(to_settle)}});
  }
  if (!unknown.empty()) {
    // Nothing to record, so no version check would catch a copy that is behind: refused, so that
    // the runtime decides it again on a current copy (and answers this only from one).
    return reject<event>(inventory_errc::unknown_reservation,
                         "nothing committed to " + unknown + " here");
  }
  return accept<event>(); // all settled already, or holding nothing here any more: for good
}

outcome decide_expire(const inventory_state& s, const decide_context& ctx) {
  std::vector<event> events;
  for (const auto& [order_id, r] : s.reservations) {
    if (r.expires_at_us <= ctx.now_us) {
      events.emplace_back(reservation_expired{order_id, r.qty});
    }
  }
  return accept<event>(std::move(events));
}

void drop_reservation(inventory_state& s, const std::string& order_id, finish how) {
  if (auto i = s.reservations.find(order_id); i != s.reservations.end()) {
    s.reserved_qty -= i->second.qty;
    s.reservations.erase(i);
  }
  s.finished.remember(order_id, how);
}

void settle_order(inventory_state& s, const std::string& order_id) {
  s.committed_qty.erase(order_id);
  // Still remembered as committed, now only among the bounded finished orders.
  s.finished.remember(order_id, finish::committed);
}

} // namespace

inventory_decision decide(const inventory_state& state, const command& cmd,
                          const decide_context& ctx) {
  return std::visit(overloaded{
                        [&](const restock& x) { return decide_restock(state, x); },
                        [&](const reserve& x) { return decide_reserve(state, x, ctx); },
                        [&](const release& x) { return decide_release(state, x); },
                        [&](const commit& x) { return decide_commit(state, x, ctx); },
                        [&](const expire_reservations&) { return decide_expire(state, ctx); },
                        [&](const return_committed& x) { return decide_return(state, x); },
                        [&](const settle& x) { return decide_settle(state, x); },
                        [&](const settle_orders& x) { return decide_settle_orders(state, x); },
                    },
                    cmd);
}

std::vector<inventory_decision> decide_batch(const inventory_state& state,
                                             const std::vector<command>& cmds,
                                             const decide_context& ctx) {
  std::vector<inventory_decision> result;
  result.reserve(cmds.size());
  auto current = state;
  for (const auto& cmd : cmds) {
    auto d = decide(current, cmd, ctx);
    current = apply_all(std::move(current), d.events);
    result.push_back(std::move(d));
  }
  return result;
}

inventory_state apply(inventory_state s, const event& ev) {
  std::visit(
      overloaded{
          [&](const restocked& x) {
            s.known = true;
            s.on_hand += x.qty;
          },
          [&](const reserved& x) {
            auto& held = s.reservations[x.order_id];
            s.reserved_qty += x.qty - held.qty;
            held = reservation{x.qty, x.expires_at_us};
          },
          [&](const reservation_rejected& x) { s.finished.remember(x.order_id, finish::rejected); },
          [&](const released& x) { drop_reservation(s, x.order_id, finish::released); },
          [&](const committed& x) {
            drop_reservation(s, x.order_id, finish::committed);
            s.on_hand -= x.qty;
            s.committed_qty[x.order_id] = x.qty;
          },
          [&](const returned& x) {
            s.committed_qty.erase(x.order_id);
            s.finished.remember(x.order_id, finish::returned);
            s.on_hand += x.qty;
          },
          [&](const reservation_expired& x) { drop_reservation(s, x.order_id, finish::expired); },
          [&](const settled& x) { settle_order(s, x.order_id); },
          [&](const orders_settled& x) {
            for (const auto& id : x.order_ids) {
              settle_order(s, id);
            }
          },
      },
      ev);
  return s;
}

inventory_state apply_all(inventory_state state, const std::vector<event>& events) {
  for (const auto& ev : events) {
    state = apply(std::move(state), ev);
  }
  return state;
}

} // namespace ordermesh::actors::inventory
