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

struct capture {};

struct refund {};

/// Gives up an authorization (or a pending request) that will not be captured.
struct void_authorization {};

using command = std::variant<authorize, record_psp_result, capture, refund, void_authorization>;

// -- events ---------------------------------------------------------------------------------------

struct authorization_requested {
  int64_t amount_cents = 0;
  std::string card_token;
  std::string idempotency_key;
  /// 1-based.
  int32_t attempt = 0;
};

struct authorized {
  std::string psp_reference;
};

struct declined {
  std::string reason;
};

struct authorization_failed {
  std::string reason;
  int32_t attempt = 0;
};

struct captured {
  int64_t amount_cents = 0;
};

struct refunded {
  int64_t amount_cents = 0;
};

struct voided {};

using event = std::variant<authorization_requested, authorized, declined, authorization_failed,
                           captured, refunded, voided>;

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
typename Inspector::result_type inspect(Inspector& f, capture&) {
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
typename Inspector::result_type inspect(Inspector& f, authorization_requested& x) {
  return f(x.amount_cents, x.card_token, x.idempotency_key, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorized& x) {
  return f(x.psp_reference);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, declined& x) {
  return f(x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, authorization_failed& x) {
  return f(x.reason, x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, captured& x) {
  return f(x.amount_cents);
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
  return x.psp_reference == y.psp_reference;
}

inline bool operator==(const declined& x, const declined& y) {
  return x.reason == y.reason;
}

inline bool operator==(const authorization_failed& x, const authorization_failed& y) {
  return x.reason == y.reason && x.attempt == y.attempt;
}

inline bool operator==(const captured& x, const captured& y) {
  return x.amount_cents == y.amount_cents;
}

inline bool operator==(const refunded& x, const refunded& y) {
  return x.amount_cents == y.amount_cents;
}

inline bool operator==(const voided&, const voided&) {
  return true;
}

} // namespace ordermesh::actors::payment
