#include "gateway/api_impl.hpp"

#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/runtime/messages.hpp"
#include "gateway/command_errors.hpp"
#include "observability/log.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

namespace ordermesh::gateway {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using actors::runtime::route_atom;

using place_atom = caf::atom_constant<caf::atom("gw_place")>;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A fresh W3C traceparent, or the caller's when it sent a well-formed one.
std::string traceparent_for(const request& req) {
  if (auto incoming = parse_traceparent(req.header("traceparent"))) {
    return *incoming;
  }
  thread_local std::mt19937_64 random{std::random_device{}()};
  char buf[56];
  std::snprintf(
      buf, sizeof buf, "00-%016llx%016llx-%016llx-01", static_cast<unsigned long long>(random()),
      static_cast<unsigned long long>(random()), static_cast<unsigned long long>(random()));
  return buf;
}

/// The body of 201 and 202: {"order_id":..,"status":..}, as nlohmann::json would write it (keys
/// sorted). Both values need no escaping: an order id is "o" and hex digits, a status one of
/// order_status's names.
std::string accepted_body(const std::string& order_id, const std::string& status) {
  std::string body;
  body.reserve(32 + order_id.size() + status.size());
  body += R"({"order_id":")";
  body += order_id;
  body += R"(","status":")";
  body += status;
  body += "\"}";
  return body;
}

/// Runs `work` for the placement `pl`; an exception it throws is logged and answers that request
/// 500 (problem), so that it never ends the placer every other POST /orders goes through.
template <class Work>
void for_this_request_only(const placement& pl, Work&& work) noexcept {
  std::string what = "unknown exception";
  try {
    work();
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  try {
    observability::log_event(spdlog::level::err, "placing an order threw",
                             {{"order_id", pl.order_id}, {"error", what}});
    auto p = problem(500, problem_type::internal, "the order could not be placed");
    p.instance = "/orders";
    pl.answer(make_problem(p));
  } catch (...) {
    // Nothing left to tell: the request ends by its own timer (504).
  }
}

} // namespace

actors::envelope
gateway_api::impl::envelope_for(std::string message_id, std::string correlation,
                                std::string traceparent,
                                std::optional<std::chrono::milliseconds> timeout) const {
  actors::envelope env;
  env.message_id = std::move(message_id);
  env.correlation_id = std::move(correlation);
  env.traceparent = std::move(traceparent);
  env.deadline_us = now_us() + std::chrono::duration_cast<std::chrono::microseconds>(
                                   timeout.value_or(cfg.gateway.command_timeout))
                                   .count();
  return env;
}

void gateway_api::impl::post_order(const request& req, const responder& answer) {
  auto checked = passed(check_place_order(req, cfg.gateway.max_wait), answer);
  if (!checked) {
    return;
  }
  auto pl = std::make_shared<placement>(answer);
  pl->client = client_of(req);
  pl->key = std::move(checked->idempotency_key);
  pl->order = std::move(checked->order);
  pl->order_id = order_id_for(pl->client, pl->key);
  pl->fingerprint = fingerprint(pl->order);
  pl->wait = checked->wait;
  pl->traceparent = traceparent_for(req);
  pl->admitted = admit_locally(pl->client);
  auto self = shared_from_this();
  if (pl->wait.count() > 0) {
    // On the connection's own timer (it replaces the server's 504): no CAF clock event.
    answer.on_due(wait_left(*pl), [self, pl] { self->wait_ran_out(pl); });
  }
  if (pl->admitted) {
    // Nothing here blocks: no worker. The idempotency record is not read before the command:
    // the order id comes from (client, key) and the order deduplicates the command, so only
    // the order's reply says whether this is a retry (send_place_order).
    return place(pl);
  }
  offload(answer, "/orders", [self, pl](read_worker&) { self->admit_then_place(pl); });
}

void gateway_api::impl::bad(const responder& answer, unsigned status, const char* type,
                            std::string detail, const std::string& instance) {
  auto p = problem(status, type, std::move(detail));
  p.instance = instance;
  answer(make_problem(p));
}

void gateway_api::impl::admit_then_place(const placement_ptr& pl) {
  if (admit(pl->client, pl->answer, "/orders")) {
    place(pl);
  }
}

void gateway_api::impl::replay_or(const placement_ptr& pl, std::function<void()> otherwise) {
  auto self = shared_from_this();
  auto fallback = [pl, otherwise] { for_this_request_only(*pl, otherwise); };
  const bool posted = pool.try_post([self, pl, fallback](read_worker&) {
    for_this_request_only(*pl, [&] {
      auto first = self->idempotency.lookup(pl->client, pl->key);
      if (!first) {
        return fallback();
      }
      if (first->fingerprint != pl->fingerprint) {
        return self->bad(pl->answer, 422, problem_type::idempotency_key_reused,
                         "this Idempotency-Key was first used for a different order", "/orders");
      }
      auto r = first->answer;
      r.headers.emplace_back("Idempotent-Replayed", "true");
      pl->answer(std::move(r));
    });
  });
  if (!posted) {
    fallback(); // no worker free: answered as without a record
  }
}

std::chrono::milliseconds gateway_api::impl::request_left(const placement& pl,
                                                          std::chrono::milliseconds margin) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      pl.arrived + cfg.gateway.request_timeout - margin - std::chrono::steady_clock::now());
}

std::chrono::milliseconds gateway_api::impl::wait_left(const placement& pl) const {
  // Room for answer_placed and the network.
  const auto margin = std::min<std::chrono::milliseconds>(500ms, cfg.gateway.request_timeout / 4);
  return std::max(0ms, std::min(pl.wait, request_left(pl, margin)));
}

std::chrono::milliseconds gateway_api::impl::command_deadline(const placement& pl) const {
  return std::max(1ms, std::min(cfg.gateway.command_timeout, request_left(pl, 100ms)));
}

void gateway_api::impl::start_placer() {
  std::weak_ptr<impl> weak = shared_from_this();
  placer = sys.spawn([weak](caf::event_based_actor* actor) -> caf::behavior {
    return {
        [=](place_atom, const placement_ptr& pl) {
          auto self = weak.lock();
          if (!self) {
            return;
          }
          for_this_request_only(*pl, [&] { self->send_place_order(actor, pl); });
        },
    };
  });
}

void gateway_api::impl::send_place_order(caf::event_based_actor* actor, const placement_ptr& pl) {
  std::weak_ptr<impl> weak = weak_from_this();
  actors::order::place_order cmd{pl->order_id,
                                 pl->order.customer_id,
                                 pl->order.lines,
                                 {pl->order.card_token, pl->order.amount_cents}};
  // The message id includes the body's fingerprint: a redelivery of the same order is
  // deduplicated, while the same key with another body reaches the order's decide, which rejects
  // it as conflicting_order.
  auto env = envelope_for("place:" + pl->order_id + ":" + pl->fingerprint, pl->order_id,
                          pl->traceparent, command_deadline(*pl));
  // No CAF timeout (two clock-thread events per request): the host answers every command by its
  // deadline (deadline_exceeded) or takes it back when its entity ends, and the request itself is
  // bounded by its connection's timer (504 at request_timeout).
  actor
      ->request(hosts->order, caf::infinite, route_atom::value, pl->order_id, env,
                caf::make_message(std::move(cmd)))
      .then(
          [weak, pl](actors::order::order_reply& reply) {
            auto self = weak.lock();
            if (!self) {
              return;
            }
            if (!reply.repeated) {
              return for_this_request_only(*pl, [&] { self->on_accepted(pl, reply.summary); });
            }
            // A retry of a placement the order has: the answer its key got first, if recorded.
            self->replay_or(pl, [self, pl, summary = std::move(reply.summary)] {
              self->on_accepted(pl, summary);
            });
          },
          [weak, pl](caf::error& err) {
            auto answer_error = [pl, err] { pl->answer(answer_for_error(err, "/orders")); };
            auto self = weak.lock();
            if (!self || actors::runtime::rejection_code<actors::order::order_errc>(err)) {
              return for_this_request_only(*pl, answer_error); // the order decided
            }
            // Not decided (overloaded, deadline, journal away): a retry whose first answer is
            // recorded still gets it, as when the record was read before the command.
            self->replay_or(pl, answer_error);
          });
}

void gateway_api::impl::place(const placement_ptr& pl) {
  caf::anon_send(placer, place_atom::value, pl);
}

void gateway_api::impl::on_accepted(const placement_ptr& pl,
                                    const actors::order::order_summary& summary) {
  util::throw_point("gateway.placer_accepted");
  const auto status = actors::order::to_string(summary.status);
  if (pl->wait.count() == 0 || actors::order::is_terminal(summary.status)) {
    return answer_placed(*pl, status, summary.reason, pl->wait.count() > 0);
  }
  std::unique_lock<std::mutex> lock{pl->mutex};
  pl->accepted_status = status;
  if (pl->wait_over) {
    lock.unlock();
    return answer_placed(*pl, status, "", false);
  }
  // Registered under the lock, so that wait_ran_out finds the ticket to cancel. The callback may
  // run at once (the order ended already); it takes no lock of the placement.
  std::weak_ptr<impl> weak = shared_from_this();
  pl->ticket = watch.watch(pl->order_id, [weak, pl](const order_outcome& o) {
    auto self = weak.lock();
    if (!self) {
      return;
    }
    // An empty status: the gateway is stopping and no longer waits. On the thread that learned
    // the outcome, which must not die of this request's answer either.
    for_this_request_only(*pl, [&] {
      self->answer_placed(*pl,
                          o.status.empty()
                              ? actors::order::to_string(actors::order::order_status::placed)
                              : o.status,
                          o.reason, !o.status.empty());
    });
  });
}

void gateway_api::impl::wait_ran_out(const placement_ptr& pl) {
  std::unique_lock<std::mutex> lock{pl->mutex};
  pl->wait_over = true;
  if (!pl->accepted_status) {
    lock.unlock();
    // The order's reply answers 202 when it comes; until request_timeout, as without a wait.
    const auto answer = pl->answer;
    answer.on_due(std::max(0ms, request_left(*pl, 0ms)), [answer] {
      answer(answer_for_error(caf::make_error(caf::sec::request_timeout), "/orders"));
    });
    return;
  }
  const auto status = *pl->accepted_status;
  const auto ticket = pl->ticket;
  lock.unlock();
  watch.cancel(pl->order_id, ticket);
  answer_placed(*pl, status, "", false);
}

void gateway_api::impl::answer_placed(const placement& pl, const std::string& status,
                                      const std::string& reason, bool final_answer) {
  const auto location = "/orders/" + pl.order_id;
  response r;
  if (!final_answer || !terminal(status)) {
    r = make_json(202, accepted_body(pl.order_id, status));
  } else if (status == actors::order::to_string(actors::order::order_status::confirmed)) {
    r = make_json(201, accepted_body(pl.order_id, status));
  } else {
    auto p = finished_order_problem(pl.order_id, status, reason);
    p.instance = location;
    r = make_problem(p);
  }
  r.headers.emplace_back("Location", location);
  auto remembered = r;
  if (!pl.answer(std::move(r))) {
    return; // answered otherwise (the wait's deadline, a 504): that answer is not recorded
  }
  // The record is written off the answer path, after it (queued here, sent by a worker with the
  // records of other answers); a retry that arrives before it is still safe, since the order id
  // comes from client and key and the order deduplicates the command (with the queue full or no
  // free worker it is not written at all). It is read only for a retry (replay_or): the answer
  // the client got first, which the order cannot tell (the status of a ?wait answer depends on
  // when it was given), replayed the same for the record's 24 h.
  idempotency.remember(pl.client, pl.key, pl.fingerprint, std::move(remembered));
}

void gateway_api::impl::restock(const request& req, const responder& answer) {
  const auto checked = passed(check_restock(req), answer);
  if (!checked) {
    return;
  }
  const auto& sku = checked->sku;
  const auto& key = checked->idempotency_key;
  const auto qty = checked->qty;
  const std::string instance = "/inventory/" + sku + "/restock";
  auto client = client_of(req);
  // With a key, a retry is the same restock (deduplicated by the entity); without one, each
  // request is a new restock.
  thread_local std::mt19937_64 random{std::random_device{}()};
  auto message_id = "restock:" + sku + ":" +
                    (key.empty() ? "r" + std::to_string(random()) : order_id_for(client, key));
  auto env = envelope_for(message_id, "", traceparent_for(req));
  auto self = shared_from_this();
  const bool admitted = admit_locally(client);
  offload(answer, instance, [=](read_worker&) {
    if (!admitted && !self->admit(client, answer, instance)) {
      return;
    }
    self->sys.spawn([=](caf::event_based_actor* actor) {
      actor
          ->request(self->hosts->inventory, self->cfg.gateway.command_timeout, route_atom::value,
                    sku, env, caf::make_message(actors::inventory::restock{qty}))
          .then(
              [=](actors::inventory::inventory_reply& reply) {
                const auto& stock = reply.summary;
                answer(make_json(200, json{{"on_hand", stock.on_hand},
                                           {"reserved", stock.reserved},
                                           {"available", stock.available},
                                           {"reservations", stock.reservations},
                                           {"sku", sku},
                                           {"version", reply.version}}
                                          .dump()));
                actor->quit();
              },
              [=](caf::error& err) {
                answer(answer_for_error(err, instance));
                actor->quit();
              });
    });
  });
}

} // namespace ordermesh::gateway
