#pragma once

#include "actors/payment/messages.hpp"
#include "config/config.hpp"

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, psp_request& x) {
  return f(x.operation, x.amount_cents, x.card_token, x.reference, x.idempotency_key,
           x.authorization_key, x.attempt);
}

/// The PSP's answer, or `failed` with the reason (timeout, connection, 5xx, circuit open).
struct psp_reply {
  psp_outcome outcome = psp_outcome::failed;
  std::string reference;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, psp_reply& x) {
  return f(x.outcome, x.reference, x.reason);
}

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breaker_report& x) {
  return f(x.state, x.calls, x.failures, x.short_circuited, x.lets_calls_through);
}

using psp_call_atom = caf::atom_constant<caf::atom("pspcall")>;
using breaker_atom = caf::atom_constant<caf::atom("breaker")>;

/// The only way out to the PSP: a circuit breaker in front of detached workers, each with its own
/// blocking HTTP client (psp/client.hpp), so no PSP call ever blocks a scheduler thread.
using psp_gateway_actor =
    caf::typed_actor<caf::replies_to<psp_call_atom, psp_request>::with<psp_reply>,
                     caf::replies_to<caf::get_atom, breaker_atom>::with<breaker_report>>;

/// `workers` detached clients; breaker opens after `failure_threshold` consecutive failures.
psp_gateway_actor spawn_psp_gateway(caf::actor_system& sys, const config::psp_config& psp,
                                    int32_t failure_threshold, int64_t open_for_ms,
                                    size_t workers = 4);

} // namespace ordermesh::actors::payment
