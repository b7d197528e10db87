#pragma once

#include "config/config.hpp"
#include "gateway/routes.hpp"
#include "net/server.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ordermesh::gateway {

/// The gateway's HTTP/1.1 server (Boost.Beast), served by its own gateway.io_threads threads,
/// which never block. Behaviour:
/// - keep-alive; pipelined requests are read and answered one at a time, so in order;
/// - a request must arrive within request_timeout (else the connection closes) and its handler
///   must answer within request_timeout (else 504 problem);
/// - bodies over max_body: 413, malformed HTTP: 400, both then close that connection only;
/// - a connection beyond max_connections is answered 503 problem with Retry-After: 1, then closed;
/// - GET /health/live answers 200 {"status":"live"}, whatever the routes;
/// - each request's remote_address is the peer's IP address.
/// Connections are net::server's (net/server.hpp); this class adds routes, responder and answers.
/// Start once, stop once; stop() and the destructor may be called from any thread except the
/// server's own io threads.
class http_server {
public:
  /// Serves `cfg.host`:`cfg.port` (port 0: an ephemeral port, see port()) with `routes` plus the
  /// health route. Nothing happens before start().
  http_server(config::gateway_config cfg, route_table routes);
  /// Stops as stop() does.
  ~http_server() { stop(); }
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds, listens and starts the io threads. Returns nullopt on success, otherwise why the
  /// server could not listen (bad host, port in use, already started).
  std::optional<std::string> start() { return server_.start(); }

  /// The bound port once started (the ephemeral one when configured with 0); 0 before.
  uint16_t port() const { return server_.port(); }

  /// Stops accepting (new connections are refused), closes idle connections, lets requests in
  /// flight be answered (with Connection: close) for up to shutdown_grace, then closes what is
  /// left and joins the io threads. Idempotent; does nothing before start().
  void stop() { server_.stop(); }

private:
  void on_request(net::request&& in, const net::exchange& ex) const;
  net::response on_refusal(net::refusal why, const std::string& detail) const;

  // Declared before server_, whose io threads use them until it has stopped.
  const config::gateway_config cfg_;
  route_table routes_;
  net::server server_;
};

} // namespace ordermesh::gateway
