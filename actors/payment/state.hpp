#pragma once

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/payment/errors.hpp"
#include "actors/payment/messages.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ordermesh::actors::payment {

enum class payment_status : uint8_t {
  none,
  /// Waiting for the PSP's answer to the latest attempt.
  requested,
  /// The latest attempt failed; another authorize starts the next one.
  failed,
  authorized,
  declined,
  captured,
  refunded,
  voided,
};

/// One order's payment. Invariant: captured at most once, refunded only after a capture.
struct payment_state {
  payment_status status = payment_status::none;
  int64_t amount_cents = 0;
  std::string card_token;
  /// The latest attempt's key and number.
  std::string idempotency_key;
  int32_t attempt = 0;
  std::string psp_reference;
  /// Why the latest attempt was declined or failed.
  std::string reason;
};

bool operator==(const payment_state& x, const payment_state& y);

using payment_decision = decision<event>;

/// Decides one command against `state`.
/// - authorize: authorization_requested (attempt + 1) when none or failed, or pending under
///   another key; no event if pending under the same key or already authorized or captured;
///   invalid_payment, payment_declined, payment_closed.
/// - record_psp_result: authorized (from any attempt: the money is held), declined or
///   authorization_failed for the pending attempt; no event for stale or repeated results;
///   unknown_payment before any request.
/// - capture: captured; no event if already captured or refunded; not_authorized otherwise.
/// - refund: refunded; no event if already refunded; not_captured otherwise.
/// - void_authorization: voided; no event if voided or declined; already_captured after capture.
payment_decision decide(const payment_state& state, const command& cmd, const decide_context& ctx);

/// Folds one event into the state; handles every event and cannot fail.
payment_state apply(payment_state state, const event& ev);

/// Folds `events` in order, starting from `state`.
payment_state apply_all(payment_state state, const std::vector<event>& events);

} // namespace ordermesh::actors::payment
