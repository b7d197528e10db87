#include "actors/payment/psp_gateway.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/payment/circuit_breaker.hpp"
#include "actors/runtime/entity.hpp"
#include "observability/log.hpp"
#include "psp/client/client.hpp"

#include <caf/all.hpp>

#include <pthread.h>

namespace ordermesh::actors::payment {

namespace {

std::string to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "?";
}

psp_reply call(psp::psp_client& client, const psp_request& r) {
  psp::psp_outcome out;
  switch (r.operation) {
    case psp_operation::authorize:
      out = client.authorize(r.amount_cents, r.card_token, r.idempotency_key);
      break;
    case psp_operation::capture:
      out = client.capture(r.reference, r.idempotency_key);
      break;
    case psp_operation::refund:
      out = client.refund(r.reference, r.idempotency_key);
      break;
    case psp_operation::void_hold:
      out = client.void_authorization(r.authorization_key, r.idempotency_key);
      break;
    case psp_operation::sale:
      out = client.sale(r.amount_cents, r.card_token, r.idempotency_key);
      break;
    case psp_operation::reverse:
      out = client.reverse(r.authorization_key, r.idempotency_key);
      break;
  }
  return std::visit(overloaded{
                        [](const psp::psp_ok& ok) {
                          return psp_reply{psp_outcome::authorized, ok.id, ok.status};
                        },
                        [](const psp::psp_declined& d) {
                          return psp_reply{psp_outcome::declined, d.id, d.reason};
                        },
                        [](const psp::psp_failed& f) {
                          return psp_reply{psp_outcome::failed, "",
                                           std::string{psp::to_string(f.kind)} + ": " + f.detail};
                        },
                    },
                    out);
}

struct worker_state {
  std::unique_ptr<psp::psp_client> client;
};

caf::behavior worker_impl(caf::stateful_actor<worker_state>* self, config::psp_config psp) {
  // Runs on the worker's own thread: named so that a profile tells it from other actors.
  pthread_setname_np(pthread_self(), "om.psp");
  self->state.client = std::make_unique<psp::psp_client>(psp);
  return {[=](psp_call_atom, const psp_request& r) { return call(*self->state.client, r); }};
}

struct gateway_state {
  circuit_breaker breaker;
  caf::actor pool;
  breaker_report report;
  std::chrono::milliseconds timeout{0};
};

using gateway_pointer = psp_gateway_actor::stateful_pointer<gateway_state>;

void observe(gateway_pointer self, breaker_state before) {
  auto after = self->state.breaker.state();
  if (after != before) {
    observability::log_event(
        after == breaker_state::open ? spdlog::level::warn : spdlog::level::info,
        "psp circuit breaker " + to_string(after), {{"from", to_string(before)}});
  }
}

psp_gateway_actor::behavior_type gateway_impl(gateway_pointer self, config::psp_config psp,
                                              circuit_breaker_policy policy, size_t workers) {
  auto& st = self->state;
  st.breaker = circuit_breaker{policy};
  st.timeout = psp.client_timeout + std::chrono::seconds(2);
  auto& sys = self->system();
  st.pool = caf::actor_pool::make(
      sys.dummy_execution_unit(), workers,
      [&sys, psp] { return sys.spawn<caf::detached>(worker_impl, psp); },
      caf::actor_pool::round_robin());
  self->link_to(st.pool);
  return {
      [=](psp_call_atom, psp_request& r) -> caf::result<psp_reply> {
        auto& s = self->state;
        auto now = runtime::unix_now_us();
        s.report.calls += 1;
        auto before = s.breaker.state();
        if (!s.breaker.allow(now)) {
          s.report.short_circuited += 1;
          return psp_reply{psp_outcome::failed, "", "circuit open"};
        }
        observe(self, before);
        auto promise = self->make_response_promise<psp_reply>();
        self->request(s.pool, s.timeout, psp_call_atom::value, std::move(r))
            .then(
                [=](psp_reply& reply) mutable {
                  auto& g = self->state;
                  auto was = g.breaker.state();
                  if (reply.outcome == psp_outcome::failed) {
                    g.report.failures += 1;
                    g.breaker.on_failure(runtime::unix_now_us());
                  } else {
                    g.breaker.on_success(runtime::unix_now_us());
                  }
                  observe(self, was);
                  promise.deliver(std::move(reply));
                },
                [=](caf::error& err) mutable {
                  auto& g = self->state;
                  auto was = g.breaker.state();
                  g.report.failures += 1;
                  g.breaker.on_failure(runtime::unix_now_us());
                  observe(self, was);
                  promise.deliver(psp_reply{psp_outcome::failed, "", self->system().render(err)});
                });
        return promise;
      },
      [=](caf::get_atom, breaker_atom) {
        auto r = self->state.report;
        r.state = to_string(self->state.breaker.state());
        r.lets_calls_through = self->state.breaker.would_allow(runtime::unix_now_us());
        return r;
      },
  };
}

} // namespace

psp_gateway_actor spawn_psp_gateway(caf::actor_system& sys, const config::psp_config& psp,
                                    int32_t failure_threshold, int64_t open_for_ms,
                                    size_t workers) {
  circuit_breaker_policy policy;
  policy.failure_threshold = failure_threshold;
  policy.open_for_ms = open_for_ms;
  return sys.spawn(gateway_impl, psp, policy, workers);
}

} // namespace ordermesh::actors::payment
