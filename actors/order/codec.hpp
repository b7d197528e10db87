#pragma once

#include "actors/common/encoded_event.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/state.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::order {

/// Stable wire names of the persisted events: never renamed or reused (add a v2 instead).
namespace wire {
inline constexpr const char* order_placed = "order.placed.v1";
inline constexpr const char* stock_reserved = "order.stock_reserved.v1";
inline constexpr const char* stock_reservation_failed = "order.stock_reservation_failed.v1";
inline constexpr const char* payment_requested = "order.payment_requested.v1";
inline constexpr const char* sale_requested = "order.sale_requested.v1";
inline constexpr const char* payment_authorized = "order.payment_authorized.v1";
inline constexpr const char* payment_attempt_failed = "order.payment_attempt_failed.v1";
inline constexpr const char* stock_commit_requested = "order.stock_commit_requested.v1";
inline constexpr const char* stock_committed = "order.stock_committed.v1";
inline constexpr const char* stock_commit_failed = "order.stock_commit_failed.v1";
inline constexpr const char* stock_commit_refused = "order.stock_commit_refused.v1";
inline constexpr const char* order_confirmed = "order.confirmed.v1";
inline constexpr const char* order_rejected = "order.rejected.v1";
inline constexpr const char* order_cancelled = "order.cancelled.v1";
inline constexpr const char* payment_captured = "order.payment_captured.v1";
inline constexpr const char* compensation_completed = "order.compensation_completed.v1";
} // namespace wire

/// The event in its wire form: wire name, schema version 1, JSON payload (the entity runtime
/// adds the metadata and appends it).
encoded_event encode(const event& ev);

/// The event for a stored type, schema version and payload; nullopt for an unknown type or
/// version or a malformed payload.
std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json);

/// Every wire name decode() reads (older versions an upcaster reads included): what a reader of
/// the log that folds every event of the aggregate must ask for.
const std::vector<std::string>& decodable_types();

/// The state as a JSON snapshot payload.
std::string encode_snapshot(const order_state& state);

/// The state from encode_snapshot's output; nullopt if malformed. Fields a snapshot lacks (written
/// before they existed) take their defaults.
std::optional<order_state> decode_snapshot(const std::string& payload_json);

} // namespace ordermesh::actors::order
