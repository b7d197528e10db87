// Outages of the servers under a running system:
// - Redis is an accelerator, never the source of truth: with Redis stopped mid-test the system
//   still takes orders, serves reads from PostgreSQL, keeps idempotency (the journal) and rate
//   limits (per process), reports the degradation on /health/ready, and recovers when it returns.
// - PostgreSQL is the truth: without it the system is not ready and takes no order, and it serves
//   again on its own once PostgreSQL is back.
// Stops the shared test servers, so CTest runs it alone (RUN_SERIAL).

#define BOOST_TEST_MODULE gateway_outage
#include <boost/test/unit_test.hpp>

#include "tests/gateway/standalone_system.hpp"

#include <nlohmann/json.hpp>

#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Stops a server now ("redis" or "pg") and starts it again at the latest when the test case ends.
struct outage {
  explicit outage(std::string server) : server(std::move(server)) {
    run_services(this->server + "-stop");
  }
  void end() {
    if (!ended) {
      ended = true;
      run_services(server + "-start");
    }
  }
  ~outage() { end(); }
  std::string server;
  bool ended = false;
};

double metric(http_client& c, const std::string& sample) {
  auto body = c.request("GET", "/metrics").body;
  auto at = body.find("\n" + sample + " "); // a sample line, not its # HELP
  return at == std::string::npos ? -1 : std::stod(body.substr(at + sample.size() + 2));
}

std::string order(const std::string& sku, int qty) {
  return json{{"customer_id", "cust-outage"},
              {"lines", {{{"sku", sku}, {"qty", qty}}}},
              {"payment", {{"card_token", "tok_visa"}, {"amount_cents", 990}}}}
      .dump();
}

/// One client of a running system with a SKU of 10 units, placing orders that wait for their end.
struct shopper {
  shopper(standalone_system& system, const std::string& name)
      : c(system.client()),
        client(standalone_system::unique(name)), as_client{{"X-Client-Id", client}},
        sku(standalone_system::unique("sku")) {
    BOOST_TEST_REQUIRE(
        c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":10})", as_client).status ==
        200u);
  }
  http_response place(const std::string& key, int qty = 1) {
    auto h = as_client;
    h.emplace_back("Idempotency-Key", key);
    return c->request("POST", "/orders?wait=10000", order(sku, qty), h);
  }
  std::unique_ptr<http_client> c;
  std::string client;
  header_list as_client;
  std::string sku;
};

} // namespace

BOOST_AUTO_TEST_CASE(with_redis_down_orders_are_taken_and_reads_served_then_all_recovers) {
  standalone_system system{{"--gateway.rate_limit_per_s=1000", "--gateway.rate_limit_burst=1000",
                            "--gateway.trusted_proxy=true"}};
  shopper shop{system, "outage"};
  auto& c = shop.c;
  const auto& as_client = shop.as_client;
  const auto& sku = shop.sku;
  auto post = [&](const std::string& key, int qty) { return shop.place(key, qty); };
  auto before = post("before", 1);
  BOOST_TEST_REQUIRE(before.status == 201u, before.body);
  const auto before_id = before.json().at("order_id").get<std::string>();
  BOOST_TEST_REQUIRE(eventually([&] {
    auto g = c->request("GET", "/orders/" + before_id, "", as_client);
    return g.status == 200u && g.json().at("status") == "confirmed";
  }));

  outage redis{"redis"};

  // Still ready, but saying what is degraded (once the gateway's Redis watch has pinged again).
  http_response ready;
  BOOST_TEST(eventually([&] {
    ready = c->request("GET", "/health/ready");
    return ready.json().at("checks").at("redis") == "down";
  }));
  BOOST_TEST(ready.status == 200u, ready.body);
  BOOST_TEST(!ready.json().at("degraded").empty());

  // Orders are still accepted and finish.
  auto during = post("during", 2);
  BOOST_TEST_REQUIRE(during.status == 201u, during.body);
  const auto during_id = during.json().at("order_id").get<std::string>();

  // Reads come from PostgreSQL: the order placed before and the one placed during the outage.
  BOOST_TEST(c->request("GET", "/orders/" + before_id, "", as_client).status == 200u);
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/orders/" + during_id, "", as_client);
    return g.status == 200u && g.json().at("status") == "confirmed";
  }));
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku, "", as_client);
    return g.status == 200u && g.json().at("on_hand") == 7;
  }));

  // Idempotency rests on the journal: the same key is the same order, another body is refused.
  auto replay = post("during", 2);
  BOOST_TEST(replay.status == 201u, replay.body);
  BOOST_TEST(replay.json().at("order_id") == during_id);
  BOOST_TEST(post("during", 3).status == 422u);
  BOOST_TEST(system.db().query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" +
                                     during_id + "' AND event_type = 'order.placed.v1'") == "1");

  // Rate limits went on, decided locally.
  BOOST_TEST(metric(*c, "ordermesh_rate_limit_decisions_total{decision=\"degraded\"}") > 0);

  redis.end();

  // Everything recovers: ready without degradation, reads cached again.
  BOOST_TEST(eventually([&] {
    auto r = c->request("GET", "/health/ready");
    return r.status == 200u && r.json().at("checks").at("redis") == "up" &&
           r.json().at("degraded").empty();
  }));
  const auto hits = metric(*c, "ordermesh_cache_operations_total{outcome=\"hit\"}");
  BOOST_TEST(eventually([&] {
    (void)c->request("GET", "/orders/" + during_id, "", as_client);
    return metric(*c, "ordermesh_cache_operations_total{outcome=\"hit\"}") > hits;
  }));
  auto after = post("after", 1);
  BOOST_TEST(after.status == 201u, after.body);
}

BOOST_AUTO_TEST_CASE(without_postgresql_the_system_is_not_ready_and_serves_again_when_it_returns) {
  standalone_system system{{"--gateway.trusted_proxy=true"}};
  shopper shop{system, "pg-outage"};
  auto& c = shop.c;
  auto post = [&](const std::string& key) { return shop.place(key); };
  BOOST_TEST_REQUIRE(eventually([&] { return post("warm").status == 201u; }));

  {
    outage pg{"pg"};
    BOOST_TEST(eventually([&] {
      auto r = c->request("GET", "/health/ready");
      return r.status == 503u && r.json().at("checks").at("postgres") == "down";
    }));
    // No order is acknowledged without the journal: it is refused (503 + Retry-After) or, if
    // the command outlives its deadline, 504; never 2xx.
    auto refused = post("during");
    BOOST_TEST_MESSAGE("POST /orders without PostgreSQL: " << refused.status << " "
                                                           << refused.body);
    BOOST_TEST((refused.status == 503u || refused.status == 504u),
               refused.status << " " << refused.body);
    BOOST_TEST(refused.header("Content-Type").value_or("") == "application/problem+json");
    // Liveness is not readiness: the process still answers.
    BOOST_TEST(c->request("GET", "/health/live").status == 200u);
  }

  BOOST_TEST(eventually([&] { return c->request("GET", "/health/ready").status == 200u; },
                        std::chrono::seconds{30}));
  // The refused order can be retried with the same key, and new orders go through.
  BOOST_TEST(eventually([&] { return post("during").status == 201u; }, std::chrono::seconds{30}));
  BOOST_TEST(post("after").status == 201u);
}

BOOST_AUTO_TEST_CASE(without_postgresql_a_retry_of_an_answered_order_is_replayed_from_its_record) {
  const auto client = standalone_system::unique("replay");
  const header_list as_client{{"X-Client-Id", client}};
  const header_list same_request{{"X-Client-Id", client}, {"Idempotency-Key", "answered"}};
  std::string body;
  http_response first;
  {
    standalone_system node{{"--gateway.trusted_proxy=true"}};
    auto c = node.client();
    const auto sku = standalone_system::unique("sku");
    BOOST_TEST_REQUIRE(
        c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":10})", as_client).status ==
        200u);
    body = order(sku, 1);
    first = c->request("POST", "/orders?wait=10000", body, same_request);
    BOOST_TEST_REQUIRE(first.status == 201u, first.body);
    BOOST_TEST_REQUIRE(eventually([&] {
      return metric(*c, R"(ordermesh_idempotency_store_calls_total{call="remember"})") == 1.0;
    }));
  }
  // Another node on the same Redis, whose order entity for this key is not in memory (as after a
  // restart or a passivation; its journal is another database, which does not matter here):
  // without PostgreSQL the retry's command cannot be decided, and the record still answers it.
  standalone_system other{{"--gateway.trusted_proxy=true"}};
  auto c = other.client();
  outage pg{"pg"};
  const auto again = c->request("POST", "/orders?wait=10000", body, same_request);
  BOOST_TEST(again.status == 201u, again.body);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(again.header("Idempotent-Replayed").value_or("") == "true");
}
