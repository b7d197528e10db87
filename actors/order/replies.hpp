#pragma once

#include "actors/order/messages.hpp"
#include "util/fields.hpp"

#include <cstdint>
#include <string>

/// What an order entity answers to a command it accepted (a rejection is a caf::error of
/// order_errc, errors.hpp).
namespace ordermesh::actors::order {

/// An order after a command.
struct order_summary {
  std::string order_id;
  order_status status = order_status::none;
  /// Why it was rejected or cancelled; empty otherwise.
  std::string reason;
  int64_t amount_cents = 0;
  int32_t payment_attempt = 0;
  bool saga_completed = false;
};

/// The reply to an accepted order command; a redelivery (same message id) gets the same
/// `version` with the current summary.
struct order_reply {
  /// The stream's version after the command.
  int64_t version = 0;
  order_summary summary;
  /// The command recorded nothing this time: it was handled before (a redelivery of its message
  /// id), or it repeats what the order holds already (the same placement after the entity forgot
  /// the message id). Set by the entity runtime (entity_traits.hpp).
  bool repeated = false;
};

OM_FIELDS(order_summary, order_id, status, reason, amount_cents, payment_attempt, saga_completed)
OM_FIELDS(order_reply, version, summary, repeated)

} // namespace ordermesh::actors::order
