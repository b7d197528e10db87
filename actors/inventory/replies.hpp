#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <vector>

/// What an inventory entity answers to a command it accepted (a rejection is a caf::error of
/// inventory_errc, errors.hpp).
namespace ordermesh::actors::inventory {

/// One SKU's stock after a command.
struct inventory_summary {
  int64_t on_hand = 0;
  int64_t reserved = 0;
  int64_t available = 0;
  /// Orders holding a reservation.
  uint64_t reservations = 0;
};

/// Which event a command recorded (one per event of messages.hpp's `event`).
enum class inventory_recorded : uint8_t {
  restocked,
  reserved,
  reservation_rejected,
  released,
  committed,
  reservation_expired,
  returned,
  settled,
  orders_settled,
};

/// The reply to an accepted inventory command; a redelivery (same message id) gets the same
/// `recorded` and `version` with the current summary.
struct inventory_reply {
  /// What the command recorded, in order (empty: an idempotent repeat recorded nothing).
  std::vector<inventory_recorded> recorded;
  /// The stream's version after the command.
  int64_t version = 0;
  inventory_summary summary;
  /// Set by the runtime: this delivery recorded nothing (a redelivery of a handled message id,
  /// answered with its first `recorded`, or an idempotent repeat).
  bool repeated = false;
};

OM_FIELDS(inventory_summary, on_hand, reserved, available, reservations)
OM_FIELDS(inventory_reply, recorded, version, summary, repeated)

} // namespace ordermesh::actors::inventory
