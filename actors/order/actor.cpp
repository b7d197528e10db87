#include "actors/order/actor.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/inventory/errors.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/notification/errors.hpp"
#include "actors/notification/messages.hpp"
#include "actors/notification/replies.hpp"
#include "actors/order/messages.hpp"
#include "actors/payment/errors.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/replies.hpp"
#include "actors/runtime/entity.hpp"
#include "actors/runtime/host.hpp"
#include "util/fail_point.hpp"

#include <algorithm>

namespace ordermesh::actors::order {

std::optional<command> order_traits::from_message(const caf::message& msg) const {
  return runtime::command_from_message<command>(msg);
}

namespace {

using inventory::inventory_errc;
using inventory::inventory_reply;
using notification::notification_reply;
using payment::payment_errc;
using payment::payment_reply;

/// Sends a compensation step whose answer, reply or rejection, completes it (`done`): a rejection
/// says that there is nothing (more) to give back.
template <class Reply, class Errc, class Done>
void route_compensation(caf::event_based_actor* self, const caf::actor& host, const std::string& id,
                        envelope env, caf::message command, Done done) {
  runtime::route<Reply, Errc>(
      self, host, id, std::move(env), std::move(command), [=](Reply&) { done(); },
      [=](Errc, const std::string&) { done(); });
}

std::string step_name(saga_step step) {
  switch (step) {
    case saga_step::reservation:
      return "reservation";
    case saga_step::payment:
      return "payment";
    case saga_step::payment_retry:
      return "payment_retry";
    case saga_step::stock_commit:
      return "stock_commit";
    case saga_step::stock_commit_retry:
      return "stock_commit_retry";
  }
  return "?";
}

notification::terminal_status terminal_of(order_status s) {
  switch (s) {
    case order_status::rejected:
      return notification::terminal_status::rejected;
    case order_status::cancelled:
      return notification::terminal_status::cancelled;
    default:
      return notification::terminal_status::confirmed;
  }
}

} // namespace

void order_traits::execute(caf::event_based_actor* self, const order_state& s,
                           const std::vector<saga_action>& actions, const envelope& cause) {
  const auto& oid = s.order_id;
  const auto& dir = *hosts;
  auto env = [&](const std::string& step) {
    return runtime::caused_by(cause, oid + "/" + step, oid);
  };
  // A callback that tells the order `command` (message id <order>/<step>) at its `answers`-th
  // call: once every step of this batch of actions was acknowledged. Counted per batch, so a
  // resend is a new count.
  auto once_all_answered = [&](int answers, const std::string& step, caf::message command,
                               const char* crash_point) -> std::function<void()> {
    auto left = std::make_shared<int>(answers);
    auto e = runtime::caused_by(cause, oid + "/" + step, oid);
    return [=] {
      if (--*left == 0) {
        if (crash_point != nullptr) {
          util::fail_point(crash_point);
        }
        runtime::tell_self(self, e, command);
      }
    };
  };
  // Compensation (releases, void or refund) is done when each of its steps is acknowledged; then
  // the order records compensation_completed.
  int compensations = 0;
  for (const auto& a : actions) {
    if (std::holds_alternative<release_stock>(a) || std::holds_alternative<return_stock>(a) ||
        std::holds_alternative<void_or_refund_payment>(a)) {
      ++compensations;
    } else if (const auto* r = std::get_if<reverse_sale_payment>(&a)) {
      compensations += 1 + static_cast<int>(r->then_return.size());
    }
  }
  // An ended order with nothing to give back records its compensation done at once.
  const bool nothing_to_compensate =
      compensations == 0 &&
      (s.status == order_status::rejected || s.status == order_status::cancelled) &&
      !s.saga_completed && !actions.empty();
  auto compensation_done =
      once_all_answered(nothing_to_compensate ? 1 : compensations, "compensated",
                        caf::make_message(record_compensated{}), "order.compensated_before_record");
  // The takes of this batch are recorded together, once all are answered (take_tally).
  auto takes = std::make_shared<take_tally>(actions);
  // A confirmed sale confirmed without SKUs (by the binary before the settlement runner) ends once
  // every line's inventory answered its settle; until then the order is unfinished, so a settle
  // lost to a crash or an error is sent again (resume, stall).
  const auto settles =
      static_cast<int>(std::count_if(actions.begin(), actions.end(), [](const saga_action& a) {
        return std::holds_alternative<settle_stock>(a);
      }));
  auto settle_done = s.sale && !s.settled_by_runner && !s.saga_completed
                         ? once_all_answered(settles, "settled",
                                             caf::make_message(record_stock_settled{}), nullptr)
                         : std::function<void()>{[] {}};
  // A sale confirmed after a recorded sale request notifies itself and ends once the
  // notification answered (order_state::notifies_itself); until then it is unfinished, so a
  // notification lost to a crash or an error is sent again (resume, stall).
  auto notified =
      s.notifies_itself() && !s.saga_completed
          ? once_all_answered(1, "notified", caf::make_message(record_notified{}), nullptr)
          : std::function<void()>{[] {}};
  for (const auto& action : actions) {
    std::visit(
        overloaded{
            [&](const reserve_stock& a) {
              auto sku = a.sku;
              auto report = [=](record_reservation result) {
                runtime::tell_self(
                    self, runtime::caused_by(cause, oid + "/reserve/" + sku + "/result", oid),
                    caf::make_message(std::move(result)));
              };
              runtime::route<inventory_reply, inventory_errc>(
                  self, dir.inventory, sku, env("reserve/" + sku),
                  caf::make_message(inventory::reserve{oid, a.qty, a.ttl_ms}),
                  [=](inventory_reply& r) { report(reservation_answer(sku, r)); },
                  [=](inventory_errc, const std::string& reason) {
                    report(reservation_refusal(sku, reason));
                  });
            },
            [&](const take_stock& a) {
              util::fail_point("order.placed_before_take");
              auto sku = a.sku;
              auto e = env("take/" + sku);
              // Past the order's own reservation timeout the take is dropped unexecuted, so a take
              // still queued cannot land after the order gave up.
              e.deadline_us = runtime::unix_now_us() + a.deadline_ms * 1000;
              auto report = [=](const record_stock_commit& answer, bool now) {
                auto decided = takes->add(answer, now);
                if (!decided) {
                  return;
                }
                if (auto* taken = std::get_if<record_stock_taken>(&*decided)) {
                  util::fail_point("order.taken_before_record");
                  runtime::tell_self(self, runtime::caused_by(cause, oid + "/taken", oid),
                                     caf::make_message(std::move(*taken)));
                } else {
                  runtime::tell_self(
                      self, runtime::caused_by(cause, oid + "/take/" + sku + "/result", oid),
                      caf::make_message(std::get<record_stock_commit>(std::move(*decided))));
                }
              };
              runtime::route<inventory_reply, inventory_errc>(
                  self, dir.inventory, sku, std::move(e),
                  caf::make_message(inventory::commit{oid, a.qty}),
                  [=](inventory_reply& r) { report(take_answer(sku, r), took_now(r)); },
                  [=](inventory_errc, const std::string& reason) {
                    report(take_refusal(sku, reason), false);
                  });
            },
            [&](const sell_payment& a) {
              // The first sale follows the takes' answers with nothing recorded between: a crash
              // here recovers the order placed; it takes again and sells again, same key.
              util::fail_point("order.taken_before_sell");
              // One message id per attempt; the payment records nothing before its PSP call, so
              // it remembers the id only while it lives: after its crash a resend calls the PSP
              // again with the order's one sale key, which the PSP answers with its first answer.
              // The reply tells nothing (the first sell's is decided on a copy the payment never
              // read): the outcome comes as record_authorization.
              runtime::route<payment_reply>(
                  self, dir.payment, oid, env("sell/" + std::to_string(a.attempt)),
                  caf::make_message(payment::sell{a.amount_cents, a.card_token, oid + "/sale",
                                                  a.attempt, a.first}),
                  [](payment_reply&) {});
            },
            [&](const reverse_sale_payment& a) {
              util::fail_point("order.compensation_before_void");
              std::vector<std::pair<return_stock, envelope>> returns;
              for (const auto& line : a.then_return) {
                returns.emplace_back(line, env("return/" + line.sku));
              }
              auto give_back_stock = [=, inventory = dir.inventory, order_id = oid] {
                for (const auto& [line, e] : returns) {
                  util::fail_point("order.compensation_before_release");
                  route_compensation<inventory_reply, inventory_errc>(
                      self, inventory, line.sku, e,
                      caf::make_message(inventory::return_committed{order_id, line.qty}),
                      compensation_done);
                }
              };
              // No message id: the payment records nothing before its PSP call, so every resend
              // must reach it to call again (the reversal is idempotent by the sale key).
              // Until the sale is closed the saga stays open and asks again.
              runtime::route<payment_reply>(
                  self, dir.payment, oid, runtime::caused_by(cause, "", oid),
                  caf::make_message(payment::reverse_sale{oid + "/sale"}), [=](payment_reply& r) {
                    if (sale_closed(r.summary)) {
                      compensation_done();
                      give_back_stock();
                    }
                  });
            },
            [&](const release_stock& a) {
              util::fail_point("order.compensation_before_release");
              route_compensation<inventory_reply, inventory_errc>(
                  self, dir.inventory, a.sku, env("release/" + a.sku),
                  caf::make_message(inventory::release{oid}), compensation_done);
            },
            [&](const commit_stock& a) {
              util::fail_point("order.confirmed_before_stock_commit");
              // Every answer is recorded: a decision (committed or refused) under one id per
              // line, a transient failure under one id per round, so neither hides the other.
              auto sku = a.sku;
              auto attempt = a.attempt;
              auto report = [=](commit_outcome outcome, std::string reason) {
                auto id = oid + "/commit/" + sku + "/" +
                          (outcome == commit_outcome::failed ? "failed/" + std::to_string(attempt)
                                                             : std::string{"result"});
                runtime::tell_self(self, runtime::caused_by(cause, id, oid),
                                   caf::make_message(record_stock_commit{sku, attempt, outcome,
                                                                         std::move(reason)}));
              };
              // No CAF timeout: a lost answer fails the round on the order's tick (its
              // stock_commit timer), like any other missing answer.
              runtime::send_command<inventory_reply>(
                  self, dir.inventory, sku, caf::infinite, env("commit/" + sku),
                  caf::make_message(inventory::commit{oid}),
                  [=](inventory_reply&) { report(commit_outcome::committed, ""); },
                  [=](caf::error& err) {
                    if (auto code = runtime::rejection_code<inventory_errc>(err)) {
                      auto refused = commit_refusal(sku, attempt, *code, runtime::reason_of(err));
                      report(refused.outcome, std::move(refused.reason));
                    } else {
                      report(commit_outcome::failed, self->system().render(err));
                    }
                  });
            },
            [&](const return_stock& a) {
              util::fail_point("order.compensation_before_release");
              // Idempotent by the order id at the inventory (not by this message id, which its
              // dedupe window forgets): units go back once however often this is resent.
              route_compensation<inventory_reply, inventory_errc>(
                  self, dir.inventory, a.sku, env("return/" + a.sku),
                  caf::make_message(inventory::return_committed{oid, a.qty}), compensation_done);
            },
            [&](const settle_stock& a) {
              util::fail_point("order.confirmed_before_settle");
              // Idempotent at the inventory by the order id (and deduplicated by the message id);
              // a rejection (decided on a current copy) says it holds nothing of the order.
              runtime::route<inventory_reply, inventory_errc>(
                  self, dir.inventory, a.sku, env("settle/" + a.sku),
                  caf::make_message(inventory::settle{oid}),
                  [=](inventory_reply&) { settle_done(); },
                  [=](inventory_errc, const std::string&) { settle_done(); });
            },
            [&](const authorize_payment& a) {
              auto step = "authorize/" + std::to_string(a.attempt);
              runtime::route<payment_reply>(
                  self, dir.payment, oid, env(step),
                  caf::make_message(
                      payment::authorize{a.amount_cents, a.card_token, oid + "/" + step}),
                  [=](payment_reply& r) {
                    if (auto authorized = authorization_answer(r.summary)) {
                      runtime::tell_self(
                          self, runtime::caused_by(cause, oid + "/" + step + "/answered", oid),
                          caf::make_message(std::move(*authorized)));
                    }
                  });
            },
            [&](const capture_payment&) {
              util::fail_point("order.stock_commit_sent_before_capture");
              // The payment reports record_capture once the PSP has captured and no surplus hold
              // is left; that report may be lost, so an answer that shows it is taken as one.
              runtime::route<payment_reply>(
                  self, dir.payment, oid, env("capture"), caf::make_message(payment::capture{}),
                  [=](payment_reply& r) {
                    if (auto captured = capture_answer(r.summary)) {
                      runtime::tell_self(self,
                                         runtime::caused_by(cause, oid + "/capture/answered", oid),
                                         caf::make_message(*captured));
                    }
                  });
            },
            [&](const void_or_refund_payment&) {
              util::fail_point("order.compensation_before_void");
              auto payment_host = dir.payment;
              runtime::route<payment_reply, payment_errc>(
                  self, dir.payment, oid, env("void"),
                  caf::make_message(payment::void_authorization{}),
                  [=](payment_reply& r) {
                    // Until then the saga stays open, so it is resumed (also at start) and asks
                    // again.
                    if (void_done(r.summary)) {
                      compensation_done();
                    }
                  },
                  [=](payment_errc, const std::string&) {
                    // Captured already: give the money back instead.
                    route_compensation<payment_reply, payment_errc>(
                        self, payment_host, oid, runtime::caused_by(cause, oid + "/refund", oid),
                        caf::make_message(payment::refund{}), compensation_done);
                  });
            },
            [&](const notify& a) {
              // Idempotent at the notification by the order id.
              runtime::route<notification_reply>(
                  self, dir.notification, oid, env("notify"),
                  caf::make_message(notification::record_notification{oid, terminal_of(a.status)}),
                  [=](notification_reply&) { notified(); });
            },
            [&](const schedule_timeout&) {
              // Never here: the runtime arms it on the entity's tick (order_traits::timer).
            },
        },
        action);
  }
  if (nothing_to_compensate) {
    compensation_done();
  }
}

std::optional<runtime::timed_command<command>>
order_traits::timer(const order_state& s, const saga_action& action) const {
  const auto* a = std::get_if<schedule_timeout>(&action);
  if (a == nullptr) {
    return std::nullopt;
  }
  return runtime::timed_command<command>{std::chrono::milliseconds(a->delay_ms),
                                         s.order_id + "/timeout/" + step_name(a->step) + "/" +
                                             std::to_string(a->attempt),
                                         record_timeout{a->step, a->attempt}};
}

void order_traits::committed(caf::event_based_actor*, const order_state& before,
                             const order_state& after) const {
  if (!before.terminal() && after.terminal()) {
    hosts->order_completions->tell(
        caf::make_message(order_completed{after.order_id, after.status, after.reason}));
  }
}

caf::actor spawn_order_host(caf::actor_system& sys,
                            runtime::supervised<persistence::journal_actor> journal,
                            persistence::reader_actor reader, runtime::host_settings settings,
                            runtime::directory_ptr hosts, saga_policy policy) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return runtime::spawn_entity(s, order_traits{hosts, policy}, id, std::move(host), journal,
                                 reader, settings);
  };
  return runtime::spawn_host(sys, "order", factory, settings);
}

} // namespace ordermesh::actors::order
