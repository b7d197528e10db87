#include "actors/payment/psp_gateway.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/payment/circuit_breaker.hpp"
#include "actors/runtime/entity.hpp"
#include "observability/log.hpp"
#include "psp/client/client.hpp"

#include <caf/all.hpp>

#include <memory>
#include <unordered_map>

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

psp::psp_call to_call(psp_request r) {
  psp::psp_call c;
  c.idempotency_key = std::move(r.idempotency_key);
  c.amount_cents = r.amount_cents;
  c.card_token = std::move(r.card_token);
  switch (r.operation) {
    case psp_operation::authorize:
      c.operation = psp::psp_operation::authorize;
      break;
    case psp_operation::sale:
      c.operation = psp::psp_operation::sale;
      break;
    case psp_operation::capture:
      c.operation = psp::psp_operation::capture;
      c.authorization = std::move(r.reference);
      break;
    case psp_operation::refund:
      c.operation = psp::psp_operation::refund;
      c.authorization = std::move(r.reference);
      break;
    case psp_operation::void_hold:
      c.operation = psp::psp_operation::void_authorization;
      c.authorization = std::move(r.authorization_key);
      break;
    case psp_operation::reverse:
      c.operation = psp::psp_operation::reverse;
      c.authorization = std::move(r.authorization_key);
      break;
  }
  return c;
}

psp_reply to_reply(const psp::psp_outcome& out) {
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

using answered_atom = caf::atom_constant<caf::atom("pspanswer")>;

struct gateway_state {
  circuit_breaker breaker;
  std::shared_ptr<psp::psp_async_client> client;
  breaker_report report;
  uint64_t next_call = 0;
  /// Calls on their way, by number: answered when the client hands their outcome back.
  std::unordered_map<uint64_t, caf::typed_response_promise<psp_reply>> in_flight;

  gateway_state() = default;
  gateway_state(const gateway_state&) = delete;
  gateway_state& operator=(const gateway_state&) = delete;
  /// The gateway ended (stopped, killed or crashed): its callers send to it directly, not through
  /// its supervisor, so nobody else would answer them. The call may have reached the PSP.
  ~gateway_state() {
    for (auto& [id, promise] : in_flight) {
      promise.deliver(caf::make_error(caf::sec::request_receiver_down,
                                      "the PSP gateway ended with the call in flight"));
    }
  }
};

// Dynamically typed inside (it also takes the client's answers), a psp_gateway_actor outside.
using gateway_pointer = caf::stateful_actor<gateway_state>*;

void observe(gateway_pointer self, breaker_state before) {
  auto after = self->state.breaker.state();
  if (after != before) {
    observability::log_event(
        after == breaker_state::open ? spdlog::level::warn : spdlog::level::info,
        "psp circuit breaker " + to_string(after), {{"from", to_string(before)}});
  }
}

caf::behavior gateway_impl(gateway_pointer self, config::psp_config psp,
                           circuit_breaker_policy policy, size_t connections) {
  auto& st = self->state;
  st.breaker = circuit_breaker{policy};
  st.client = std::make_shared<psp::psp_async_client>(psp, connections);
  // Its thread ends with the gateway; answers still on their way are dropped (the state answers
  // their callers when it goes).
  self->attach_functor([client = st.client] { client->stop(); });
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
        auto id = s.next_call++;
        auto promise = self->make_response_promise<psp_reply>();
        s.in_flight.emplace(id, promise);
        // The client answers on its own thread, within psp.client_timeout: back through the
        // mailbox (weakly held: a pending call does not keep the gateway alive).
        s.client->call(to_call(std::move(r)),
                       [gateway = self->address(), id](psp::psp_outcome out) {
                         if (auto to = caf::actor_cast<caf::actor>(gateway)) {
                           caf::anon_send(to, answered_atom::value, id, to_reply(out));
                         }
                       });
        return promise;
      },
      [=](answered_atom, uint64_t id, psp_reply& reply) {
        auto& g = self->state;
        auto it = g.in_flight.find(id);
        if (it == g.in_flight.end()) {
          return;
        }
        auto promise = std::move(it->second);
        g.in_flight.erase(it);
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
                                    size_t connections) {
  circuit_breaker_policy policy;
  policy.failure_threshold = failure_threshold;
  policy.open_for_ms = open_for_ms;
  return caf::actor_cast<psp_gateway_actor>(sys.spawn(gateway_impl, psp, policy, connections));
}

} // namespace ordermesh::actors::payment
