#include "actors/payment/actor.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/runtime/entity.hpp"
#include "actors/runtime/host.hpp"
#include "util/fail_point.hpp"

namespace ordermesh::actors::payment {

std::optional<command> payment_traits::from_message(const caf::message& msg) const {
  return runtime::command_from_message<command>(msg);
}

namespace {

psp_request authorization_call(const payment_state& s) {
  return psp_request{
      psp_operation::authorize, s.amount_cents, s.card_token, "", s.idempotency_key, ""};
}

/// Calls that release every hold the state says must go (receivers deduplicate repeats).
std::vector<payment_action> releases(const payment_state& s) {
  std::vector<payment_action> out;
  for (const auto& key : holds_to_release(s)) {
    out.emplace_back(psp_request{psp_operation::void_hold, 0, "", "", key + "/void", key});
  }
  return out;
}

/// The report of the attempt keyed `key` (an empty key: the latest), plus the releases due.
std::vector<payment_action> result_reactions(const payment_state& s, const std::string& key) {
  auto out = releases(s);
  const auto* a = find_attempt(s, key.empty() ? s.idempotency_key : key);
  if (a != nullptr) {
    if (auto r = report_of(s, *a)) {
      out.emplace_back(std::move(*r));
    }
  }
  return out;
}

psp_request capture_call(const payment_state& s, const std::string& order_id) {
  return psp_request{psp_operation::capture, 0, "", s.psp_reference, order_id + "/capture", ""};
}

/// Once a captured payment is settled, its order's capture step is done.
std::vector<payment_action> report_if_settled(const payment_state& s) {
  if (s.status == payment_status::captured && s.capture_confirmed && settled(s)) {
    return {report_capture{}};
  }
  return {};
}

order::payment_outcome to_order(psp_outcome x) {
  switch (x) {
    case psp_outcome::authorized:
      return order::payment_outcome::authorized;
    case psp_outcome::declined:
      return order::payment_outcome::declined;
    case psp_outcome::failed:
      return order::payment_outcome::failed;
  }
  return order::payment_outcome::failed;
}

} // namespace

std::vector<payment_action> payment_traits::reactions(const payment_state& s, const event& e,
                                                      const decide_context&) const {
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
          [&](const capture_confirmed&) { return report_if_settled(s); },
          [&](const refunded&) -> std::vector<payment_action> {
            return {psp_request{psp_operation::refund, 0, "", s.psp_reference, order_id + "/refund",
                                ""}};
          },
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
      e);
}

std::vector<payment_action> payment_traits::effects(const payment_state& s, const command& c,
                                                    const decide_context&) const {
  std::vector<payment_action> out;
  for (auto& effect : sale_effects(s, c)) {
    std::visit(overloaded{
                   [&](sale_call& x) {
                     out.emplace_back(
                         psp_request{x.sale ? psp_operation::sale : psp_operation::reverse,
                                     x.amount_cents, std::move(x.card_token), "",
                                     x.sale ? x.idempotency_key : x.idempotency_key + "/reverse",
                                     x.sale ? std::string{} : x.idempotency_key, x.attempt});
                   },
                   [&](report_authorization& x) { out.emplace_back(std::move(x)); },
               },
               effect);
  }
  return out;
}

std::vector<payment_action> payment_traits::resume(const payment_state& s,
                                                   const decide_context&) const {
  if (!s.sale_key.empty()) {
    // A sale reports its outcome again (the order may have missed it); nothing else is pending.
    if (s.status == payment_status::captured || s.status == payment_status::declined) {
      return {report_authorization{0, s.sale_key,
                                   s.status == payment_status::captured ? psp_outcome::authorized
                                                                        : psp_outcome::declined,
                                   s.reason, s.psp_reference}};
    }
    return {};
  }
  auto out = releases(s);
  switch (s.status) {
    case payment_status::requested:
      out.emplace_back(authorization_call(s));
      break;
    case payment_status::authorized:
      if (const auto* a = find_attempt(s, s.authorized_key)) {
        if (auto r = report_of(s, *a)) {
          out.emplace_back(std::move(*r));
        }
      }
      break;
    case payment_status::declined:
    case payment_status::failed:
      if (const auto* a = find_attempt(s, s.idempotency_key)) {
        if (auto r = report_of(s, *a)) {
          out.emplace_back(std::move(*r));
        }
      }
      break;
    case payment_status::captured:
      if (!s.capture_confirmed) {
        // Recorded, but maybe never sent: the PSP deduplicates by the idempotency key.
        out.emplace_back(capture_call(s, order_id));
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

void payment_traits::execute(caf::event_based_actor* self, const payment_state&,
                             const std::vector<payment_action>& actions, const envelope& cause) {
  for (const auto& action : actions) {
    std::visit(
        overloaded{
            [&](const psp_request& r) {
              auto key = r.idempotency_key;
              auto authorization_key = r.authorization_key;
              auto operation = r.operation;
              auto oid = order_id;
              // A sale's answer, one message per attempt and outcome: a later attempt's answer is
              // never taken for a repeat of an earlier one's.
              auto record_sale = [=, amount = r.amount_cents, attempt = r.attempt](
                                     psp_outcome outcome, std::string ref, std::string reason) {
                auto id = oid + "/psp/" + key + "/" + std::to_string(attempt) + "/" +
                          std::to_string(static_cast<int>(outcome));
                runtime::tell_self(
                    self, runtime::caused_by(cause, id, oid),
                    caf::make_message(record_sale_result{key, outcome, std::move(ref),
                                                         std::move(reason), attempt, amount}));
              };
              util::fail_point("payment.before_psp_call");
              self->request(psp, psp_timeout + std::chrono::seconds(5), psp_call_atom::value, r)
                  .then(
                      [=](psp_reply& reply) {
                        util::fail_point("payment.psp_answered_before_record");
                        if (operation == psp_operation::authorize) {
                          runtime::tell_self(
                              self, runtime::caused_by(cause, oid + "/psp/" + key, oid),
                              caf::make_message(record_psp_result{key, reply.outcome,
                                                                  reply.reference, reply.reason}));
                          return;
                        }
                        if (operation == psp_operation::sale) {
                          record_sale(reply.outcome, reply.reference, reply.reason);
                          return;
                        }
                        if (reply.outcome == psp_outcome::failed) {
                          observability::log_event(
                              spdlog::level::warn, "psp call failed",
                              {{"order", oid}, {"key", key}, {"reason", reply.reason}});
                          return; // stalled() resends it
                        }
                        if (operation == psp_operation::reverse) {
                          runtime::tell_self(
                              self, runtime::caused_by(cause, oid + "/psp/" + key, oid),
                              caf::make_message(record_sale_reversed{authorization_key}));
                        } else if (operation == psp_operation::void_hold) {
                          runtime::tell_self(
                              self, runtime::caused_by(cause, oid + "/psp/" + key, oid),
                              caf::make_message(record_hold_released{authorization_key}));
                        } else if (operation == psp_operation::capture) {
                          // The money moved: recorded, then reported to the order once settled.
                          runtime::tell_self(self,
                                             runtime::caused_by(cause, oid + "/psp/" + key, oid),
                                             caf::make_message(record_capture_confirmed{}));
                        }
                      },
                      [=](caf::error& err) {
                        if (operation == psp_operation::sale) {
                          record_sale(psp_outcome::failed, "", self->system().render(err));
                        }
                        if (operation == psp_operation::authorize) {
                          runtime::tell_self(
                              self, runtime::caused_by(cause, oid + "/psp/" + key, oid),
                              caf::make_message(record_psp_result{key, psp_outcome::failed, "",
                                                                  self->system().render(err)}));
                        }
                      });
            },
            [&](const report_capture&) {
              // If this report is lost, the order's repeated capture learns it from the reply.
              runtime::route<order::order_reply>(
                  self, hosts->order, order_id,
                  runtime::caused_by(cause, order_id + "/capture/result", order_id),
                  caf::make_message(order::record_capture{true}), [](order::order_reply&) {});
            },
            [&](const report_sale_reversed&) {
              // If this report is lost, the order's resent reverse_sale learns it from the reply.
              runtime::route<order::order_reply>(
                  self, hosts->order, order_id,
                  runtime::caused_by(cause, order_id + "/payment/sale_reversed", order_id),
                  caf::make_message(order::record_sale_reversed{}), [](order::order_reply&) {});
            },
            [&](const report_authorization& r) {
              auto env = runtime::caused_by(cause, order_id + "/payment/" + r.identity(), order_id);
              runtime::route<order::order_reply>(
                  self, hosts->order, order_id, env,
                  caf::make_message(order::record_authorization{r.attempt, to_order(r.outcome),
                                                                r.reason, r.psp_reference}),
                  [](order::order_reply&) {});
            },
        },
        action);
  }
}

caf::actor spawn_payment_host(caf::actor_system& sys, persistence::journal_actor journal,
                              persistence::reader_actor reader, runtime::host_settings settings,
                              runtime::directory_ptr hosts, psp_gateway_actor psp,
                              std::chrono::milliseconds psp_timeout) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return runtime::spawn_entity(s, payment_traits{hosts, psp, id, psp_timeout}, id,
                                 std::move(host), journal, reader, settings);
  };
  return runtime::spawn_host(sys, "payment", factory, settings);
}

} // namespace ordermesh::actors::payment
