#pragma once

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/inventory/errors.hpp"
#include "actors/inventory/messages.hpp"
#include "util/history_map.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ordermesh::actors::inventory {

/// The largest qty a single restock or reserve may carry.
constexpr int64_t max_quantity = 1'000'000;

/// How many finished order ids one SKU remembers at most, for idempotent answers to a late
/// reserve, release, commit, return or settle.
constexpr size_t max_finished_orders = 10'000;

/// How many of them are forgotten at once, the oldest, when one more would exceed the bound: a
/// SKU that finished max_finished_orders orders or more remembers at least the newest
/// max_finished_orders - finished_generation + 1.
constexpr size_t finished_generation = max_finished_orders / 10;

/// Units held for one order.
struct reservation {
  int64_t qty = 0;
  /// Unix microseconds.
  int64_t expires_at_us = 0;
};

/// How a reservation (or a reserve attempt) ended.
enum class finish : uint8_t { released, committed, expired, rejected, returned };

/// How the finished orders ended, by order id (util/history_map.hpp): copied in a few pointers,
/// whatever their number, since the entity runtime copies the state for every batch it decides.
/// An order that ends again another way (expired, then taken; committed, then returned) is
/// remembered as it ended last, as long as that counts among the newest.
using finished_orders = util::history_map<finish, max_finished_orders, finished_generation>;

/// One SKU's stock. Invariant: available() >= 0, i.e. the SKU is never oversold.
struct inventory_state {
  /// Restocked at least once: the SKU exists (a reservation of an unknown SKU is refused).
  bool known = false;
  int64_t on_hand = 0;
  /// Sum of reservations[*].qty.
  int64_t reserved_qty = 0;
  std::map<std::string, reservation> reservations;
  /// How each recently finished order ended; at most max_finished_orders entries (an order that
  /// ends again another way, e.g. taken then returned, takes a second entry: lookups answer the
  /// newest), the oldest finished_generation forgotten at once.
  finished_orders finished;
  /// Units committed to each order neither returned nor settled yet. Never forgotten by the
  /// finished orders' bound: a retried commit must still answer "committed", and a cancelled order
  /// must still be able to return them. A confirmed order settles them (no return can follow),
  /// which moves it into the bounded finished orders.
  std::map<std::string, int64_t> committed_qty;

  int64_t available() const { return on_hand - reserved_qty; }
};

bool operator==(const inventory_state& x, const inventory_state& y);

inline bool operator==(const reservation& x, const reservation& y) {
  return x.qty == y.qty && x.expires_at_us == y.expires_at_us;
}

using inventory_decision = decision<event>;

/// Decides one command against `state`.
/// - restock: restocked; invalid_quantity if qty is not in (0, max_quantity].
/// - reserve: unknown_sku if the SKU was never restocked; reserved, or reservation_rejected
///   (reason "out_of_stock") when qty > available;
///   no event if the order already holds a reservation or committed one; invalid_quantity,
///   invalid_ttl; out_of_stock / reservation_closed / reservation_expired for a redelivered reserve
///   of an order that was rejected / released / expired.
/// - release: released; no event if already finished; unknown_reservation otherwise.
/// - commit: committed; no event if already committed; reservation_expired if it expired or is
///   past its deadline at ctx.now_us; reservation_closed if released or returned, out_of_stock if
///   rejected. With no reservation and qty > 0 (take): committed{qty}, or reservation_rejected
///   (remembered, like a reserve's) when qty > available; invalid_quantity; else
///   unknown_reservation. A take (qty > 0) whose own hold expired (or is past its deadline:
///   reservation_expired first) takes fresh stock like a new take.
/// - expire_reservations: reservation_expired for every reservation due at ctx.now_us.
/// - return_committed: returned (the committed units come back) or released (still only held);
///   no event if the order holds nothing here any more (released, expired, rejected, returned);
///   released{qty 0} for an unknown order: it is closed, so a commit or reserve that arrives later
///   is refused.
/// - settle: settled for an order with committed units not returned; no event for one settled,
///   returned or otherwise finished here; unknown_reservation for one this copy never saw (the
///   runtime answers a rejection only from a current copy).
/// - settle_orders: one orders_settled naming every order with committed units not returned (each
///   once), passing over ids this copy never saw (a copy behind the stream fails the append's
///   version check); with none to settle, unknown_reservation if an id is unknown here (decided
///   again on a current copy), else no event.
inventory_decision decide(const inventory_state& state, const command& cmd,
                          const decide_context& ctx);

/// Decides a mailbox batch in order, each command against the state left by the ones before, so
/// that all their events can go into one journal append. Same results as deciding one by one.
std::vector<inventory_decision> decide_batch(const inventory_state& state,
                                             const std::vector<command>& cmds,
                                             const decide_context& ctx);

/// Folds one event into the state; handles every event and cannot fail.
inventory_state apply(inventory_state state, const event& ev);

/// Folds `events` in order, starting from `state`.
inventory_state apply_all(inventory_state state, const std::vector<event>& events);

} // namespace ordermesh::actors::inventory
