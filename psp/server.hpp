#pragma once

#include "config/config.hpp"
#include "net/server.hpp"
#include "psp/service.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ordermesh::psp {

/// The stand-in payment service provider: HTTP/1.1 + JSON over TCP (Boost.Beast), served by its
/// own io threads, which never block: injected latency and hangs are asio timers. Endpoints and
/// behaviour are those of psp_service (see psp/README.md). Keep-alive is supported; request bodies
/// over 64 KiB are answered 413. Start once, stop once; stop() and the destructor may be called
/// from any thread except the server's own io threads. Connections are net::server's.
class psp_server {
public:
  /// Serves `cfg.host`:`cfg.port` (port 0: an ephemeral port, see port()) with `io_threads`
  /// threads (at least one). Nothing happens before start().
  explicit psp_server(config::psp_config cfg, std::size_t io_threads = 2);
  /// Stops as stop() does.
  ~psp_server() { stop(); }
  psp_server(const psp_server&) = delete;
  psp_server& operator=(const psp_server&) = delete;

  /// Binds, listens and starts the io threads: nullopt, or why not (bad host, port in use, ...).
  std::optional<std::string> start() { return server_.start(); }
  /// The bound port once started (the ephemeral one when configured with 0); 0 before.
  uint16_t port() const { return server_.port(); }
  /// "host:port" of the bound socket once started, "" before.
  std::string address() const { return server_.address(); }

  /// Stops accepting, closes idle keep-alive connections and requests held by timeout_rate,
  /// lets requests in flight (being delayed or written) finish with "Connection: close", then
  /// joins the io threads. Idempotent; does nothing before start().
  void stop() { server_.stop(); }

  /// Counters as served by GET /admin/stats.
  psp_stats stats() const { return service_.stats(); }
  /// The current fault settings.
  fault_settings faults() const { return service_.faults(); }
  /// Replaces the fault settings, as POST /admin/faults does (validated by the caller).
  void set_faults(const fault_settings& faults) { service_.set_faults(faults); }

private:
  // Declared before server_, whose io threads use it until it has stopped.
  psp_service service_;
  net::server server_;
};

} // namespace ordermesh::psp
