#pragma once

#include <cstdint>

namespace ordermesh::testing {

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the kernel
/// chose and closes the socket. Another process may take it before the caller binds it, so use it
/// only for programs that must be told their port up front (prefer port 0 in-process).
/// Throws std::system_error if no socket can be bound.
uint16_t free_tcp_port();

} // namespace ordermesh::testing
