#pragma once

// Real `ordermesh psp` and `ordermesh standalone` processes on a test database, for the system
// tests. Each process is a child_process: killed and reaped by PID when its object goes away.

#include "tests/support/child_process.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ordermesh::testing {

/// Polls `fn` every 20 ms until it returns true or `timeout` passes; then one last try.
template <class F>
bool wait_for(F fn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return fn();
}

/// `ordermesh psp` on a port of its own.
struct psp_process {
  explicit psp_process(std::vector<std::string> args = {}) : port(free_tcp_port()) {
    std::vector<std::string> argv{OM_ORDERMESH_BIN, "psp", "--psp.port=" + std::to_string(port),
                                  "--log.level=warn"};
    argv.insert(argv.end(), args.begin(), args.end());
    process = std::make_unique<child_process>(argv);
    http_client probe{"127.0.0.1", port, std::chrono::seconds{2}};
    ready = probe.wait_until_ready("/health", std::chrono::seconds{20});
  }
  /// GET /admin/stats.
  nlohmann::json stats() const {
    http_client c{"127.0.0.1", port, std::chrono::seconds{5}};
    return c.request("GET", "/admin/stats").json();
  }

  uint16_t port;
  std::unique_ptr<child_process> process;
  bool ready = false;
};

/// `ordermesh standalone` (node + gateway) on `db`, speaking to the PSP on `psp_port`.
struct standalone_process {
  standalone_process(const pg_test_database& db, uint16_t psp_port,
                     std::vector<std::string> args = {},
                     std::map<std::string, std::string> env = {})
      : port(free_tcp_port()) {
    std::vector<std::string> argv{OM_ORDERMESH_BIN, "standalone",
                                  "--gateway.port=" + std::to_string(port),
                                  "--psp.port=" + std::to_string(psp_port), "--log.level=warn"};
    argv.insert(argv.end(), args.begin(), args.end());
    env["ORDERMESH_PG_DBNAME"] = db.pg().dbname;
    process = std::make_unique<child_process>(argv, env);
  }
  /// Waits until /health/ready answers 200 (false if the process ended or time ran out).
  bool wait_ready(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    http_client probe{"127.0.0.1", port, std::chrono::seconds{2}};
    while (process->running() && std::chrono::steady_clock::now() < deadline) {
      if (probe.wait_until_ready("/health/ready", std::chrono::milliseconds{500})) {
        return true;
      }
    }
    return false;
  }
  std::unique_ptr<http_client> client(std::chrono::milliseconds timeout = std::chrono::seconds{
                                          10}) const {
    return std::make_unique<http_client>("127.0.0.1", port, timeout);
  }

  uint16_t port;
  std::unique_ptr<child_process> process;
};

} // namespace ordermesh::testing
