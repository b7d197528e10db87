#include "gateway/api_impl.hpp"

#include "actors/order/actor.hpp"
#include "observability/log.hpp"

#include <cassert>
#include <chrono>
#include <iterator>
#include <memory>

namespace ordermesh::gateway {

gateway_api::gateway_api(caf::actor_system& sys, actors::runtime::directory_ptr hosts,
                         const config::app_config& cfg, observability::metrics_registry& metrics,
                         std::function<node_health()> health)
    : impl_(std::make_shared<impl>(sys, std::move(hosts), cfg, metrics, std::move(health))) {
  impl_->start_placer();
}

gateway_api::~gateway_api() {
  stop();
}

std::vector<api_route> gateway_api::endpoints() {
  std::vector<api_route> all(std::begin(api_routes), std::end(api_routes));
  all.push_back(liveness_route);
  return all;
}

route_table gateway_api::routes() {
  using member = void (impl::*)(const request&, const responder&);
  const auto member_for = [](api_operation op) -> member {
    switch (op) {
      case api_operation::place_order:
        return &impl::post_order;
      case api_operation::list_orders:
        return &impl::list_orders;
      case api_operation::get_order:
        return &impl::get_order;
      case api_operation::restock:
        return &impl::restock;
      case api_operation::get_inventory:
        return &impl::get_inventory;
      case api_operation::get_readiness:
        return &impl::ready;
      case api_operation::get_metrics:
        return &impl::metrics_page;
      case api_operation::get_openapi_document:
        return &impl::openapi_page;
      case api_operation::get_liveness:
        break; // http_server's own route, not in api_routes
    }
    return nullptr;
  };
  route_table t;
  auto d = impl_;
  for (const auto& route : api_routes) {
    const auto answer_with = member_for(route.operation);
    assert(answer_with != nullptr && "every operation in api_routes has a member answering it");
    auto& histogram = d->latency.with({route.method, route.pattern});
    t.add(
        route.method, route.pattern,
        [d, &route, answer_with, &histogram](const request& req, const responder& answer) {
          // The answer the client gets, whoever gives it (a handler, the server's 504).
          answer.on_answer([&requests = d->requests, &histogram, &route,
                            started = std::chrono::steady_clock::now()](const response& r) {
            histogram.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            requests.with({route.method, route.pattern, std::to_string(r.status)}).inc();
          });
          // A per-client request is identified first: a wrong API key is 401 and goes no further.
          if (route.per_client) {
            auto who = d->identify(req);
            if (auto* p = std::get_if<problem_details>(&who)) {
              p->instance = req.path;
              auto r = make_problem(*p);
              r.headers.emplace_back("WWW-Authenticate", "Bearer");
              return (void)answer(std::move(r));
            }
          }
          ((*d).*answer_with)(req, answer);
        },
        route.consumes);
  }
  return t;
}

void gateway_api::on_projection(const read_models::projection_changes& changes) {
  impl_->on_projection(changes);
}

void gateway_api::on_order_completed(const actors::order::order_completed& done) {
  impl_->watch.finished(done.order_id, {actors::order::to_string(done.status), done.reason});
}

void gateway_api::release_waiters() {
  impl_->watch.release_all();
}

void gateway_api::stop() {
  impl_->invalidation_listener.stop();
  impl_->redis_health.stop();
  impl_->pool.stop();
  release_waiters(); // any that started waiting since
  // Commands still unanswered are dropped with it; their requests end by their own timers.
  caf::anon_send_exit(impl_->placer, caf::exit_reason::user_shutdown);
}

} // namespace ordermesh::gateway
