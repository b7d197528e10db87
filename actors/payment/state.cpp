#include "actors/payment/state.hpp"

#include "actors/common/overloaded.hpp"

#include <algorithm>
#include <tuple>

namespace ordermesh::actors::payment {

namespace {

bool same_attempt(const attempt_record& x, const attempt_record& y) {
  return std::tie(x.number, x.idempotency_key, x.status, x.psp_reference) ==
         std::tie(y.number, y.idempotency_key, y.status, y.psp_reference);
}

} // namespace

bool operator==(const payment_state& x, const payment_state& y) {
  auto fields = [](const payment_state& s) {
    return std::tie(s.status, s.amount_cents, s.card_token, s.idempotency_key, s.attempt,
                    s.psp_reference, s.authorized_key, s.reason, s.capture_confirmed, s.sale_key,
                    s.refund_confirmed);
  };
  return fields(x) == fields(y) && std::equal(x.attempts.begin(), x.attempts.end(),
                                              y.attempts.begin(), y.attempts.end(), same_attempt);
}

const attempt_record* find_attempt(const payment_state& s, const std::string& idempotency_key) {
  auto i = std::find_if(s.attempts.begin(), s.attempts.end(), [&](const attempt_record& a) {
    return a.idempotency_key == idempotency_key;
  });
  return i == s.attempts.end() ? nullptr : &*i;
}

namespace {

using outcome = payment_decision;
using status = payment_status;

bool is_open(const payment_state& s) {
  return s.status == status::none || s.status == status::requested || s.status == status::failed;
}

/// A capture recorded (the payment may have been refunded since) that the PSP has not confirmed.
/// A sale's capture is confirmed by its outcome (sold).
bool capture_owed(const payment_state& s) {
  return (s.status == status::captured || s.status == status::refunded) && !s.capture_confirmed;
}

/// A refund recorded that the PSP has not confirmed. A sale's reversal is recorded only once the
/// PSP confirmed it.
bool refund_owed(const payment_state& s) {
  return s.status == status::refunded && s.sale_key.empty() && !s.refund_confirmed;
}

/// Whether the payment still uses the hold of `a` (to capture it, or it was captured).
bool in_use(const payment_state& s, const attempt_record& a) {
  return a.idempotency_key == s.authorized_key &&
         (s.status == status::authorized || s.status == status::captured ||
          s.status == status::refunded);
}

outcome decide_authorize(const payment_state& s, const authorize& cmd) {
  if (cmd.amount_cents <= 0 || cmd.card_token.empty() || cmd.idempotency_key.empty()) {
    return reject<event>(payment_errc::invalid_payment,
                         "amount, card token and idempotency key are required");
  }
  auto next_attempt = [&] {
    if (find_attempt(s, cmd.idempotency_key) != nullptr) {
      return accept<event>(); // an attempt made before, sent again
    }
    return accept<event>({authorization_requested{cmd.amount_cents, cmd.card_token,
                                                  cmd.idempotency_key, s.attempt + 1}});
  };
  switch (s.status) {
    case status::none:
    case status::failed:
    case status::requested:
      return next_attempt();
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
  const auto* a = find_attempt(s, cmd.idempotency_key);
  if (a == nullptr) {
    return accept<event>(); // not an attempt of this payment
  }
  switch (cmd.outcome) {
    case psp_outcome::authorized:
      // Late or not, the money is held: record it so that it is used or released.
      if (a->status == attempt_status::authorized && a->psp_reference == cmd.psp_reference) {
        return accept<event>();
      }
      return accept<event>({authorized{cmd.idempotency_key, cmd.psp_reference}});
    case psp_outcome::declined:
      if (a->status != attempt_status::pending && a->status != attempt_status::failed) {
        return accept<event>();
      }
      return accept<event>({declined{cmd.idempotency_key, cmd.reason}});
    case psp_outcome::failed:
      if (a->status != attempt_status::pending) {
        return accept<event>();
      }
      return accept<event>({authorization_failed{cmd.idempotency_key, cmd.reason, a->number}});
  }
  return accept<event>();
}

outcome decide_hold_released(const payment_state& s, const record_hold_released& cmd) {
  const auto* a = find_attempt(s, cmd.idempotency_key);
  if (a == nullptr || a->status == attempt_status::released) {
    return accept<event>();
  }
  return accept<event>({hold_released{cmd.idempotency_key}});
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

outcome decide_capture_confirmed(const payment_state& s) {
  if ((s.status == status::captured || s.status == status::refunded) && !s.capture_confirmed) {
    return accept<event>({capture_confirmed{}});
  }
  return accept<event>();
}

outcome decide_refund_confirmed(const payment_state& s) {
  if (s.status == status::refunded && s.sale_key.empty() && !s.refund_confirmed) {
    return accept<event>({refund_confirmed{}});
  }
  return accept<event>();
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
    case status::declined:
      return accept<event>({voided{}});
    case status::voided:
      return accept<event>();
    case status::captured:
    case status::refunded:
      return reject<event>(payment_errc::already_captured, "refund a captured payment");
  }
  return accept<event>();
}

/// A payment that authorizes first (attempts recorded) never sells, and the other way round.
bool authorizes_first(const payment_state& s) {
  return !s.attempts.empty();
}

bool sold_already(const payment_state& s) {
  return !s.sale_key.empty() && s.status == status::captured;
}

outcome decide_sell(const payment_state& s, const sell& cmd) {
  if (cmd.amount_cents <= 0 || cmd.card_token.empty() || cmd.idempotency_key.empty()) {
    return reject<event>(payment_errc::invalid_payment,
                         "amount, card token and idempotency key are required");
  }
  if (authorizes_first(s)) {
    return reject<event>(payment_errc::payment_closed, "the payment authorizes first");
  }
  switch (s.status) {
    case status::none:     // the PSP call is the effect
    case status::captured: // sold: reported again
    case status::declined:
      return accept<event>();
    default:
      return reject<event>(payment_errc::payment_closed, "the sale was reversed");
  }
}

outcome decide_sale_result(const payment_state& s, const record_sale_result& cmd) {
  if (s.status != status::none || authorizes_first(s)) {
    return accept<event>(); // decided, or reversed: a late answer changes nothing
  }
  switch (cmd.outcome) {
    case psp_outcome::authorized:
      return accept<event>({sold{cmd.idempotency_key, cmd.psp_reference, cmd.amount_cents}});
    case psp_outcome::declined:
      return accept<event>({sale_declined{cmd.idempotency_key, cmd.reason}});
    case psp_outcome::failed:
      break;
  }
  return accept<event>();
}

outcome decide_sale_reversed(const payment_state& s, const record_sale_reversed& cmd) {
  if (authorizes_first(s) || (s.status != status::none && !sold_already(s))) {
    return accept<event>();
  }
  return accept<event>({sale_reversed{cmd.idempotency_key}});
}

/// The attempt an event names: by key; events stored as v1 carry no key and meant the attempt
/// numbered `number`, or the latest one.
attempt_record* attempt_of(payment_state& s, const std::string& key, int32_t number = 0) {
  auto i = std::find_if(s.attempts.begin(), s.attempts.end(), [&](const attempt_record& a) {
    return key.empty() ? a.number == (number > 0 ? number : s.attempt) : a.idempotency_key == key;
  });
  return i == s.attempts.end() ? nullptr : &*i;
}

/// Whether the attempt is the payment's latest one.
bool is_latest(const payment_state& s, const attempt_record* a) {
  return a == nullptr || a->number == s.attempt;
}

} // namespace

std::string report_authorization::identity() const {
  // A sale is resent with the same key: each attempt's report is its own message, so that one
  // the order refused (or never got) does not hide the next.
  auto of_attempt = "/" + std::to_string(attempt);
  switch (outcome) {
    case psp_outcome::authorized:
      return idempotency_key + "/authorized" + of_attempt;
    case psp_outcome::declined:
      return idempotency_key + "/declined" + of_attempt;
    case psp_outcome::failed:
      return idempotency_key + "/failed" + of_attempt;
  }
  return idempotency_key;
}

std::optional<report_authorization> report_of(const payment_state& s, const attempt_record& a) {
  if (s.status == status::authorized && a.idempotency_key == s.authorized_key) {
    return report_authorization{a.number, a.idempotency_key, psp_outcome::authorized, "",
                                a.psp_reference};
  }
  if (a.number != s.attempt) {
    return std::nullopt;
  }
  if (s.status == status::declined) {
    return report_authorization{a.number, a.idempotency_key, psp_outcome::declined, s.reason, ""};
  }
  if (s.status == status::failed) {
    return report_authorization{a.number, a.idempotency_key, psp_outcome::failed, s.reason, ""};
  }
  return std::nullopt;
}

std::vector<std::string> holds_to_release(const payment_state& s) {
  std::vector<std::string> out;
  if (is_open(s)) {
    return out;
  }
  for (const auto& a : s.attempts) {
    if (a.status != attempt_status::declined && a.status != attempt_status::released &&
        !in_use(s, a)) {
      out.push_back(a.idempotency_key);
    }
  }
  return out;
}

bool settled(const payment_state& s) {
  return holds_to_release(s).empty() && !capture_owed(s) && !refund_owed(s);
}

bool finished(const payment_state& s) {
  return !is_open(s) && s.status != status::authorized && settled(s);
}

bool waiting_on_psp(const payment_state& s) {
  return s.status == status::requested || !settled(s);
}

const attempt_record* authorization_in_use(const payment_state& s) {
  const auto* a = find_attempt(s, s.authorized_key);
  return a != nullptr && in_use(s, *a) ? a : nullptr;
}

payment_summary summary_of(const payment_state& s) {
  payment_summary out;
  out.status = s.status;
  out.amount_cents = s.amount_cents;
  out.attempt = s.attempt;
  if (const auto* in_use = authorization_in_use(s)) {
    out.authorized_attempt = in_use->number;
  }
  out.psp_reference = s.psp_reference;
  out.reason = s.reason;
  out.capture_confirmed = s.capture_confirmed;
  out.settled = settled(s);
  return out;
}

payment_decision decide(const payment_state& state, const command& cmd, const decide_context&) {
  return std::visit(
      overloaded{
          [&](const authorize& x) { return decide_authorize(state, x); },
          [&](const record_psp_result& x) { return decide_psp_result(state, x); },
          [&](const record_hold_released& x) { return decide_hold_released(state, x); },
          [&](const capture&) { return decide_capture(state); },
          [&](const record_capture_confirmed&) { return decide_capture_confirmed(state); },
          [&](const refund&) { return decide_refund(state); },
          [&](const record_refund_confirmed&) { return decide_refund_confirmed(state); },
          [&](const void_authorization&) { return decide_void(state); },
          [&](const sell& x) { return decide_sell(state, x); },
          [&](const record_sale_result& x) { return decide_sale_result(state, x); },
          [&](const reverse_sale&) { return accept<event>(); },
          [&](const record_sale_reversed& x) { return decide_sale_reversed(state, x); },
      },
      cmd);
}

bool sale_closed(const payment_state& s) {
  return !s.sale_key.empty() && (s.status == status::declined || s.status == status::voided ||
                                 s.status == status::refunded);
}

namespace {

psp_request authorization_call(const payment_state& s) {
  return psp_request{
      psp_operation::authorize, s.amount_cents, s.card_token, "", s.idempotency_key, ""};
}

psp_request capture_call(const payment_state& s, const std::string& order_id) {
  return psp_request{psp_operation::capture, 0, "", s.psp_reference, order_id + "/capture", ""};
}

psp_request refund_call(const payment_state& s, const std::string& order_id) {
  return psp_request{psp_operation::refund, 0, "", s.psp_reference, order_id + "/refund", ""};
}

/// Calls that release every hold the state says must go (the PSP deduplicates repeats).
std::vector<payment_action> releases(const payment_state& s) {
  std::vector<payment_action> out;
  for (const auto& key : holds_to_release(s)) {
    out.emplace_back(psp_request{psp_operation::void_hold, 0, "", "", key + "/void", key});
  }
  return out;
}

/// The report of how the attempt keyed `key` ended, if that moved the payment.
void report_attempt(const payment_state& s, const std::string& key,
                    std::vector<payment_action>& out) {
  if (const auto* a = find_attempt(s, key)) {
    if (auto r = report_of(s, *a)) {
      out.emplace_back(std::move(*r));
    }
  }
}

/// The releases due, plus the report of the attempt keyed `key` (an empty key, from an event
/// stored as v1: the latest).
std::vector<payment_action> result_reactions(const payment_state& s, const std::string& key) {
  auto out = releases(s);
  report_attempt(s, key.empty() ? s.idempotency_key : key, out);
  return out;
}

/// Once a captured payment is settled, its order's capture step is done.
std::vector<payment_action> report_if_settled(const payment_state& s) {
  if (s.status == status::captured && s.capture_confirmed && settled(s)) {
    return {report_capture{}};
  }
  return {};
}

} // namespace

std::vector<payment_action> reactions(const payment_state& s, const event& ev,
                                      const std::string& order_id) {
  return std::visit(
      overloaded{
          [&](const authorization_requested&) -> std::vector<payment_action> {
            return {authorization_call(s)};
          },
          [&](const authorized& x) { return result_reactions(s, x.idempotency_key); },
          [&](const declined& x) { return result_reactions(s, x.idempotency_key); },
          [&](const authorization_failed& x) { return result_reactions(s, x.idempotency_key); },
          [&](const hold_released&) { return report_if_settled(s); },
          [&](const captured&) -> std::vector<payment_action> {
            return {capture_call(s, order_id)};
          },
          [&](const capture_confirmed&) -> std::vector<payment_action> {
            if (refund_owed(s)) {
              return {refund_call(s, order_id)};
            }
            return report_if_settled(s);
          },
          [&](const refunded&) -> std::vector<payment_action> {
            if (capture_owed(s)) {
              return {}; // the capture is on its way: the refund follows its confirmation
            }
            return {refund_call(s, order_id)};
          },
          [&](const refund_confirmed&) -> std::vector<payment_action> { return {}; },
          [&](const voided&) { return releases(s); },
          [&](const sold& x) -> std::vector<payment_action> {
            return {report_authorization{0, x.idempotency_key, psp_outcome::authorized, "",
                                         x.psp_reference}};
          },
          [&](const sale_declined& x) -> std::vector<payment_action> {
            return {
                report_authorization{0, x.idempotency_key, psp_outcome::declined, x.reason, ""}};
          },
          [&](const sale_reversed&) -> std::vector<payment_action> {
            return {report_sale_reversed{}};
          },
      },
      ev);
}

std::vector<payment_action> resume(const payment_state& s, const std::string& order_id) {
  if (!s.sale_key.empty()) {
    // A sale reports its outcome again (the order may have missed it); nothing else is pending.
    if (s.status == status::captured || s.status == status::declined) {
      return {report_authorization{0, s.sale_key,
                                   s.status == status::captured ? psp_outcome::authorized
                                                                : psp_outcome::declined,
                                   s.reason, s.psp_reference}};
    }
    return {};
  }
  auto out = releases(s);
  switch (s.status) {
    case status::requested:
      out.emplace_back(authorization_call(s));
      break;
    case status::authorized:
      report_attempt(s, s.authorized_key, out);
      break;
    case status::declined:
    case status::failed:
      report_attempt(s, s.idempotency_key, out);
      break;
    case status::captured:
    case status::refunded:
      // Recorded, but maybe never sent: the PSP deduplicates by the idempotency key. A refund
      // waits for its capture.
      if (capture_owed(s)) {
        out.emplace_back(capture_call(s, order_id));
      } else if (refund_owed(s)) {
        out.emplace_back(refund_call(s, order_id));
      }
      for (auto& r : report_if_settled(s)) {
        out.emplace_back(std::move(r));
      }
      break;
    default:
      break;
  }
  return out;
}

std::vector<payment_action> sale_effects(const payment_state& s, const command& cmd) {
  std::vector<payment_action> out;
  if (const auto* x = std::get_if<sell>(&cmd)) {
    if (s.status == status::none && !authorizes_first(s)) {
      out.emplace_back(psp_request{psp_operation::sale, x->amount_cents, x->card_token, "",
                                   x->idempotency_key, "", x->attempt});
    } else if (sold_already(s)) {
      out.emplace_back(report_authorization{x->attempt, s.sale_key, psp_outcome::authorized, "",
                                            s.psp_reference});
    } else if (s.status == status::declined && !s.sale_key.empty()) {
      out.emplace_back(
          report_authorization{x->attempt, s.sale_key, psp_outcome::declined, s.reason, ""});
    }
  } else if (const auto* r = std::get_if<record_sale_result>(&cmd)) {
    if (r->outcome == psp_outcome::failed && s.status == status::none && !authorizes_first(s)) {
      out.emplace_back(
          report_authorization{r->attempt, r->idempotency_key, psp_outcome::failed, r->reason, ""});
    }
  } else if (const auto* v = std::get_if<reverse_sale>(&cmd)) {
    if (!authorizes_first(s) && (s.status == status::none || sold_already(s))) {
      out.emplace_back(psp_request{psp_operation::reverse, 0, "", "",
                                   v->idempotency_key + "/reverse", v->idempotency_key, 0});
    }
  }
  return out;
}

payment_state apply(payment_state s, const event& ev) {
  std::visit(overloaded{
                 [&](const authorization_requested& x) {
                   s.status = status::requested;
                   s.amount_cents = x.amount_cents;
                   s.card_token = x.card_token;
                   s.idempotency_key = x.idempotency_key;
                   s.attempt = x.attempt;
                   s.attempts.push_back(
                       attempt_record{x.attempt, x.idempotency_key, attempt_status::pending, ""});
                 },
                 [&](const authorized& x) {
                   auto* a = attempt_of(s, x.idempotency_key);
                   if (a != nullptr) {
                     a->status = attempt_status::authorized;
                     a->psp_reference = x.psp_reference;
                   }
                   if (is_open(s)) {
                     s.status = status::authorized;
                     s.psp_reference = x.psp_reference;
                     s.authorized_key = a != nullptr ? a->idempotency_key : s.idempotency_key;
                   }
                 },
                 [&](const declined& x) {
                   auto* a = attempt_of(s, x.idempotency_key);
                   if (a != nullptr) {
                     a->status = attempt_status::declined;
                   }
                   if (s.status == status::requested && is_latest(s, a)) {
                     s.status = status::declined;
                     s.reason = x.reason;
                   }
                 },
                 [&](const authorization_failed& x) {
                   auto* a = attempt_of(s, x.idempotency_key, x.attempt);
                   if (a != nullptr) {
                     a->status = attempt_status::failed;
                   }
                   if (s.status == status::requested && is_latest(s, a)) {
                     s.status = status::failed;
                     s.reason = x.reason;
                   }
                 },
                 [&](const hold_released& x) {
                   if (auto* a = attempt_of(s, x.idempotency_key)) {
                     a->status = attempt_status::released;
                   }
                 },
                 [&](const captured&) { s.status = status::captured; },
                 [&](const capture_confirmed&) { s.capture_confirmed = true; },
                 [&](const refunded&) { s.status = status::refunded; },
                 [&](const refund_confirmed&) { s.refund_confirmed = true; },
                 [&](const voided&) { s.status = status::voided; },
                 [&](const sold& x) {
                   s.status = status::captured;
                   s.sale_key = x.idempotency_key;
                   s.psp_reference = x.psp_reference;
                   s.amount_cents = x.amount_cents;
                   s.capture_confirmed = true;
                 },
                 [&](const sale_declined& x) {
                   s.status = status::declined;
                   s.sale_key = x.idempotency_key;
                   s.reason = x.reason;
                 },
                 [&](const sale_reversed& x) {
                   s.status = s.status == status::captured ? status::refunded : status::voided;
                   s.sale_key = x.idempotency_key;
                 },
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
