#include "gateway/api_impl.hpp"

#include <algorithm>
#include <cassert>

namespace ordermesh::gateway {

uint32_t gateway_api::impl::lease_size(const config::gateway_config& g) {
  return std::max<uint32_t>(1, std::min(g.rate_limit_burst / 10, g.rate_limit_per_s / 10));
}

bool gateway_api::impl::admit_locally(const std::string& client) {
  if (leases.try_take(client)) {
    local_admissions.inc();
    return true;
  }
  return false;
}

void gateway_api::impl::offload(const responder& answer, const std::string& instance,
                                std::function<void(read_worker&)> work) {
  auto self = shared_from_this();
  if (!pool.try_post([self, work = std::move(work)](read_worker& w) { work(w); })) {
    rejected_busy.inc();
    auto p = problem(503, problem_type::overloaded, "the gateway is saturated; retry later");
    p.instance = instance;
    auto r = make_problem(p);
    r.headers.emplace_back("Retry-After", "1");
    answer(std::move(r));
  }
}

std::variant<std::string, problem_details> gateway_api::impl::identify(const request& req) const {
  return gateway::identify(identity, req);
}

std::string gateway_api::impl::client_of(const request& req) const {
  auto who = identify(req);
  auto* client = std::get_if<std::string>(&who);
  assert(client != nullptr && "routes() answers 401 before a handler runs");
  return client ? *client : "unidentified";
}

bool gateway_api::impl::admit(const std::string& client, const responder& answer,
                              const std::string& instance) {
  const auto lease = leases.lease_size();
  auto d = limiter.acquire(client, lease);
  if (d.allowed) {
    leases.add(client, lease - 1);
    return true;
  }
  if (lease > 1) {
    d = limiter.acquire(client, 1); // less than a lease left: still enough for this request
    if (d.allowed) {
      return true;
    }
  }
  // Concurrent requests of this client may have emptied the Redis bucket into this process's
  // leases meanwhile: those tokens are the client's too.
  if (admit_locally(client)) {
    return true;
  }
  auto p = problem(
      429, problem_type::rate_limited,
      "client " + client + " exceeded " + std::to_string(cfg.gateway.rate_limit_per_s) +
          " requests per second (burst " + std::to_string(cfg.gateway.rate_limit_burst) + ")");
  p.instance = instance;
  auto r = make_problem(p);
  const auto secs = (d.retry_after.count() + 999) / 1000;
  r.headers.emplace_back("Retry-After", std::to_string(secs < 1 ? 1 : secs));
  answer(std::move(r));
  return false;
}

} // namespace ordermesh::gateway
