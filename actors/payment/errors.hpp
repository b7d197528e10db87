#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <string>

namespace ordermesh::actors::payment {

/// Why a payment command was rejected (nothing recorded).
/// A rejection travels as a caf::error of category "payment" (registered below; rendered by
/// core::configure), its context the reason text.
enum class payment_errc : uint8_t {
  nil = 0,
  /// authorize without a positive amount, a card token or an idempotency key.
  invalid_payment,
  /// A PSP result for a payment that was never requested.
  unknown_payment,
  /// authorize of a payment the PSP declined.
  payment_declined,
  /// authorize of a voided or refunded payment.
  payment_closed,
  /// capture before the authorization.
  not_authorized,
  /// refund before the capture.
  not_captured,
  /// void of a captured payment (refund it instead).
  already_captured,
};

inline std::string to_string(payment_errc x) {
  switch (x) {
    case payment_errc::nil:
      return "nil";
    case payment_errc::invalid_payment:
      return "invalid_payment";
    case payment_errc::unknown_payment:
      return "unknown_payment";
    case payment_errc::payment_declined:
      return "payment_declined";
    case payment_errc::payment_closed:
      return "payment_closed";
    case payment_errc::not_authorized:
      return "not_authorized";
    case payment_errc::not_captured:
      return "not_captured";
    case payment_errc::already_captured:
      return "already_captured";
  }
  return "<unknown payment_errc>";
}

} // namespace ordermesh::actors::payment

CAF_ERROR_CODE_ENUM(ordermesh::actors::payment::payment_errc, "payment")
