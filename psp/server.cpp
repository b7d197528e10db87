#include "psp/server.hpp"

#include <exception>

namespace ordermesh::psp {

namespace {

net::response to_net(reply r) {
  return {r.status, std::move(r.content_type), std::move(r.headers), std::move(r.body)};
}

net::server_options options_of(const config::psp_config& cfg, std::size_t io_threads) {
  net::server_options o;
  o.name = "psp";
  o.host = cfg.host;
  o.port = cfg.port;
  o.io_threads = io_threads;
  o.max_body = 64 * 1024;
  o.read_timeout = std::chrono::seconds{60};  // an idle kept-alive connection is closed then
  o.write_timeout = std::chrono::seconds{10}; // a client not taking its answer is dropped then
  return o; // no connection limit; stop() waits for every answer in flight
}

/// Carries out `in` at once and delivers its answer as the service planned: now, after the
/// injected latency, or never (held for the hang, then closed; stop() closes it at once).
void serve(psp_service& service, net::request&& in, const net::exchange& ex) {
  plan p;
  auto key = in.header("Idempotency-Key");
  try {
    p = service.handle({std::move(in.method), std::move(in.target), key, std::move(in.body)});
  } catch (const std::exception& e) {
    p = plan{problem(500, "internal-error", "Internal Server Error", e.what()), {}, false};
  }
  if (key) {
    // Echoed, so that a client can tell which call an answer belongs to.
    p.answer.headers.emplace_back("Idempotency-Key", std::move(*key));
  }
  if (p.hang) {
    const auto close = [ex] { ex.close(); };
    ex.after(p.delay, close, /*ends_on_stop=*/true);
  } else if (p.delay.count() > 0) {
    ex.after(p.delay, [ex, answer = to_net(std::move(p.answer))] { ex.answer(answer); });
  } else {
    ex.answer(to_net(std::move(p.answer)));
  }
}

net::response refuse(net::refusal why, const std::string& detail) {
  if (why == net::refusal::too_large) {
    return to_net(problem(413, "payload-too-large", "Payload Too Large",
                          "request bodies are limited to 64 KiB"));
  }
  // malformed; never over_capacity: there is no connection limit
  return to_net(
      problem(400, "bad-request", "Bad Request", "the request is not valid HTTP/1.1: " + detail));
}

} // namespace

psp_server::psp_server(config::psp_config cfg, std::size_t io_threads)
    : service_(cfg),
      server_(
          options_of(cfg, io_threads),
          [this](net::request req, net::exchange ex) { serve(service_, std::move(req), ex); },
          refuse) {}

} // namespace ordermesh::psp
