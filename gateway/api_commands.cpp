#include "gateway/api_impl.hpp"

#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/runtime/messages.hpp"
#include "gateway/command_errors.hpp"

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

using done_atom = caf::atom_constant<caf::atom("done")>;
using expired_atom = caf::atom_constant<caf::atom("expired")>;

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
  placement pl{answer};
  pl.client = client_of(req);
  pl.key = std::move(checked->idempotency_key);
  pl.order = std::move(checked->order);
  pl.order_id = order_id_for(pl.client, pl.key);
  pl.fingerprint = fingerprint(pl.order);
  pl.wait = checked->wait;
  pl.traceparent = traceparent_for(req);
  pl.admitted = admit_locally(pl.client);
  auto self = shared_from_this();
  offload(answer, "/orders", [self, pl = std::move(pl)](read_worker&) mutable {
    self->admit_and_place(std::move(pl));
  });
}

void gateway_api::impl::bad(const responder& answer, unsigned status, const char* type,
                            std::string detail, const std::string& instance) {
  auto p = problem(status, type, std::move(detail));
  p.instance = instance;
  answer(make_problem(p));
}

void gateway_api::impl::admit_and_place(placement pl) {
  const std::string instance = "/orders";
  if (!pl.admitted && !admit(pl.client, pl.answer, instance)) {
    return;
  }
  if (auto first = idempotency.lookup(pl.client, pl.key)) {
    if (first->fingerprint != pl.fingerprint) {
      return bad(pl.answer, 422, problem_type::idempotency_key_reused,
                 "this Idempotency-Key was first used for a different order", instance);
    }
    auto r = first->answer;
    r.headers.emplace_back("Idempotent-Replayed", "true");
    return (void)pl.answer(std::move(r));
  }
  place(std::move(pl));
}

std::chrono::milliseconds gateway_api::impl::wait_left(const placement& pl) const {
  const auto timeout = cfg.gateway.request_timeout;
  // Room for answer_placed (it answers from the waiting actor's thread) and the network.
  const auto margin = std::min<std::chrono::milliseconds>(500ms, timeout / 4);
  const auto due = pl.arrived + timeout - margin;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
  return std::max(0ms, std::min(pl.wait, left));
}

std::chrono::milliseconds gateway_api::impl::command_deadline(const placement& pl) const {
  const auto due = pl.arrived + cfg.gateway.request_timeout - 100ms;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
  return std::max(1ms, std::min(cfg.gateway.command_timeout, left));
}

void gateway_api::impl::place(placement pl) {
  auto self = shared_from_this();
  sys.spawn([self, pl = std::move(pl)](caf::event_based_actor* actor) -> caf::behavior {
    actors::order::place_order cmd{pl.order_id,
                                   pl.order.customer_id,
                                   pl.order.lines,
                                   {pl.order.card_token, pl.order.amount_cents}};
    // The message id includes the body's fingerprint: a redelivery of the same order is
    // deduplicated, while the same key with another body reaches the order's decide, which
    // rejects it as conflicting_order.
    const auto deadline = self->command_deadline(pl);
    auto env = self->envelope_for("place:" + pl.order_id + ":" + pl.fingerprint, pl.order_id,
                                  pl.traceparent, deadline);
    auto ticket = std::make_shared<uint64_t>(0);
    actor
        ->request(self->hosts->order, deadline, route_atom::value, pl.order_id, env,
                  caf::make_message(std::move(cmd)))
        .then(
            [=](actors::order::order_reply& reply) {
              const auto status = actors::order::to_string(reply.summary.status);
              const auto& reason = reply.summary.reason;
              if (pl.wait.count() == 0 || actors::order::is_terminal(reply.summary.status)) {
                self->answer_placed(pl, status, reason, pl.wait.count() > 0);
                return actor->quit();
              }
              caf::actor handle{actor};
              *ticket = self->watch.watch(pl.order_id, [handle](const order_outcome& o) {
                caf::anon_send(handle, done_atom::value, o.status, o.reason);
              });
              actor->delayed_send(actor, self->wait_left(pl), expired_atom::value, status);
            },
            [=](caf::error& err) {
              pl.answer(answer_for_error(err, "/orders"));
              actor->quit();
            });
    return {
        [=](done_atom, const std::string& status, const std::string& reason) {
          // An empty status: the gateway is stopping and no longer waits.
          self->answer_placed(pl,
                              status.empty()
                                  ? actors::order::to_string(actors::order::order_status::placed)
                                  : status,
                              reason, !status.empty());
          actor->quit();
        },
        [=](expired_atom, const std::string& status) {
          self->watch.cancel(pl.order_id, *ticket);
          self->answer_placed(pl, status, "", false);
          actor->quit();
        },
    };
  });
}

void gateway_api::impl::answer_placed(const placement& pl, const std::string& status,
                                      const std::string& reason, bool final_answer) {
  const auto location = "/orders/" + pl.order_id;
  response r;
  if (!final_answer || !terminal(status)) {
    r = make_json(202, json{{"order_id", pl.order_id}, {"status", status}}.dump());
  } else if (status == actors::order::to_string(actors::order::order_status::confirmed)) {
    r = make_json(201, json{{"order_id", pl.order_id}, {"status", status}}.dump());
  } else {
    auto p = finished_order_problem(pl.order_id, status, reason);
    p.instance = location;
    r = make_problem(p);
  }
  r.headers.emplace_back("Location", location);
  // Answered here, on the thread that learned the outcome: queued behind the workers (or a
  // Redis write) it could miss request_timeout. The record is written off the answer path;
  // a retry that arrives before it is still safe, since the order id comes from client and key
  // and the order deduplicates the command (without a free worker it is not written at all).
  auto self = shared_from_this();
  (void)pool.try_post([self, client = pl.client, key = pl.key, fingerprint = pl.fingerprint,
                       remembered = r](read_worker&) {
    self->idempotency.remember(client, key, fingerprint, remembered);
  });
  pl.answer(std::move(r));
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
