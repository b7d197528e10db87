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
  return payment::reactions(s, e, order_id);
}

std::vector<payment_action> payment_traits::effects(const payment_state& s, const command& c,
                                                    const decide_context&) const {
  return sale_effects(s, c);
}

std::vector<payment_action> payment_traits::resume(const payment_state& s,
                                                   const decide_context&) const {
  return payment::resume(s, order_id);
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
              // No CAF timeout (in 0.17 one is a clock-thread event, never cancelled, that fires
              // later as a message): the PSP gateway answers every call within
              // psp.client_timeout (the client's own deadline) or at once (circuit open), and a
              // gateway that dies answers its calls in flight itself. A lost answer is covered by
              // the order's step timer (a sale) and by stalled() (a recorded operation).
              self->request(psp.route(), caf::infinite, psp_call_atom::value, r)
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
                        if (reply.outcome != psp_outcome::authorized) {
                          // Only what the PSP did is recorded as done: a refusal is not a
                          // confirmation (no capture, void, reversal or refund is declined by the
                          // PSP we talk to; if one ever is, it shows here, and is sent again).
                          observability::log_event(
                              reply.outcome == psp_outcome::declined ? spdlog::level::err
                                                                     : spdlog::level::warn,
                              reply.outcome == psp_outcome::declined ? "psp refused the call"
                                                                     : "psp call failed",
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
                        } else if (operation == psp_operation::refund) {
                          // The money went back: recorded, so that a restart does not refund
                          // again, nor forget a refund never made.
                          runtime::tell_self(self,
                                             runtime::caused_by(cause, oid + "/psp/" + key, oid),
                                             caf::make_message(record_refund_confirmed{}));
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

caf::actor spawn_payment_host(caf::actor_system& sys,
                              runtime::supervised<persistence::journal_actor> journal,
                              persistence::reader_actor reader, runtime::host_settings settings,
                              runtime::directory_ptr hosts,
                              runtime::supervised<psp_gateway_actor> psp,
                              std::chrono::milliseconds psp_timeout) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return runtime::spawn_entity(s, payment_traits{hosts, psp, id, psp_timeout}, id,
                                 std::move(host), journal, reader, settings);
  };
  return runtime::spawn_host(sys, "payment", factory, settings);
}

} // namespace ordermesh::actors::payment
