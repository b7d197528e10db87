#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

/// Messages of one SKU's inventory (stream "inventory/<sku>").
namespace ordermesh::actors::inventory {

// -- commands -------------------------------------------------------------------------------------

/// Adds `qty` units to the stock on hand.
struct restock {
  int64_t qty = 0;
};

/// Holds `qty` units for `order_id` until `ttl_ms` after the decision.
struct reserve {
  std::string order_id;
  int64_t qty = 0;
  int64_t ttl_ms = 0;
};

/// Gives an order's held units back.
struct release {
  std::string order_id;
};

/// Turns an order's held units into a sale: they leave the stock on hand. With `qty` > 0 and no
/// reservation held, takes `qty` units straight from the available stock (reserve and commit in
/// one step; the order gives them back with return_committed if it does not go through).
struct commit {
  std::string order_id;
  int64_t qty = 0;
};

/// Expires every reservation whose deadline has passed (sent by the actor's timer).
struct expire_reservations {};

/// Gives back whatever `order_id` holds here (a compensation): its committed units, or its
/// reservation if the commit never happened. Idempotent by the order id. `qty` (the order line's)
/// is used only for an order committed before the inventory recorded committed quantities. For an
/// order it never saw, it records that the order is closed, so that a commit still on its way
/// takes nothing.
struct return_committed {
  std::string order_id;
  int64_t qty = 0;
};

/// The order `order_id` completed as confirmed: its committed units are sold for good and no
/// return can follow, so the SKU stops keeping its quantity (it remembers the order as committed
/// among its bounded finished orders). Idempotent; no event for an order without committed units.
struct settle {
  std::string order_id;
};

/// The orders `order_ids` completed as confirmed sales (settle for many orders at once, sent by
/// the settlement runner from the journal): those with committed units not returned are settled
/// in one event. Idempotent: ids settled or finished otherwise are skipped, no event if none is
/// left.
struct settle_orders {
  std::vector<std::string> order_ids;
};

using command = std::variant<restock, reserve, release, commit, expire_reservations,
                             return_committed, settle, settle_orders>;

// -- events ---------------------------------------------------------------------------------------

struct restocked {
  int64_t qty = 0;
};

struct reserved {
  std::string order_id;
  int64_t qty = 0;
  /// Unix microseconds.
  int64_t expires_at_us = 0;
};

/// Recorded so that a redelivered reserve gets the same answer.
struct reservation_rejected {
  std::string order_id;
  int64_t qty = 0;
  int64_t available = 0;
  std::string reason;
};

struct released {
  std::string order_id;
  int64_t qty = 0;
};

struct committed {
  std::string order_id;
  int64_t qty = 0;
};

struct reservation_expired {
  std::string order_id;
  int64_t qty = 0;
};

/// An order's committed units came back to the stock on hand (its order was cancelled).
struct returned {
  std::string order_id;
  int64_t qty = 0;
};

/// A confirmed order's committed units are settled: its quantity is no longer kept.
struct settled {
  std::string order_id;
};

/// Confirmed orders' committed units are settled, as one settled per order id.
struct orders_settled {
  std::vector<std::string> order_ids;
};

using event = std::variant<restocked, reserved, reservation_rejected, released, committed,
                           reservation_expired, returned, settled, orders_settled>;

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) --

OM_FIELDS(restock, qty)
OM_FIELDS(reserve, order_id, qty, ttl_ms)
OM_FIELDS(release, order_id)
OM_FIELDS(commit, order_id, qty)
OM_NO_FIELDS(expire_reservations)
OM_FIELDS(return_committed, order_id, qty)
OM_FIELDS(settle, order_id)
OM_FIELDS(settled, order_id)
OM_FIELDS(settle_orders, order_ids)
OM_FIELDS(orders_settled, order_ids)
OM_FIELDS(returned, order_id, qty)
OM_FIELDS(restocked, qty)
OM_FIELDS(reserved, order_id, qty, expires_at_us)
OM_FIELDS(reservation_rejected, order_id, qty, available, reason)
OM_FIELDS(released, order_id, qty)
OM_FIELDS(committed, order_id, qty)
OM_FIELDS(reservation_expired, order_id, qty)

} // namespace ordermesh::actors::inventory
