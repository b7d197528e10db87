#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <string>

/// What a payment entity answers to a command it accepted (a rejection is a caf::error of
/// payment_errc, errors.hpp).
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

/// "requested", "authorized", ...
inline std::string to_string(payment_status x) {
  switch (x) {
    case payment_status::none:
      return "none";
    case payment_status::requested:
      return "requested";
    case payment_status::failed:
      return "failed";
    case payment_status::authorized:
      return "authorized";
    case payment_status::declined:
      return "declined";
    case payment_status::captured:
      return "captured";
    case payment_status::refunded:
      return "refunded";
    case payment_status::voided:
      return "voided";
  }
  return "?";
}

/// What every reply of a payment tells its order.
struct payment_summary {
  payment_status status = payment_status::none;
  int64_t amount_cents = 0;
  /// The latest attempt requested.
  int32_t attempt = 0;
  /// The number of the attempt whose hold the payment uses (0: none), and its PSP reference.
  int32_t authorized_attempt = 0;
  std::string psp_reference;
  /// Why the latest attempt failed or was declined.
  std::string reason;
  bool capture_confirmed = false;
  /// Nothing more is owed to the PSP (see state.hpp's settled()).
  bool settled = false;
};

/// The reply to an accepted payment command.
struct payment_reply {
  /// The stream's version after the command.
  int64_t version = 0;
  payment_summary summary;
};

OM_FIELDS(payment_summary, status, amount_cents, attempt, authorized_attempt, psp_reference, reason,
          capture_confirmed, settled)
OM_FIELDS(payment_reply, version, summary)

} // namespace ordermesh::actors::payment
