// `ordermesh standalone` when one of its entity hosts ends for good: nothing restarts a host with
// the commands it held (their callers wait for it without a timeout), so the process stops, says
// why, and exits non-zero for its supervisor to start a fresh one.
#define BOOST_TEST_MODULE system_lost_host
#include <boost/test/unit_test.hpp>

#include "tests/system/system_processes.hpp"

#include <nlohmann/json.hpp>

using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

BOOST_AUTO_TEST_CASE(standalone_exits_non_zero_with_a_clear_line_when_an_entity_host_ends) {
  pg_test_database db;
  psp_process psp;
  BOOST_TEST_REQUIRE(psp.ready, "the PSP did not start:\n" << psp.process->output_tail());
  // The inventory host throws when it starts its second entity (util::throw_point): it ends, with
  // the first SKU's entity still running (and far from its idle timeout, 30 s by default: the
  // node must not wait for it to passivate).
  standalone_process node{db,
                          psp.port,
                          {"--log.level=info", "--gateway.trusted_proxy=true"},
                          {{"OM_FAIL_POINT", "inventory.host_starts_entity:2"}}};
  BOOST_TEST_REQUIRE(node.wait_ready(60s), "the node did not become ready:\n"
                                               << node.process->output_tail());
  auto c = node.client(3s);
  auto restock = [&](const std::string& sku) {
    try {
      return c
          ->request("POST", "/inventory/" + sku + "/restock", json{{"qty", 5}}.dump(),
                    {{"X-Client-Id", "lost-host"}, {"Idempotency-Key", "stock-" + sku}})
          .status;
    } catch (const http_client_error&) {
      return 0u; // the node went away with the request
    }
  };
  BOOST_TEST(restock("sku-lh-1") == 200u);
  restock("sku-lh-2"); // ends the inventory host

  auto lost_at = std::chrono::steady_clock::now();
  auto ended = node.process->wait_exit(10s);
  BOOST_TEST_MESSAGE("exited after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - lost_at)
                                            .count()
                                     << " ms:\n"
                                     << node.process->output_tail(30));
  BOOST_TEST_REQUIRE(ended.has_value(), "the node did not stop:\n" << node.process->output_tail());
  BOOST_TEST((ended->code == 1), ended->describe());
  const auto out = node.process->output();
  BOOST_TEST(out.find("entity host ended: the node must stop") != std::string::npos, out);
  BOOST_TEST(out.find("\"host\":\"inventory\"") != std::string::npos, out);
  BOOST_TEST(out.find("stopped because an entity host ended") != std::string::npos, out);
  psp.process->terminate(5s);
}
