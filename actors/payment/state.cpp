#include "actors/payment/state.hpp"

#include "actors/common/overloaded.hpp"

#include <tuple>

namespace ordermesh::actors::payment {

bool operator==(const payment_state& x, const payment_state& y) {
  auto fields = [](const payment_state& s) {
    return std::tie(s.status, s.amount_cents, s.card_token, s.idempotency_key, s.attempt,
                    s.psp_reference, s.reason);
  };
  return fields(x) == fields(y);
}

namespace {

using outcome = payment_decision;
using status = payment_status;

outcome decide_authorize(const payment_state& s, const authorize& cmd) {
  if (cmd.amount_cents <= 0 || cmd.card_token.empty() || cmd.idempotency_key.empty()) {
    return reject<event>(payment_errc::invalid_payment,
                         "amount, card token and idempotency key are required");
  }
  auto next_attempt = [&] {
    return accept<event>({authorization_requested{cmd.amount_cents, cmd.card_token,
                                                  cmd.idempotency_key, s.attempt + 1}});
  };
  switch (s.status) {
    case status::none:
    case status::failed:
      return next_attempt();
    case status::requested:
      return cmd.idempotency_key == s.idempotency_key ? accept<event>() : next_attempt();
    case status::authorized:
    case status::captured:
      return accept<event>();
    case status::declined:
      return reject<event>(payment_errc::payment_declined, s.reason);
    case status::refunded:
    case status::voided:
      return reject<event>(payment_errc::payment_closed, "the payment is closed");
  }
  return accept<event>();
}

outcome decide_psp_result(const payment_state& s, const record_psp_result& cmd) {
  if (s.status == status::none) {
    return reject<event>(payment_errc::unknown_payment, "no authorization was requested");
  }
  auto waiting = s.status == status::requested || s.status == status::failed;
  if (waiting && cmd.outcome == psp_outcome::authorized) {
    return accept<event>({authorized{cmd.psp_reference}});
  }
  if (s.status != status::requested || cmd.idempotency_key != s.idempotency_key) {
    return accept<event>(); // stale or repeated
  }
  if (cmd.outcome == psp_outcome::declined) {
    return accept<event>({declined{cmd.reason}});
  }
  return accept<event>({authorization_failed{cmd.reason, s.attempt}});
}

outcome decide_capture(const payment_state& s) {
  switch (s.status) {
    case status::authorized:
      return accept<event>({captured{s.amount_cents}});
    case status::captured:
    case status::refunded:
      return accept<event>();
    default:
      return reject<event>(payment_errc::not_authorized, "capture needs an authorization");
  }
}

outcome decide_refund(const payment_state& s) {
  switch (s.status) {
    case status::captured:
      return accept<event>({refunded{s.amount_cents}});
    case status::refunded:
      return accept<event>();
    default:
      return reject<event>(payment_errc::not_captured, "refund needs a capture");
  }
}

outcome decide_void(const payment_state& s) {
  switch (s.status) {
    case status::none:
    case status::requested:
    case status::failed:
    case status::authorized:
      return accept<event>({voided{}});
    case status::voided:
    case status::declined:
      return accept<event>();
    case status::captured:
    case status::refunded:
      return reject<event>(payment_errc::already_captured, "refund a captured payment");
  }
  return accept<event>();
}

} // namespace

payment_decision decide(const payment_state& state, const command& cmd, const decide_context&) {
  return std::visit(overloaded{
                        [&](const authorize& x) { return decide_authorize(state, x); },
                        [&](const record_psp_result& x) { return decide_psp_result(state, x); },
                        [&](const capture&) { return decide_capture(state); },
                        [&](const refund&) { return decide_refund(state); },
                        [&](const void_authorization&) { return decide_void(state); },
                    },
                    cmd);
}

payment_state apply(payment_state s, const event& ev) {
  std::visit(overloaded{
                 [&](const authorization_requested& x) {
                   s.status = status::requested;
                   s.amount_cents = x.amount_cents;
                   s.card_token = x.card_token;
                   s.idempotency_key = x.idempotency_key;
                   s.attempt = x.attempt;
                 },
                 [&](const authorized& x) {
                   s.status = status::authorized;
                   s.psp_reference = x.psp_reference;
                 },
                 [&](const declined& x) {
                   s.status = status::declined;
                   s.reason = x.reason;
                 },
                 [&](const authorization_failed& x) {
                   s.status = status::failed;
                   s.reason = x.reason;
                 },
                 [&](const captured&) { s.status = status::captured; },
                 [&](const refunded&) { s.status = status::refunded; },
                 [&](const voided&) { s.status = status::voided; },
             },
             ev);
  return s;
}

payment_state apply_all(payment_state state, const std::vector<event>& events) {
  for (const auto& ev : events) {
    state = apply(std::move(state), ev);
  }
  return state;
}

} // namespace ordermesh::actors::payment
