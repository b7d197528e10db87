#include "gateway/http_server.hpp"

#include "gateway/api_routes.hpp"
#include "observability/log.hpp"

#include <exception>

namespace ordermesh::gateway {

namespace {

net::response to_net(response r) {
  return {r.status, std::move(r.content_type), std::move(r.headers), std::move(r.body)};
}

response problem(unsigned status, std::string detail, std::string instance = {}) {
  return make_problem({status, "about:blank", "", std::move(detail), std::move(instance)});
}

/// Where the responder of one request delivers: that request's exchange.
struct exchange_slot final : detail::answer_slot {
  explicit exchange_slot(net::exchange e) : exchange(std::move(e)) {}
  void deliver(response r) override { exchange.answer(to_net(std::move(r))); }
  void on_due(std::chrono::milliseconds delay, std::function<void()> then) override {
    own_deadline = true;
    exchange.after(delay, std::move(then));
  }
  net::exchange exchange;
  /// The handler armed its own deadline (only read and written on the request's io thread).
  bool own_deadline = false;
};

request to_request(net::request&& in) {
  request req;
  req.method = std::move(in.method);
  req.target = std::move(in.target);
  const auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? std::string{} : req.target.substr(q + 1);
  req.headers = std::move(in.headers);
  req.body = std::move(in.body);
  req.remote_address = std::move(in.remote_address);
  return req;
}

net::server_options options_of(const config::gateway_config& cfg) {
  net::server_options o;
  o.name = "gateway";
  o.host = cfg.host;
  o.port = cfg.port;
  o.io_threads = cfg.io_threads;
  o.max_body = cfg.max_body;
  o.read_timeout = cfg.request_timeout;
  o.write_timeout = cfg.request_timeout;
  o.max_connections = cfg.max_connections;
  o.shutdown_grace = cfg.shutdown_grace;
  return o;
}

} // namespace

http_server::http_server(config::gateway_config cfg, route_table routes)
    : cfg_(std::move(cfg)), routes_(std::move(routes)),
      server_(
          options_of(cfg_),
          [this](net::request req, net::exchange ex) { on_request(std::move(req), ex); },
          [this](net::refusal why, const std::string& detail) { return on_refusal(why, detail); }) {
  routes_.add(liveness_route.method, liveness_route.pattern,
              [](const request&, const responder& answer) {
                answer(make_json(200, R"({"status":"live"})"));
              });
}

// On the connection's io thread. A request its handler has not answered within request_timeout
// is answered 504, and the handler's late answer is then refused.
void http_server::on_request(net::request&& in, const net::exchange& ex) const {
  const auto req = to_request(std::move(in));
  auto slot = std::make_shared<exchange_slot>(ex);
  const responder answer{slot};
  try {
    routes_.dispatch(req, answer);
  } catch (const std::exception& e) {
    observability::log_event(spdlog::level::err, "gateway handler threw",
                             {{"path", req.path}, {"error", e.what()}});
    answer(problem(500, "internal error", req.path));
  }
  // Armed after the handler, and only when it neither answered nor armed a deadline of its own:
  // re-arming cancels the armed wait, one more completion for the io threads per request. An
  // answer from another thread reaches the connection after this (on its strand).
  if (!slot->own_deadline && !slot->answered.load()) {
    ex.after(cfg_.request_timeout,
             [answer] { answer(problem(504, "the request was not answered in time")); });
  }
}

net::response http_server::on_refusal(net::refusal why, const std::string& detail) const {
  if (why == net::refusal::too_large) {
    return to_net(
        problem(413, "request bodies are limited to " + std::to_string(cfg_.max_body) + " bytes"));
  }
  if (why == net::refusal::over_capacity) {
    auto r = problem(503, "too many connections; retry shortly");
    r.headers.emplace_back("Retry-After", "1");
    return to_net(std::move(r));
  }
  return to_net(problem(400, "the request is not valid HTTP/1.1: " + detail));
}

} // namespace ordermesh::gateway
