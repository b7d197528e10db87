#pragma once

#include "actors/common/encoded_event.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/state.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ordermesh::actors::payment {

/// Stable wire names of the persisted events: never renamed or reused (add a v2 instead).
namespace wire {
inline constexpr const char* authorization_requested = "payment.authorization_requested.v1";
inline constexpr const char* authorized = "payment.authorized.v2";
inline constexpr const char* declined = "payment.declined.v2";
inline constexpr const char* authorization_failed = "payment.authorization_failed.v2";
inline constexpr const char* hold_released = "payment.hold_released.v1";
/// Written before attempts carried their key; still read (the key is left empty: the latest
/// attempt, or for authorization_failed the attempt numbered).
inline constexpr const char* authorized_v1 = "payment.authorized.v1";
inline constexpr const char* declined_v1 = "payment.declined.v1";
inline constexpr const char* authorization_failed_v1 = "payment.authorization_failed.v1";
inline constexpr const char* captured = "payment.captured.v1";
inline constexpr const char* capture_confirmed = "payment.capture_confirmed.v1";
inline constexpr const char* refunded = "payment.refunded.v1";
inline constexpr const char* refund_confirmed = "payment.refund_confirmed.v1";
inline constexpr const char* voided = "payment.voided.v1";
inline constexpr const char* sold = "payment.sold.v1";
inline constexpr const char* sale_declined = "payment.sale_declined.v1";
inline constexpr const char* sale_reversed = "payment.sale_reversed.v1";
} // namespace wire

/// The event in its wire form: wire name, schema version 1, JSON payload (the entity runtime
/// adds the metadata and appends it).
encoded_event encode(const event& ev);

/// The event for a stored type, schema version and payload; nullopt for an unknown type or
/// version or a malformed payload.
std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json);

/// The state as a JSON snapshot payload.
std::string encode_snapshot(const payment_state& state);

/// The state from encode_snapshot's output; nullopt if malformed. A snapshot written before
/// attempts were kept (payment.state.v1) gets its latest attempt back from the old fields.
std::optional<payment_state> decode_snapshot(const std::string& payload_json);

} // namespace ordermesh::actors::payment
