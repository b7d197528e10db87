#pragma once

#include <cstdint>

namespace ordermesh::testing {

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the kernel
/// chose and closes the socket. Another process may take it before the caller binds it, so use it
/// only for programs that must be told their port up front (prefer port 0 in-process).
/// Throws std::system_error if no socket can be bound.
uint16_t free_tcp_port();

/// A loopback port held for the test: a socket bound to it (SO_REUSEADDR) but not listening, so
/// that connecting to it is refused and nobody else (another test, an outgoing connection) can
/// take it, while a server with SO_REUSEADDR (net::server) can still bind and listen on it.
/// Released when destroyed. Throws std::system_error if no socket can be bound.
class reserved_port {
public:
  reserved_port();
  ~reserved_port();
  reserved_port(const reserved_port&) = delete;
  reserved_port& operator=(const reserved_port&) = delete;

  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

} // namespace ordermesh::testing
