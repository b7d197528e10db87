#pragma once

#include "tests/support/child_process.hpp"
#include "tests/support/free_port.hpp"

#include <memory>

namespace ordermesh::testing {

/// A redis-server of the test's own on a reserved loopback port, without persistence: stopping
/// it, or cutting its clients' connections, disturbs no other test (ctest runs two at once).
/// Stopped by its destructor.
class own_redis {
public:
  /// Starts it and waits until it accepts connections (the test fails if it does not).
  own_redis();
  ~own_redis();
  own_redis(const own_redis&) = delete;
  own_redis& operator=(const own_redis&) = delete;

  uint16_t port() const { return port_.port(); }
  /// Kills it at once (SIGKILL), like a crash.
  void kill_now();
  /// Starts it again on the same port (after kill_now).
  void restart();

private:
  void start();

  reserved_port port_;
  std::unique_ptr<child_process> server_;
};

} // namespace ordermesh::testing
