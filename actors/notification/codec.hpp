#pragma once

#include "actors/common/encoded_event.hpp"
#include "actors/notification/messages.hpp"
#include "actors/notification/state.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ordermesh::actors::notification {

/// Stable wire names of the persisted events: never renamed or reused (add a v2 instead).
namespace wire {
inline constexpr const char* notification_recorded = "notification.recorded.v1";
} // namespace wire

/// The event in its wire form: wire name, schema version 1, JSON payload (the entity runtime
/// adds the metadata and appends it).
encoded_event encode(const event& ev);

/// The event for a stored type, schema version and payload; nullopt for an unknown type or
/// version or a malformed payload (including an unknown status).
std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json);

/// The state as a JSON snapshot payload.
std::string encode_snapshot(const notification_state& state);

/// The state from encode_snapshot's output; nullopt if malformed.
std::optional<notification_state> decode_snapshot(const std::string& payload_json);

} // namespace ordermesh::actors::notification
