#pragma once

#include <cstdint>
#include <string>
#include <variant>

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

using command =
    std::variant<restock, reserve, release, commit, expire_reservations, return_committed>;

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

using event = std::variant<restocked, reserved, reservation_rejected, released, committed,
                           reservation_expired, returned>;

// -- inspection (CAF serialization) ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restock& x) {
  return f(x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reserve& x) {
  return f(x.order_id, x.qty, x.ttl_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release& x) {
  return f(x.order_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, commit& x) {
  return f(x.order_id, x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expire_reservations&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, return_committed& x) {
  return f(x.order_id, x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, returned& x) {
  return f(x.order_id, x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restocked& x) {
  return f(x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reserved& x) {
  return f(x.order_id, x.qty, x.expires_at_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reservation_rejected& x) {
  return f(x.order_id, x.qty, x.available, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, released& x) {
  return f(x.order_id, x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, committed& x) {
  return f(x.order_id, x.qty);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reservation_expired& x) {
  return f(x.order_id, x.qty);
}

// -- equality (tests, idempotency checks) ---------------------------------------------------------

inline bool operator==(const restocked& x, const restocked& y) {
  return x.qty == y.qty;
}

inline bool operator==(const reserved& x, const reserved& y) {
  return x.order_id == y.order_id && x.qty == y.qty && x.expires_at_us == y.expires_at_us;
}

inline bool operator==(const reservation_rejected& x, const reservation_rejected& y) {
  return x.order_id == y.order_id && x.qty == y.qty && x.available == y.available &&
         x.reason == y.reason;
}

inline bool operator==(const released& x, const released& y) {
  return x.order_id == y.order_id && x.qty == y.qty;
}

inline bool operator==(const committed& x, const committed& y) {
  return x.order_id == y.order_id && x.qty == y.qty;
}

inline bool operator==(const reservation_expired& x, const reservation_expired& y) {
  return x.order_id == y.order_id && x.qty == y.qty;
}

inline bool operator==(const returned& x, const returned& y) {
  return x.order_id == y.order_id && x.qty == y.qty;
}

} // namespace ordermesh::actors::inventory
