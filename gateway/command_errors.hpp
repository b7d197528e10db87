#pragma once

// How the outcome of a command sent to an entity becomes an HTTP answer: the one table from each
// aggregate's error codes to HTTP (http_for), and the answers built from it. Pure: no I/O.

#include "actors/inventory/errors.hpp"
#include "actors/notification/errors.hpp"
#include "actors/order/errors.hpp"
#include "actors/payment/errors.hpp"
#include "actors/runtime/messages.hpp"
#include "gateway/problem.hpp"

#include <caf/error.hpp>

#include <optional>
#include <string>

namespace ordermesh::gateway {

/// How one error code is told to a client.
struct http_answer {
  /// 0 only for a code the table does not know (a value outside its enum).
  unsigned status = 0;
  /// The problem type (order_request.hpp's problem_type).
  const char* type = nullptr;
  /// What the client is told; nullptr: the entity's own reason.
  const char* detail = nullptr;
  /// Seconds for a Retry-After header; 0: none.
  int retry_after_s = 0;
};

/// The table, one overload per error-code enum an answer can carry: the entity hosts'
/// (entity_errc) and every aggregate's. Every value of each enum has a row.
http_answer http_for(actors::runtime::entity_errc code);
http_answer http_for(actors::order::order_errc code);
http_answer http_for(actors::inventory::inventory_errc code);
http_answer http_for(actors::payment::payment_errc code);
http_answer http_for(actors::notification::notification_errc code);

/// The answer to a command that got an error instead of a reply, by the error's category:
/// - a rejection (an aggregate's errc): its row, with the entity's reason where the row has no
///   detail of its own (invalid_order / invalid_quantity -> 422 invalid-request, conflicting_order
///   -> 422 idempotency-key-reused, unknown_sku -> 422 unknown-sku, the rest 500);
/// - no decision (entity_errc): its row (overloaded -> 503, parked / journal down / outcome
///   unknown / crashed -> 503, all with Retry-After: retrying with the same Idempotency-Key is
///   always safe; deadline passed -> 504; unrecordable -> 422);
/// - CAF's request timeout -> 504, receiver down -> 503; anything else -> 500.
/// The detail says what the client can do, never internals.
response answer_for_error(const caf::error& err, const std::string& instance);

/// The problem for an order that ended within a ?wait without being confirmed, with members
/// order_id, order_status and reason: rejected for an SKU the inventory never stocked -> the
/// inventory's unknown_sku row (422 unknown-sku, plus unknown_skus naming it); rejected otherwise
/// (a lack of stock) -> 409 order-rejected; cancelled -> 422 order-cancelled.
problem_details finished_order_problem(const std::string& order_id, const std::string& status,
                                       const std::string& reason);

/// The SKU an order was rejected for when the inventory did not know it (the order's reason is
/// "unknown_sku: <sku>", the inventory's unknown_sku code and the line's SKU); nullopt for any
/// other reason.
std::optional<std::string> unknown_sku_of(const std::string& order_reason);

} // namespace ordermesh::gateway
