// GET /health/ready tells the truth about the node's core components: in-process gateway_api on a
// loopback port, with the node's health given by the test (real PostgreSQL and Redis for the
// gateway's own clients).

#define BOOST_TEST_MODULE gateway_readiness
#include <boost/test/unit_test.hpp>

#include "core/actor_system.hpp"
#include "gateway/api.hpp"
#include "gateway/http_server.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <mutex>

using namespace ordermesh;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(readiness_is_503_while_a_core_component_restarts_and_200_when_it_is_back) {
  testing::pg_test_database db;
  auto cfg = db.config();
  cfg.gateway.port = 0;
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{core::configure(caf_cfg)};
  observability::metrics_registry metrics;
  std::mutex mutex;
  std::vector<std::string> down{"journal"};
  gateway::gateway_api api{sys, std::make_shared<actors::runtime::directory>(), cfg, metrics, [&] {
                             std::lock_guard<std::mutex> lock{mutex};
                             return gateway::node_health{true, true, 0, false, down, {}};
                           }};
  gateway::http_server server{cfg.gateway, api.routes()};
  BOOST_TEST_REQUIRE(!server.start().has_value());
  testing::http_client c{"127.0.0.1", server.port(), 5s};

  auto r = c.request("GET", "/health/ready");
  BOOST_TEST(r.status == 503u, r.body);
  BOOST_TEST(r.json().at("status") == "not_ready");
  BOOST_TEST(r.json().at("checks").at("components").at("journal") == "restarting");
  BOOST_TEST(r.json().at("checks").at("components").at("reader") == "running");

  {
    std::lock_guard<std::mutex> lock{mutex};
    down.clear();
  }
  r = c.request("GET", "/health/ready");
  BOOST_TEST(r.status == 200u, r.body);
  BOOST_TEST(r.json().at("status") == "ready");
  BOOST_TEST(r.json().at("checks").at("components").at("journal") == "running");
  server.stop();
  api.stop();
}
