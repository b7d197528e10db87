#include "gateway/api_impl.hpp"

#include "observability/log.hpp"

#include <chrono>
#include <memory>

namespace ordermesh::gateway {

namespace {

/// A responder that records the answer's status and latency before passing it on.
class metered_slot final : public detail::answer_slot {
public:
  metered_slot(responder inner, observability::counter_family& requests,
               observability::histogram& latency, std::string route, std::string method)
      : inner_(std::move(inner)), requests_(requests), latency_(latency), route_(std::move(route)),
        method_(std::move(method)), started_(std::chrono::steady_clock::now()) {}

  void deliver(response r) override {
    latency_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    requests_.with({method_, route_, std::to_string(r.status)}).inc();
    inner_(std::move(r));
  }

private:
  responder inner_;
  observability::counter_family& requests_;
  observability::histogram& latency_;
  std::string route_;
  std::string method_;
  std::chrono::steady_clock::time_point started_;
};

} // namespace

gateway_api::gateway_api(caf::actor_system& sys, actors::runtime::directory_ptr hosts,
                         const config::app_config& cfg, observability::metrics_registry& metrics,
                         std::function<node_health()> health)
    : impl_(std::make_shared<impl>(sys, std::move(hosts), cfg, metrics, std::move(health))) {}

gateway_api::~gateway_api() {
  stop();
}

std::vector<std::pair<std::string, std::string>> gateway_api::endpoints() {
  return {{"POST", "/orders"},         {"GET", "/orders"},
          {"GET", "/orders/{id}"},     {"POST", "/inventory/{sku}/restock"},
          {"GET", "/inventory/{sku}"}, {"GET", "/health/live"},
          {"GET", "/health/ready"},    {"GET", "/metrics"},
          {"GET", "/openapi.json"}};
}

route_table gateway_api::routes() {
  route_table t;
  auto d = impl_;
  // Requests of the API routes are identified first: a wrong API key is 401 and goes no further.
  auto metered = [d](const char* method, const char* route, auto member) {
    auto& histogram = d->latency.with({method, route});
    return [d, method, route, member, &histogram](const request& req, responder answer) {
      responder wrapped{
          std::make_shared<metered_slot>(answer, d->requests, histogram, route, method)};
      if (member != &impl::ready) {
        auto who = d->identify(req);
        if (auto* p = std::get_if<problem_details>(&who)) {
          p->instance = req.path;
          auto r = make_problem(*p);
          r.headers.emplace_back("WWW-Authenticate", "Bearer");
          return (void)wrapped(std::move(r));
        }
      }
      ((*d).*member)(req, wrapped);
    };
  };
  t.add("POST", "/orders", metered("POST", "/orders", &impl::post_order), body_kind::json);
  t.add("GET", "/orders", metered("GET", "/orders", &impl::list_orders));
  t.add("GET", "/orders/{id}", metered("GET", "/orders/{id}", &impl::get_order));
  t.add("POST", "/inventory/{sku}/restock",
        metered("POST", "/inventory/{sku}/restock", &impl::restock), body_kind::json);
  t.add("GET", "/inventory/{sku}", metered("GET", "/inventory/{sku}", &impl::get_inventory));
  t.add("GET", "/health/ready", metered("GET", "/health/ready", &impl::ready));
  // On the io thread: every figure is kept current by its component (no fan-out, no worker).
  t.add("GET", "/metrics", [d](const request&, const responder& answer) {
    response r;
    r.content_type = std::string{observability::prometheus_content_type};
    r.body = d->metrics.render();
    answer(std::move(r));
  });
  t.add("GET", "/openapi.json",
        [](const request&, responder answer) { answer(make_json(200, openapi_document())); });
  return t;
}

void gateway_api::on_projection(const persistence::projection_changes& changes) {
  impl_->on_projection(changes);
}

void gateway_api::release_waiters() {
  impl_->watch.release_all();
}

void gateway_api::stop() {
  impl_->invalidation_listener.stop();
  impl_->redis_health.stop();
  impl_->pool.stop();
  release_waiters(); // any that started waiting since
}

} // namespace ordermesh::gateway
