#pragma once

// What the payment entities and the PSP gateway (psp_gateway.hpp) tell each other: plain structs
// and their field lists (OM_FIELDS: inspect(), operator==), listed in the type-ID block
// (core/type_ids.hpp).

#include "actors/payment/messages.hpp"
#include "util/fields.hpp"

#include <cstdint>
#include <string>

namespace ordermesh::actors::payment {

enum class psp_operation : uint8_t {
  authorize,
  capture,
  refund,
  /// Release the hold of the authorization made under `authorization_key` (or keep it from ever
  /// being made).
  void_hold,
  /// Authorize and capture at once.
  sale,
  /// Release or refund whatever was made under `authorization_key` (or keep it from ever being
  /// made).
  reverse,
};

/// One call to the payment service provider.
struct psp_request {
  psp_operation operation = psp_operation::authorize;
  int64_t amount_cents = 0;
  std::string card_token;
  /// The PSP's authorization id (capture, refund).
  std::string reference;
  std::string idempotency_key;
  /// The idempotency key the authorization was requested with (void_hold, reverse).
  std::string authorization_key;
  /// The order's attempt that asked for this sale (sale).
  int32_t attempt = 0;
};

/// The PSP's answer, or `failed` with the reason (timeout, connection, 5xx, circuit open).
struct psp_reply {
  psp_outcome outcome = psp_outcome::failed;
  std::string reference;
  std::string reason;
};

/// The circuit breaker as the console shows it.
struct breaker_report {
  /// closed, open or half_open.
  std::string state;
  uint64_t calls = 0;
  uint64_t failures = 0;
  /// Calls refused at once because the breaker was open.
  uint64_t short_circuited = 0;
  /// Whether a call made now would be let through (an open breaker whose period has passed
  /// lets a probe through): what to wait on instead of sleeping for the open period.
  bool lets_calls_through = true;
};

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) ----------

OM_FIELDS(psp_request, operation, amount_cents, card_token, reference, idempotency_key,
          authorization_key, attempt)
OM_FIELDS(psp_reply, outcome, reference, reason)
OM_FIELDS(breaker_report, state, calls, failures, short_circuited, lets_calls_through)

} // namespace ordermesh::actors::payment
