#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <string>
#include <variant>

/// Messages of one order's payment (stream "payment/<order_id>").
namespace ordermesh::actors::payment {

/// What the PSP answered to one authorization request.
enum class psp_outcome : uint8_t {
  authorized,
  /// Final: the card was refused.
  declined,
  /// Transient: PSP error or no answer; the order saga may retry.
  failed,
};

// -- commands -------------------------------------------------------------------------------------

/// Asks the PSP to hold `amount_cents`; `idempotency_key` identifies this attempt at the PSP.
struct authorize {
  int64_t amount_cents = 0;
  std::string card_token;
  std::string idempotency_key;
};

/// The PSP's answer to the request sent with `idempotency_key`.
struct record_psp_result {
  std::string idempotency_key;
  psp_outcome outcome = psp_outcome::failed;
  std::string psp_reference;
  std::string reason;
};

/// The PSP confirmed that the attempt sent with `idempotency_key` holds no money (its
/// authorization was voided, or it was cancelled before it was ever carried out).
struct record_hold_released {
  std::string idempotency_key;
};

struct capture {};

/// The PSP confirmed the capture: the money moved.
struct record_capture_confirmed {};

struct refund {};

/// The PSP confirmed the refund recorded before: the money went back.
struct record_refund_confirmed {};

/// Gives up an authorization (or a pending request) that will not be captured.
struct void_authorization {};

/// Authorizes and captures at once (a sale), for an order whose stock is committed already.
/// Nothing is recorded before the PSP call: the order recorded the request, and the key (one per
/// order, the same on every resend) keeps the PSP from charging twice. `attempt` is the order's.
struct sell {
  int64_t amount_cents = 0;
  std::string card_token;
  std::string idempotency_key;
  int32_t attempt = 0;
  /// The order's first payment command (the effect of its takes' answers when every take committed
  /// its units now: order::record_stock_taken::took_now): no command reached the payment before
  /// it, so its stream does not exist unless this same sell is delivered again later; the entity
  /// calls the PSP without reading it (payment_traits::acts_on_assumed_copy says why a late
  /// second delivery is safe). Every resend says false.
  bool first = false;
};

/// The PSP's answer to the sale sent with `idempotency_key` in the order's attempt `attempt`.
struct record_sale_result {
  std::string idempotency_key;
  psp_outcome outcome = psp_outcome::failed;
  std::string psp_reference;
  std::string reason;
  int32_t attempt = 0;
  int64_t amount_cents = 0;
};

/// Makes sure the sale sent with `idempotency_key` holds and charges nothing: refunded if it was
/// carried out, never carried out if it was not yet (the order was cancelled).
struct reverse_sale {
  std::string idempotency_key;
};

/// The PSP confirmed the reversal of the sale sent with `idempotency_key`.
struct record_sale_reversed {
  std::string idempotency_key;
};

using command =
    std::variant<authorize, record_psp_result, record_hold_released, capture,
                 record_capture_confirmed, refund, void_authorization, sell, record_sale_result,
                 reverse_sale, record_sale_reversed, record_refund_confirmed>;

// -- events ---------------------------------------------------------------------------------------

struct authorization_requested {
  int64_t amount_cents = 0;
  std::string card_token;
  std::string idempotency_key;
  /// 1-based.
  int32_t attempt = 0;
};

/// The attempt sent with `idempotency_key` holds money at the PSP under `psp_reference`. It
/// becomes the payment's authorization while the payment is open, else it is a surplus hold.
/// (`idempotency_key` is empty in events stored as v1: they meant the latest attempt.)
struct authorized {
  std::string idempotency_key;
  std::string psp_reference;
};

/// The PSP refused the attempt sent with `idempotency_key`.
struct declined {
  std::string idempotency_key;
  std::string reason;
};

/// The attempt sent with `idempotency_key` got no usable answer: it may or may not hold money.
struct authorization_failed {
  std::string idempotency_key;
  std::string reason;
  int32_t attempt = 0;
};

/// The PSP confirmed that the attempt sent with `idempotency_key` holds nothing any more.
struct hold_released {
  std::string idempotency_key;
};

struct captured {
  int64_t amount_cents = 0;
};

/// The PSP confirmed the capture recorded before.
struct capture_confirmed {};

struct refunded {
  int64_t amount_cents = 0;
};

/// The PSP confirmed the refund recorded before.
struct refund_confirmed {};

struct voided {};

/// The sale sent with `idempotency_key` was carried out: the money moved (authorized and captured).
struct sold {
  std::string idempotency_key;
  std::string psp_reference;
  int64_t amount_cents = 0;
};

/// The PSP refused the sale sent with `idempotency_key` (final for that key).
struct sale_declined {
  std::string idempotency_key;
  std::string reason;
};

/// Nothing is held or charged for the sale sent with `idempotency_key`, and never will be.
struct sale_reversed {
  std::string idempotency_key;
};

using event = std::variant<authorization_requested, authorized, declined, authorization_failed,
                           hold_released, captured, capture_confirmed, refunded, voided, sold,
                           sale_declined, sale_reversed, refund_confirmed>;

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) ----------

OM_FIELDS(authorize, amount_cents, card_token, idempotency_key)
OM_FIELDS(record_psp_result, idempotency_key, outcome, psp_reference, reason)
OM_FIELDS(record_hold_released, idempotency_key)
OM_NO_FIELDS(capture)
OM_NO_FIELDS(record_capture_confirmed)
OM_NO_FIELDS(refund)
OM_NO_FIELDS(record_refund_confirmed)
OM_NO_FIELDS(void_authorization)
OM_FIELDS(sell, amount_cents, card_token, idempotency_key, attempt, first)
OM_FIELDS(record_sale_result, idempotency_key, outcome, psp_reference, reason, attempt,
          amount_cents)
OM_FIELDS(reverse_sale, idempotency_key)
OM_FIELDS(record_sale_reversed, idempotency_key)
OM_FIELDS(authorization_requested, amount_cents, card_token, idempotency_key, attempt)
OM_FIELDS(authorized, idempotency_key, psp_reference)
OM_FIELDS(declined, idempotency_key, reason)
OM_FIELDS(authorization_failed, idempotency_key, reason, attempt)
OM_FIELDS(hold_released, idempotency_key)
OM_FIELDS(captured, amount_cents)
OM_NO_FIELDS(capture_confirmed)
OM_FIELDS(refunded, amount_cents)
OM_NO_FIELDS(refund_confirmed)
OM_NO_FIELDS(voided)
OM_FIELDS(sold, idempotency_key, psp_reference, amount_cents)
OM_FIELDS(sale_declined, idempotency_key, reason)
OM_FIELDS(sale_reversed, idempotency_key)

} // namespace ordermesh::actors::payment
