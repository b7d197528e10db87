#pragma once

// A running `ordermesh standalone` (node + gateway) and `ordermesh psp` on a fresh database, for
// HTTP tests that talk to the real system over loopback. Both processes are ended by PID when
// the object goes away.

#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test_database.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ordermesh::testing {

/// Polls `fn` every 20 ms until it returns true or `timeout` passes; then one last try.
template <class F>
bool eventually(F fn, std::chrono::milliseconds timeout = std::chrono::seconds{15}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return fn();
}

/// The `ordermesh` program under test: $OM_ORDERMESH_BIN when set (to run these tests against
/// another build), else the one built with the tests.
inline std::string ordermesh_program() {
  const char* other = std::getenv("OM_ORDERMESH_BIN");
  return other != nullptr && *other != '\0' ? other : OM_ORDERMESH_BIN;
}

class standalone_system {
public:
  /// `extra_args`: more --key=value for the standalone process (limits, timeouts);
  /// `psp_args` for the PSP stand-in (latency, faults); `node_env`: more environment for the
  /// standalone process (e.g. OM_FAIL_POINT). Both listen on a port the kernel picks (port 0)
  /// and report it, so that parallel tests never race for a port.
  explicit standalone_system(std::vector<std::string> extra_args = {},
                             std::vector<std::string> psp_args = {"--psp.latency=0ms"},
                             std::map<std::string, std::string> node_env = {}) {
    using namespace std::chrono_literals;
    std::vector<std::string> psp_argv{ordermesh_program(), "psp", "--psp.port=0",
                                      "--log.level=info"};
    psp_argv.insert(psp_argv.end(), psp_args.begin(), psp_args.end());
    psp_ = std::make_unique<child_process>(psp_argv);
    psp_port_ = reported_port(*psp_, R"re("msg":"psp listening".*"port":(\d+))re");
    std::vector<std::string> argv{ordermesh_program(), "standalone", "--gateway.port=0",
                                  "--psp.port=" + std::to_string(psp_port_), "--log.level=warn"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    node_env["ORDERMESH_PG_DBNAME"] = db_.pg().dbname;
    node_ = std::make_unique<child_process>(argv, std::move(node_env));
    gateway_port_ = reported_port(*node_, R"re(serving http://[^ ]*:(\d+))re");
    http_client probe{"127.0.0.1", gateway_port_, 2s};
    BOOST_TEST_REQUIRE(probe.wait_until_ready("/health/ready", 30s),
                       "the standalone system did not become ready:\n"
                           << node_->output_tail());
  }

  ~standalone_system() {
    using namespace std::chrono_literals;
    if (node_) {
      node_->terminate(10s);
    }
    if (psp_) {
      psp_->terminate(5s);
    }
  }

  uint16_t port() const { return gateway_port_; }
  const pg_test_database& db() const { return db_; }
  child_process& node() { return *node_; }

  /// A new client of the gateway (one per thread).
  std::unique_ptr<http_client> client(std::chrono::milliseconds timeout = std::chrono::seconds{
                                          10}) const {
    return std::make_unique<http_client>("127.0.0.1", gateway_port_, timeout);
  }

  /// A name no other test run uses (client ids, SKUs, customers, keys), since Redis is shared.
  static std::string unique(const std::string& prefix) {
    static std::mt19937_64 random{std::random_device{}()};
    return prefix + "-" + std::to_string(random() % 1'000'000'000'000ull);
  }

  /// Events in the journal now.
  long events() const { return std::stol(db_.query_value("SELECT count(*) FROM events")); }

private:
  /// The port `process` says it listens on (the first group of `pattern` in its output).
  static uint16_t reported_port(child_process& process, const std::string& pattern) {
    auto port = process.wait_for_output(pattern, std::chrono::seconds{30});
    BOOST_TEST_REQUIRE(port.has_value(), "no listening port reported:\n" << process.output_tail());
    return static_cast<uint16_t>(std::stoi(*port));
  }

  pg_test_database db_;
  uint16_t gateway_port_ = 0;
  uint16_t psp_port_ = 0;
  std::unique_ptr<child_process> psp_;
  std::unique_ptr<child_process> node_;
};

} // namespace ordermesh::testing
