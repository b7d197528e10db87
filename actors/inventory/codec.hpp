#pragma once

#include "actors/common/encoded_event.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/inventory/state.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::inventory {

/// Stable wire names of the persisted events: never renamed or reused (add a v2 instead).
namespace wire {
inline constexpr const char* restocked = "inventory.restocked.v1";
inline constexpr const char* reserved = "inventory.reserved.v1";
inline constexpr const char* reservation_rejected = "inventory.reservation_rejected.v1";
inline constexpr const char* released = "inventory.released.v1";
inline constexpr const char* committed = "inventory.committed.v1";
inline constexpr const char* reservation_expired = "inventory.reservation_expired.v1";
inline constexpr const char* returned = "inventory.returned.v1";
inline constexpr const char* settled = "inventory.settled.v1";
inline constexpr const char* orders_settled = "inventory.orders_settled.v1";
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

/// Which event a stored type names (what a reply tells of it); nullopt for a type not of the
/// inventory.
std::optional<inventory_recorded> recorded_of(const std::string& type);

/// The state as a JSON snapshot payload.
std::string encode_snapshot(const inventory_state& state);

/// The state from encode_snapshot's output; nullopt if malformed.
std::optional<inventory_state> decode_snapshot(const std::string& payload_json);

} // namespace ordermesh::actors::inventory
