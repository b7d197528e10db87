#pragma once

// How the outcome of a command sent to an entity becomes an HTTP answer. Pure: no I/O.

#include "actors/runtime/messages.hpp"
#include "gateway/problem.hpp"

#include <caf/error.hpp>

namespace ordermesh::gateway {

/// The answer when an entity gave no decision (caf::error from the request): overloaded -> 503,
/// parked / journal down / outcome unknown / crashed -> 503, all with Retry-After (retrying with
/// the same Idempotency-Key is always safe); deadline passed or no answer in time -> 504; anything
/// else -> 500. The detail says what the client can do, never internals.
response answer_for_error(const caf::error& err, const std::string& instance);

/// The answer to an order command the order entity rejected (reply.accepted == false):
/// invalid_order -> 422 invalid-request, conflicting_order -> 422 idempotency-key-reused,
/// anything else -> 500.
response answer_for_order_rejection(const actors::runtime::command_reply& reply,
                                    const std::string& instance);

/// The same for an inventory command: invalid_quantity -> 422, anything else -> 500.
response answer_for_inventory_rejection(const actors::runtime::command_reply& reply,
                                        const std::string& instance);

} // namespace ordermesh::gateway
