#pragma once

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

using command = std::variant<authorize, record_psp_result, record_hold_released, capture,
                             record_capture_confirmed, refund, void_authorization, sell,
                             record_sale_result, reverse_sale, record_sale_reversed>;

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

using event =
    std::variant<authorization_requested, authorized, declined, authorization_failed, hold_released,
                 captured, capture_confirmed, refunded, voided, sold, sale_declined, sale_reversed>;

// -- inspection (CAF serialization) ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorize& x) {
  return f(x.amount_cents, x.card_token, x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_psp_result& x) {
  return f(x.idempotency_key, x.outcome, x.psp_reference, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_hold_released& x) {
  return f(x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, capture&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_capture_confirmed&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refund&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, void_authorization&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sell& x) {
  return f(x.amount_cents, x.card_token, x.idempotency_key, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_sale_result& x) {
  return f(x.idempotency_key, x.outcome, x.psp_reference, x.reason, x.attempt, x.amount_cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reverse_sale& x) {
  return f(x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_sale_reversed& x) {
  return f(x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorization_requested& x) {
  return f(x.amount_cents, x.card_token, x.idempotency_key, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorized& x) {
  return f(x.idempotency_key, x.psp_reference);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, declined& x) {
  return f(x.idempotency_key, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorization_failed& x) {
  return f(x.idempotency_key, x.reason, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hold_released& x) {
  return f(x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, captured& x) {
  return f(x.amount_cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, capture_confirmed&) {
  return f();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refunded& x) {
  return f(x.amount_cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, voided&) {
  return f();
}

// -- equality -------------------------------------------------------------------------------------

inline bool operator==(const authorization_requested& x, const authorization_requested& y) {
  return x.amount_cents == y.amount_cents && x.card_token == y.card_token &&
         x.idempotency_key == y.idempotency_key && x.attempt == y.attempt;
}

inline bool operator==(const authorized& x, const authorized& y) {
  return x.idempotency_key == y.idempotency_key && x.psp_reference == y.psp_reference;
}

inline bool operator==(const declined& x, const declined& y) {
  return x.idempotency_key == y.idempotency_key && x.reason == y.reason;
}

inline bool operator==(const authorization_failed& x, const authorization_failed& y) {
  return x.idempotency_key == y.idempotency_key && x.reason == y.reason && x.attempt == y.attempt;
}

inline bool operator==(const hold_released& x, const hold_released& y) {
  return x.idempotency_key == y.idempotency_key;
}

inline bool operator==(const captured& x, const captured& y) {
  return x.amount_cents == y.amount_cents;
}

inline bool operator==(const capture_confirmed&, const capture_confirmed&) {
  return true;
}

inline bool operator==(const refunded& x, const refunded& y) {
  return x.amount_cents == y.amount_cents;
}

inline bool operator==(const voided&, const voided&) {
  return true;
}

inline bool operator==(const sold& x, const sold& y) {
  return x.idempotency_key == y.idempotency_key && x.psp_reference == y.psp_reference &&
         x.amount_cents == y.amount_cents;
}

inline bool operator==(const sale_declined& x, const sale_declined& y) {
  return x.idempotency_key == y.idempotency_key && x.reason == y.reason;
}

inline bool operator==(const sale_reversed& x, const sale_reversed& y) {
  return x.idempotency_key == y.idempotency_key;
}

} // namespace ordermesh::actors::payment
