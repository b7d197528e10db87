// The HTTP API against the running standalone system (real PostgreSQL, Redis and PSP stand-in),
// through a real HTTP client: every route, every error case, idempotency, pagination, stampede.

#define BOOST_TEST_MODULE gateway_api
#include <boost/test/unit_test.hpp>

#include "cache/redis_client.hpp"
#include "gateway/api.hpp"
#include "gateway/client_identity.hpp"
#include "psp/client/card_tokens.hpp"
#include "tests/gateway/standalone_system.hpp"
#include "tests/support/order_sql.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <set>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Each case gets its own system on a fresh database, so that no case depends on what another
/// did before it (journal counts, metrics, cached rows). Behind a "trusted proxy" so that the cases
/// can be their own clients with X-Client-Id. Rate limit: 100 per second, burst 100, so that the
/// rate-limit case can exceed it.
struct fresh_system {
  standalone_system system{{"--gateway.rate_limit_per_s=100", "--gateway.rate_limit_burst=100",
                            "--gateway.trusted_proxy=true"}};
  standalone_system& sys() { return system; }
};

json order_body(const std::string& customer, const std::vector<std::pair<std::string, int>>& lines,
                const std::string& card = "tok_visa", int64_t amount = 1250) {
  json l = json::array();
  for (const auto& [sku, qty] : lines) {
    l.push_back({{"sku", sku}, {"qty", qty}});
  }
  return {{"customer_id", customer},
          {"lines", l},
          {"payment", {{"card_token", card}, {"amount_cents", amount}}}};
}

http_response post_order(http_client& c, const std::string& client_id, const std::string& key,
                         const std::string& body, const std::string& query = "") {
  header_list h{{"X-Client-Id", client_id}};
  if (!key.empty()) {
    h.emplace_back("Idempotency-Key", key);
  }
  return c.request("POST", "/orders" + query, body, h);
}

http_response restock(http_client& c, const std::string& client_id, const std::string& sku,
                      int qty) {
  return c.request("POST", "/inventory/" + sku + "/restock", json{{"qty", qty}}.dump(),
                   {{"X-Client-Id", client_id}});
}

/// Checks that `r` is a problem document with this status (and type, when given).
void check_problem(const http_response& r, unsigned status, const std::string& type = "") {
  BOOST_TEST(r.status == status, "status " << r.status << " body " << r.body);
  BOOST_TEST(r.header("Content-Type").value_or("") == "application/problem+json");
  auto doc = r.json();
  BOOST_TEST(doc.at("status").get<unsigned>() == status);
  BOOST_TEST(!doc.at("title").get<std::string>().empty());
  BOOST_TEST(doc.contains("detail"));
  if (!type.empty()) {
    BOOST_TEST(doc.at("type").get<std::string>() == type, r.body);
  }
}

std::string restocked_sku(http_client& c, const std::string& client_id, int qty) {
  auto sku = standalone_system::unique("sku");
  auto r = restock(c, client_id, sku, qty);
  BOOST_TEST_REQUIRE(r.status == 200u, r.body);
  return sku;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(health_openapi_and_metrics_answer, fresh_system) {
  auto c = sys().client();
  auto live = c->request("GET", "/health/live");
  BOOST_TEST(live.status == 200u);
  auto ready = c->request("GET", "/health/ready");
  BOOST_TEST(ready.status == 200u, ready.body);
  BOOST_TEST(ready.json().at("status") == "ready");
  BOOST_TEST(ready.json().at("checks").at("postgres") == "up");
  BOOST_TEST(ready.json().at("checks").at("redis") == "up");
  auto api = c->request("GET", "/openapi.json");
  BOOST_TEST(api.status == 200u);
  BOOST_TEST(api.json().at("openapi").get<std::string>().substr(0, 2) == "3.");
  auto metrics = c->request("GET", "/metrics");
  BOOST_TEST(metrics.status == 200u);
  BOOST_TEST(metrics.header("Content-Type").value_or("").find("text/plain") == 0u);
  BOOST_TEST(metrics.body.find("ordermesh_http_requests_total{method=\"GET\",route=\"/health/"
                               "ready\",status=\"200\"}") != std::string::npos,
             metrics.body);
  BOOST_TEST(metrics.body.find("ordermesh_projection_lag_events") != std::string::npos);
  // Every endpoint the OpenAPI document lists (gateway_api::endpoints, checked against it by
  // gateway_api_unit_test) is routed: neither 404 nor 405 for a plausible request.
  for (const auto& route : gateway::gateway_api::endpoints()) {
    const std::string method = route.method;
    std::string path = route.pattern;
    for (const auto* param : {"{id}", "{sku}"}) {
      if (auto at = path.find(param); at != std::string::npos) {
        path.replace(at, std::string{param}.size(), "probe");
      }
    }
    auto r = c->request(method, path, method == "POST" ? "{}" : "", {{"X-Client-Id", "probe"}});
    BOOST_TEST((r.status != 405u && (r.status != 404u || path.find("probe") != std::string::npos)),
               method << " " << path << " answered " << r.status);
    if (r.status == 404u) {
      BOOST_TEST(r.json().at("type") == "urn:ordermesh:problem:not-found", r.body);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(restock_then_read_the_inventory, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("inv");
  auto sku = standalone_system::unique("sku");
  auto r = restock(*c, client, sku, 7);
  BOOST_TEST(r.status == 200u, r.body);
  BOOST_TEST(r.json().at("on_hand") == 7);
  r = restock(*c, client, sku, 3);
  BOOST_TEST(r.json().at("on_hand") == 10);
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("on_hand") == 10 && g.json().at("available") == 10;
  }));
  check_problem(c->request("GET", "/inventory/" + standalone_system::unique("nosuch"), "",
                           {{"X-Client-Id", client}}),
                404, "urn:ordermesh:problem:not-found");
  // The same Idempotency-Key restocks once.
  auto keyed = [&] {
    return c->request("POST", "/inventory/" + sku + "/restock", json{{"qty", 5}}.dump(),
                      {{"X-Client-Id", client}, {"Idempotency-Key", "restock-1"}});
  };
  BOOST_TEST(keyed().json().at("on_hand") == 15);
  BOOST_TEST(keyed().json().at("on_hand") == 15);
}

BOOST_FIXTURE_TEST_CASE(an_order_is_accepted_then_readable_and_finishes, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("place");
  auto sku = restocked_sku(*c, client, 10);
  auto r = post_order(*c, client, "k1", order_body("cust-a", {{sku, 2}}).dump());
  BOOST_TEST_REQUIRE(r.status == 202u, r.body);
  auto id = r.json().at("order_id").get<std::string>();
  BOOST_TEST(r.header("Location").value_or("") == "/orders/" + id);
  json order;
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/orders/" + id, "", {{"X-Client-Id", client}});
    if (g.status != 200u) {
      return false;
    }
    order = g.json();
    return order.at("status") == "confirmed";
  }));
  BOOST_TEST(order.at("customer_id") == "cust-a");
  BOOST_TEST(order.at("lines").size() == 1u);
  BOOST_TEST(order.at("lines")[0].at("sku") == sku);
  BOOST_TEST(order.at("lines")[0].at("qty") == 2);
  BOOST_TEST(order.at("amount_cents") == 1250);
  check_problem(c->request("GET", "/orders/o0000", "", {{"X-Client-Id", client}}), 404);
}

// The order tells the node when it ended and the waiting request is answered from that: no
// projection runs here, so nothing could learn the end from the read model (it stays empty).
BOOST_AUTO_TEST_CASE(waiting_is_answered_by_the_orders_end_without_the_projection) {
  standalone_system system{{"--gateway.trusted_proxy=true", "--projection.enabled=false"}};
  auto c = system.client();
  const auto client = standalone_system::unique("push");
  auto sku = restocked_sku(*c, client, 3);
  auto confirmed =
      post_order(*c, client, "p1", order_body("cust-p", {{sku, 2}}).dump(), "?wait=5000");
  BOOST_TEST(confirmed.status == 201u, confirmed.body);
  BOOST_TEST(confirmed.json().at("status") == "confirmed");
  const auto id = confirmed.json().at("order_id").get<std::string>();
  BOOST_TEST(confirmed.header("Location").value_or("") == "/orders/" + id);

  auto out_of_stock =
      post_order(*c, client, "p2", order_body("cust-p", {{sku, 5}}).dump(), "?wait=5000");
  check_problem(out_of_stock, 409, "urn:ordermesh:problem:order-rejected");
  BOOST_TEST(out_of_stock.json().at("order_status") == "rejected");
  BOOST_TEST(out_of_stock.json().at("reason").get<std::string>().find("stock") !=
             std::string::npos);

  auto declined = post_order(
      *c, client, "p3", order_body("cust-p", {{sku, 1}}, "tok_decline_card").dump(), "?wait=5000");
  check_problem(declined, 422, "urn:ordermesh:problem:order-cancelled");
  BOOST_TEST(declined.json().at("order_status") == "cancelled");
  BOOST_TEST(declined.json().at("reason").get<std::string>().find("declined") != std::string::npos);

  // The read model never saw these orders: the answers above did not come from it.
  check_problem(c->request("GET", "/orders/" + id, "", {{"X-Client-Id", client}}), 404);
  BOOST_TEST(system.db().query_value("SELECT count(*) FROM read_orders") == "0");
}

BOOST_FIXTURE_TEST_CASE(waiting_answers_with_the_orders_end, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("wait");
  auto sku = restocked_sku(*c, client, 3);
  auto confirmed =
      post_order(*c, client, "w1", order_body("cust-w", {{sku, 2}}).dump(), "?wait=10000");
  BOOST_TEST(confirmed.status == 201u, confirmed.body);
  BOOST_TEST(confirmed.json().at("status") == "confirmed");

  auto out_of_stock =
      post_order(*c, client, "w2", order_body("cust-w", {{sku, 5}}).dump(), "?wait=10000");
  check_problem(out_of_stock, 409, "urn:ordermesh:problem:order-rejected");
  BOOST_TEST(out_of_stock.json().at("order_status") == "rejected");
  BOOST_TEST(out_of_stock.json().at("reason").get<std::string>().find("stock") !=
             std::string::npos);
  BOOST_TEST(out_of_stock.header("Location").has_value());

  auto declined = post_order(
      *c, client, "w3", order_body("cust-w", {{sku, 1}}, "tok_decline_card").dump(), "?wait=10000");
  check_problem(declined, 422, "urn:ordermesh:problem:order-cancelled");
  BOOST_TEST(declined.json().at("order_status") == "cancelled");
  BOOST_TEST(declined.json().at("reason").get<std::string>().find("declined") != std::string::npos);

  // The declined order released its unit: 3 - 2 confirmed = 1 left.
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("available") == 1 && g.json().at("on_hand") == 1;
  }));
}

BOOST_FIXTURE_TEST_CASE(a_wait_shorter_than_the_placement_answers_202_once_the_order_accepted,
                        fresh_system) {
  // A 1 ms wait runs out before the order has even accepted the command: the answer is then
  // 202 with the accepted order, never before it is durable, and the order is placed once.
  auto c = sys().client();
  const auto client = standalone_system::unique("shortwait");
  auto sku = restocked_sku(*c, client, 5);
  auto r = post_order(*c, client, "sw1", order_body("cust-sw", {{sku, 1}}).dump(), "?wait=1");
  BOOST_TEST_REQUIRE(r.status == 202u, r.body);
  const auto id = r.json().at("order_id").get<std::string>();
  BOOST_TEST(r.header("Location").value_or("") == "/orders/" + id);
  BOOST_TEST(r.json().at("status") != "");
  BOOST_TEST(sys().db().query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" + id +
                                    "' AND event_type = 'order.placed.v1'") == "1");
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/orders/" + id, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("status") == "confirmed";
  }));
}

BOOST_FIXTURE_TEST_CASE(an_order_with_an_unknown_sku_is_rejected_by_the_inventory_not_the_gateway,
                        fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("unknown");
  auto sku = restocked_sku(*c, client, 5);
  const auto unknown = "no-such-sku-" + client;

  // Within the wait: the order ends rejected for the SKU the inventory never stocked, told as
  // unknown-sku (422) with the SKU named.
  auto waited = post_order(*c, client, "u1", order_body("cust-u", {{sku, 2}, {unknown, 1}}).dump(),
                           "?wait=10000");
  check_problem(waited, 422, "urn:ordermesh:problem:unknown-sku");
  BOOST_TEST(waited.json().at("unknown_skus") == json::array({unknown}), waited.body);
  BOOST_TEST(waited.json().at("order_status") == "rejected");
  BOOST_TEST(waited.header("Location").has_value());

  // Without waiting: accepted like any order; it ends rejected with the inventory's reason.
  auto accepted = post_order(*c, client, "u2", order_body("cust-u", {{unknown, 1}}).dump());
  BOOST_TEST_REQUIRE(accepted.status == 202u, accepted.body);
  const auto id = accepted.json().at("order_id").get<std::string>();
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/orders/" + id, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("status") == "rejected" &&
           g.json().at("reason") == "unknown_sku: " + unknown;
  }));

  // The known line's units came back, and the unknown SKU got no stream.
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("available") == 5;
  }));
  BOOST_TEST(sys().db().query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/" +
                                    unknown + "'") == "0");
}

BOOST_FIXTURE_TEST_CASE(an_idempotency_key_replays_the_first_answer_and_refuses_another_body,
                        fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("idem");
  auto sku = restocked_sku(*c, client, 100);
  const auto body = order_body("cust-i", {{sku, 1}}).dump();
  const auto before = sys().events();
  auto first = post_order(*c, client, "same-key", body);
  BOOST_TEST_REQUIRE(first.status == 202u, first.body);
  // The record is written just after the answer (off its path): a retry once it exists replays.
  auto cfg = config_from_environment();
  cache::redis_client redis{cfg.redis};
  BOOST_TEST_REQUIRE(eventually([&] {
    auto k = redis.command({"KEYS", "om:idem:*" + client + "*"});
    return k && !k->elements.empty();
  }));
  auto again = post_order(*c, client, "same-key", body);
  BOOST_TEST(again.status == 202u);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(again.header("Location").value_or("-") == first.header("Location").value_or(""));
  BOOST_TEST(again.header("Idempotent-Replayed").value_or("") == "true");
  // Spelled differently, the same order is still the same order.
  auto respelled = post_order(*c, client, "same-key", json::parse(body).dump(2));
  BOOST_TEST(respelled.status == 202u);
  check_problem(post_order(*c, client, "same-key", order_body("cust-i", {{sku, 2}}).dump()), 422,
                "urn:ordermesh:problem:idempotency-key-reused");

  // Redis forgets the key (flushed, evicted or down): the journal still knows the order.
  auto keys = redis.command({"KEYS", "om:idem:*" + client + "*"});
  BOOST_TEST_REQUIRE(static_cast<bool>(keys));
  for (const auto& k : keys->elements) {
    BOOST_TEST(static_cast<bool>(redis.del({k.str})));
  }
  auto after_flush = post_order(*c, client, "same-key", body);
  BOOST_TEST(after_flush.status == 202u, after_flush.body);
  BOOST_TEST(after_flush.json().at("order_id") == first.json().at("order_id"));
  BOOST_TEST(!after_flush.header("Idempotent-Replayed").has_value());
  auto again_keys = redis.command({"KEYS", "om:idem:*" + client + "*"});
  BOOST_TEST_REQUIRE(static_cast<bool>(again_keys));
  for (const auto& k : again_keys->elements) {
    (void)redis.del({k.str});
  }
  check_problem(post_order(*c, client, "same-key", order_body("cust-i", {{sku, 3}}).dump()), 422,
                "urn:ordermesh:problem:idempotency-key-reused");

  // One order, placed once: its stream starts with exactly one order.placed.
  auto id = first.json().at("order_id").get<std::string>();
  BOOST_TEST(sys().db().query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" + id +
                                    "' AND event_type = 'order.placed.v1'") == "1");
  // Other clients using the same key get their own order.
  auto other = post_order(*c, client + "-2", "same-key", body);
  BOOST_TEST(other.status == 202u);
  BOOST_TEST(other.json().at("order_id") != first.json().at("order_id"));
  BOOST_TEST(sys().events() > before);
}

/// The value of the sample line `sample` (e.g. `name{label="x"}`) on /metrics; 0 if absent.
double metric_value(http_client& c, const std::string& sample) {
  const auto body = c.request("GET", "/metrics").body;
  const auto at = body.find("\n" + sample + " "); // a sample line, not its # HELP
  return at == std::string::npos ? 0.0 : std::stod(body.substr(at + sample.size() + 2));
}

const std::string idempotency_lookups = R"(ordermesh_idempotency_store_calls_total{call="lookup"})";
const std::string idempotency_records =
    R"(ordermesh_idempotency_store_calls_total{call="remember"})";

BOOST_FIXTURE_TEST_CASE(the_first_post_of_a_key_does_not_read_the_idempotency_store, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("first");
  auto sku = restocked_sku(*c, client, 100);
  const auto body = order_body("cust-f", {{sku, 1}}).dump();
  for (const auto* key : {"first-1", "first-2"}) {
    BOOST_TEST_REQUIRE(post_order(*c, client, key, body).status == 202u);
  }
  const auto waited = post_order(*c, client, "first-3", body, "?wait=10000");
  BOOST_TEST_REQUIRE(waited.status == 201u, waited.body);
  // Every first answer is recorded (after it was sent), and none was looked up first.
  BOOST_TEST_REQUIRE(eventually([&] { return metric_value(*c, idempotency_records) == 3.0; }));
  BOOST_TEST(metric_value(*c, idempotency_lookups) == 0.0);
  // A retry is the order's repeat: the record is read then, and the first answer replayed.
  const auto again = post_order(*c, client, "first-3", body, "?wait=10000");
  BOOST_TEST(again.status == 201u, again.body);
  BOOST_TEST(again.body == waited.body);
  BOOST_TEST(again.header("Idempotent-Replayed").value_or("") == "true");
  BOOST_TEST(metric_value(*c, idempotency_lookups) == 1.0);
}

BOOST_FIXTURE_TEST_CASE(a_retry_after_the_store_lost_its_record_gets_the_same_order_placed_once,
                        fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("lost");
  auto sku = restocked_sku(*c, client, 100);
  const auto body = order_body("cust-l", {{sku, 2}}).dump();
  const auto first = post_order(*c, client, "lost-key", body, "?wait=10000");
  BOOST_TEST_REQUIRE(first.status == 201u, first.body);
  // The record written just after the answer, then lost (Redis flushed, evicted or restarted).
  BOOST_TEST_REQUIRE(eventually([&] { return metric_value(*c, idempotency_records) == 1.0; }));
  auto cfg = config_from_environment();
  cache::redis_client redis{cfg.redis};
  auto keys = redis.command({"KEYS", "om:idem:*" + client + "*"});
  BOOST_TEST_REQUIRE(static_cast<bool>(keys));
  BOOST_TEST_REQUIRE(keys->elements.size() == 1u);
  BOOST_TEST_REQUIRE(static_cast<bool>(redis.del({keys->elements[0].str})));
  // The order answers the retry: the same order, ended as before, neither placed nor paid twice.
  const auto again = post_order(*c, client, "lost-key", body, "?wait=10000");
  BOOST_TEST(again.status == 201u, again.body);
  BOOST_TEST(again.json() == first.json());
  BOOST_TEST(!again.header("Idempotent-Replayed").has_value());
  const auto id = first.json().at("order_id").get<std::string>();
  BOOST_TEST(sys().db().query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" + id +
                                    "' AND event_type = 'order.placed.v1'") == "1");
  BOOST_TEST(sys().db().query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'order/%' "
                                    "AND event_type = 'order.placed.v1'") == "1");
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("on_hand") == 98 && g.json().at("available") == 98;
  }));
  // The retry's answer is recorded in turn: the next one is a replay again.
  BOOST_TEST_REQUIRE(eventually([&] { return metric_value(*c, idempotency_records) == 2.0; }));
  const auto third = post_order(*c, client, "lost-key", body, "?wait=10000");
  BOOST_TEST(third.status == 201u, third.body);
  BOOST_TEST(third.header("Idempotent-Replayed").value_or("") == "true");
}

BOOST_FIXTURE_TEST_CASE(bad_input_is_refused_with_a_problem_and_never_reaches_the_journal,
                        fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("bad");
  auto sku = restocked_sku(*c, client, 10);
  BOOST_TEST_REQUIRE(eventually([&] {
    return c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", client}}).status == 200u;
  }));
  const auto before = sys().events();
  const auto valid = order_body("cust-b", {{sku, 1}});
  int n = 0;
  auto post = [&](const std::string& body) {
    return post_order(*c, client, "bad-" + std::to_string(++n), body);
  };
  auto invalid = [&](json body, const std::string& pointer) {
    auto r = post(body.dump());
    check_problem(r, 422, "urn:ordermesh:problem:invalid-request");
    bool named = false;
    const auto doc = r.json();
    for (const auto& e : doc.at("errors")) {
      named = named || e.at("pointer") == pointer;
    }
    BOOST_TEST(named, "expected an error at " << pointer << ": " << r.body);
  };

  check_problem(post("{\"customer_id\": "), 400, "urn:ordermesh:problem:malformed-json");
  check_problem(post("[1,2]"), 400, "urn:ordermesh:problem:malformed-json");
  invalid(json::object(), "/customer_id");
  auto v = valid;
  v.erase("lines");
  invalid(v, "/lines");
  v = valid;
  v["lines"][0]["qty"] = "2";
  invalid(v, "/lines/0/qty");
  v = valid;
  v["customer_id"] = 42;
  invalid(v, "/customer_id");
  v = valid;
  v["lines"][0]["qty"] = 0;
  invalid(v, "/lines/0/qty");
  v = valid;
  v["lines"][0]["qty"] = -3;
  invalid(v, "/lines/0/qty");
  v = valid;
  v["lines"][0]["qty"] = 1e12;
  invalid(v, "/lines/0/qty");
  v = valid;
  v["lines"][0]["qty"] = 18446744073709551615ull;
  invalid(v, "/lines/0/qty");
  v = valid;
  v["lines"] = json::array();
  invalid(v, "/lines");
  v = valid;
  for (int i = 0; i < 51; ++i) {
    v["lines"][i] = {{"sku", "s" + std::to_string(i)}, {"qty", 1}};
  }
  invalid(v, "/lines");
  v = valid;
  v["lines"][1] = valid["lines"][0];
  invalid(v, "/lines/1/sku");
  v = valid;
  v["payment"]["amount_cents"] = 0;
  invalid(v, "/payment/amount_cents");
  v = valid;
  v.erase("payment");
  invalid(v, "/payment");
  v = valid;
  v["surprise"] = true;
  invalid(v, "/surprise");

  check_problem(post_order(*c, client, "", valid.dump()), 400,
                "urn:ordermesh:problem:idempotency-key");
  check_problem(post_order(*c, client, std::string(129, 'k'), valid.dump()), 400,
                "urn:ordermesh:problem:idempotency-key");
  check_problem(post_order(*c, client, "bad-wait", valid.dump(), "?wait=soon"), 400);
  check_problem(post_order(*c, client, "bad-wait", valid.dump(), "?wait=99999999"), 400);
  check_problem(c->request("POST", "/orders", "customer_id=x",
                           {{"Content-Type", "application/x-www-form-urlencoded"},
                            {"Idempotency-Key", "form"},
                            {"X-Client-Id", client}}),
                415);
  check_problem(post(std::string(70000, ' ')), 413);
  c->close(); // the server closed that connection after the 413
  check_problem(c->request("GET", "/no/such/route"), 404);
  auto wrong_method = c->request("DELETE", "/orders");
  check_problem(wrong_method, 405);
  BOOST_TEST(wrong_method.header("Allow").value_or("") == "GET, POST");
  check_problem(c->request("POST", "/inventory/" + sku + "/restock", "{\"qty\":0}",
                           {{"X-Client-Id", client}}),
                422);
  check_problem(c->request("POST", "/inventory/" + sku + "/restock", "{\"qty\":1000001}",
                           {{"X-Client-Id", client}}),
                422);
  check_problem(
      c->request("POST", "/inventory/" + sku + "/restock", "{oops", {{"X-Client-Id", client}}),
      400);
  check_problem(c->request("GET", "/orders", "", {{"X-Client-Id", client}}), 400);
  check_problem(c->request("GET", "/orders?customer=x&limit=0", "", {{"X-Client-Id", client}}),
                400);
  check_problem(c->request("GET", "/orders?customer=x&limit=101", "", {{"X-Client-Id", client}}),
                400);
  check_problem(c->request("GET", "/orders?customer=x&cursor=bogus", "", {{"X-Client-Id", client}}),
                400);
  check_problem(c->request("GET", "/orders?customer=%zz", "", {{"X-Client-Id", client}}), 400);

  // Nothing of it reached the journal, and the server still serves.
  BOOST_TEST(sys().events() == before);
  BOOST_TEST(c->request("GET", "/health/live").status == 200u);
}

BOOST_FIXTURE_TEST_CASE(a_customers_orders_page_by_keyset_without_gaps_or_repeats, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("page");
  const auto customer = standalone_system::unique("cust-p");
  auto sku = restocked_sku(*c, client, 100);
  std::set<std::string> placed;
  for (int i = 0; i < 25; ++i) {
    auto r =
        post_order(*c, client, "p" + std::to_string(i), order_body(customer, {{sku, 1}}).dump());
    BOOST_TEST_REQUIRE(r.status == 202u, r.body);
    placed.insert(r.json().at("order_id").get<std::string>());
  }
  BOOST_TEST_REQUIRE(eventually([&] {
    auto r = c->request("GET", "/orders?customer=" + customer + "&limit=100", "",
                        {{"X-Client-Id", client}});
    return r.status == 200u && r.json().at("orders").size() == 25u;
  }));
  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  std::string target = "/orders?customer=" + customer + "&limit=10";
  std::string last_placed_at = "~"; // after every digit
  while (!target.empty()) {
    auto r = c->request("GET", target, "", {{"X-Client-Id", client}});
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    auto doc = r.json();
    page_sizes.push_back(doc.at("orders").size());
    for (const auto& o : doc.at("orders")) {
      seen.push_back(o.at("order_id").get<std::string>());
      const auto placed_at = o.at("placed_at").get<std::string>();
      const bool newest_first = placed_at.compare(last_placed_at) <= 0;
      BOOST_TEST(newest_first, placed_at << " listed after " << last_placed_at);
      last_placed_at = placed_at;
    }
    target = doc.at("next").is_null() ? "" : doc.at("next").get<std::string>();
    BOOST_TEST_REQUIRE(page_sizes.size() < 10u);
  }
  BOOST_TEST(page_sizes == (std::vector<size_t>{10, 10, 5}), "pages");
  BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()) == placed);
  BOOST_TEST(seen.size() == placed.size());
}

BOOST_FIXTURE_TEST_CASE(a_client_over_its_rate_is_answered_429_with_retry_after, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("rl");
  int limited = 0;
  std::optional<http_response> refusal;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    auto r = c->request("GET", "/inventory/whatever", "", {{"X-Client-Id", client}});
    if (r.status == 429u) {
      ++limited;
      refusal = r;
    }
  }
  // At most the burst (100) plus what refilled meanwhile (100 per second) plus one lease (10)
  // passed, however long the loop took on this machine.
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int most_allowed = 100 + static_cast<int>(100 * seconds) + 1 + 10;
  BOOST_TEST(200 - limited <= most_allowed, limited << " of 200 limited in " << seconds << " s");
  if (most_allowed >= 200) {
    BOOST_TEST_MESSAGE("the loop took " << seconds << " s: too slow to require a refusal");
    return;
  }
  BOOST_TEST_REQUIRE(refusal.has_value());
  check_problem(*refusal, 429, "urn:ordermesh:problem:rate-limited");
  BOOST_TEST(std::stoi(refusal->header("Retry-After").value_or("0")) >= 1);
  // Other clients are not affected.
  BOOST_TEST(
      c->request("GET", "/inventory/whatever", "", {{"X-Client-Id", client + "-other"}}).status ==
      404u);
}

BOOST_FIXTURE_TEST_CASE(a_stampede_on_one_cold_key_reads_the_database_a_few_times, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("stampede");
  auto sku = restocked_sku(*c, client, 10);
  auto placed =
      post_order(*c, client, "s1", order_body("cust-s", {{sku, 1}}).dump(), "?wait=10000");
  BOOST_TEST_REQUIRE(placed.status == 201u, placed.body);
  const auto id = placed.json().at("order_id").get<std::string>();
  BOOST_TEST_REQUIRE(eventually([&] {
    auto g = c->request("GET", "/orders/" + id, "", {{"X-Client-Id", client}});
    return g.status == 200u && g.json().at("status") == "confirmed";
  }));
  // Make the key cold, then count loads (each one database read) around the burst.
  auto cfg = config_from_environment();
  cache::redis_client redis{cfg.redis};
  BOOST_TEST_REQUIRE(static_cast<bool>(redis.del({"om:cache:order:" + id})));
  auto loads = [&] {
    auto m = c->request("GET", "/metrics").body;
    const std::string name = "ordermesh_cache_operations_total{outcome=\"load\"} ";
    auto at = m.find(name);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    return std::stod(m.substr(at + name.size()));
  };
  const double loads_before = loads();

  constexpr int burst = 500;
  std::vector<std::unique_ptr<http_client>> clients;
  for (int i = 0; i < burst; ++i) {
    clients.push_back(sys().client(20s));
  }
  for (int i = 0; i < burst; ++i) {
    clients[i]->send_raw("GET /orders/" + id + " HTTP/1.1\r\nHost: t\r\nX-Client-Id: " + client +
                         "-" + std::to_string(i) + "\r\n\r\n");
  }
  int ok = 0;
  for (auto& cl : clients) {
    auto r = cl->read_responses(1);
    ok += r[0].status == 200u && r[0].json().at("order_id") == id ? 1 : 0;
  }
  const double db_reads = loads() - loads_before;
  BOOST_TEST_MESSAGE("stampede: " << burst << " concurrent GETs of a cold key, " << db_reads
                                  << " database read(s)");
  BOOST_TEST(ok == burst);
  BOOST_TEST(db_reads >= 1);
  BOOST_TEST(db_reads <= 3);
}

BOOST_AUTO_TEST_CASE(an_overloaded_entity_answers_503_and_a_passed_deadline_504) {
  // A node whose entities queue at most one command, and a node whose commands expire at once.
  // A client of its own (behind a trusted proxy): the peer address's bucket in the shared Redis
  // may have been drained by an earlier case with the default rate.
  standalone_system tight{{"--entity.max_queue=1", "--gateway.rate_limit_per_s=100000",
                           "--gateway.rate_limit_burst=100000", "--gateway.trusted_proxy=true"}};
  const auto sku = standalone_system::unique("hot");
  const auto client = standalone_system::unique("tight");
  constexpr int burst = 60;
  std::vector<std::unique_ptr<http_client>> clients;
  for (int i = 0; i < burst; ++i) {
    clients.push_back(tight.client(20s));
  }
  const std::string body = R"({"qty":2})";
  for (auto& cl : clients) {
    cl->send_raw(
        "POST /inventory/" + sku + "/restock HTTP/1.1\r\nHost: t\r\nX-Client-Id: " + client +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body);
  }
  int ok = 0;
  int overloaded = 0;
  for (auto& cl : clients) {
    auto r = cl->read_responses(1)[0];
    if (r.status == 200u) {
      ++ok;
    } else {
      check_problem(r, 503, "urn:ordermesh:problem:overloaded");
      BOOST_TEST(r.header("Retry-After").value_or("") == "1");
      ++overloaded;
    }
  }
  BOOST_TEST_MESSAGE("entity.max_queue=1: " << ok << " restocks done, " << overloaded
                                            << " refused as overloaded");
  BOOST_TEST(overloaded > 0);
  BOOST_TEST(ok > 0);
  // Every accepted restock counted exactly once; every refused one not at all.
  auto c = tight.client();
  BOOST_TEST(eventually([&] {
    auto g = c->request("GET", "/inventory/" + sku);
    return g.status == 200u && g.json().at("on_hand") == 2 * ok;
  }));

  standalone_system hasty{{"--gateway.command_timeout=1ms"}};
  auto h = hasty.client();
  check_problem(h->request("POST", "/inventory/" + sku + "/restock", body), 504,
                "urn:ordermesh:problem:deadline-exceeded");
}

BOOST_AUTO_TEST_CASE(a_graceful_stop_answers_the_requests_waiting_for_an_order_and_exits_0) {
  // A PSP that answers after 20 s and a client that waits 5 s per attempt: the order stays open.
  standalone_system slow{
      {"--psp.client_timeout=5s", "--saga.max_payment_attempts=10", "--saga.step_timeout=30s"},
      {"--psp.latency=20s"}};
  auto c = slow.client(20s);
  const auto sku = standalone_system::unique("slow");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  std::optional<http_response> waited;
  std::thread waiter{[&] {
    auto w = slow.client(20s);
    // Unique key: this system does not trust X-Client-Id, and Redis outlives the run.
    waited = post_order(*w, "graceful", standalone_system::unique("g1"),
                        order_body("cust-g", {{sku, 1}}).dump(), "?wait=20000");
  }};
  // Placed, and its POST waiting for the end of the order (the PSP holds the payment).
  BOOST_TEST_REQUIRE(eventually([&] {
    return c->request("GET", "/metrics").body.find("\nordermesh_gateway_waiting_orders 1") !=
           std::string::npos;
  }));
  const auto stop_sent = std::chrono::steady_clock::now();
  ::kill(slow.node().pid(), SIGTERM);
  waiter.join();
  const auto answered_after = std::chrono::steady_clock::now() - stop_sent;
  auto exit = slow.node().wait_exit(15s);
  BOOST_TEST_MESSAGE(
      "graceful stop: the waiting POST answered after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(answered_after).count()
      << " ms, the process exited after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               stop_sent)
             .count()
      << " ms");
  BOOST_TEST_REQUIRE(waited.has_value());
  BOOST_TEST(waited->status == 202u, waited->body);
  BOOST_TEST(waited->json().at("status") != "confirmed");
  BOOST_TEST(
      (answered_after < 3s),
      "answered " << std::chrono::duration_cast<std::chrono::milliseconds>(answered_after).count()
                  << " ms after SIGTERM");
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->success(), exit->describe());
  // Acknowledged means durable: the order is in the journal.
  auto id = waited->json().at("order_id").get<std::string>();
  BOOST_TEST(slow.db().query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" + id +
                                   "' AND event_type = 'order.placed.v1'") == "1");
}

BOOST_FIXTURE_TEST_CASE(an_invalidation_heard_on_redis_pub_sub_drops_the_near_cache_copy,
                        fresh_system) {
  // What another gateway process hears when this node's projection changes a row.
  auto c = sys().client();
  const auto client = standalone_system::unique("pubsub");
  const header_list as_client{{"X-Client-Id", client}};
  auto sku = restocked_sku(*c, client, 5);
  auto placed =
      post_order(*c, client, "ps1", order_body("cust-ps", {{sku, 1}}).dump(), "?wait=10000");
  BOOST_TEST_REQUIRE(placed.status == 201u, placed.body);
  const auto id = placed.json().at("order_id").get<std::string>();
  // Wait until the saga is over and projected: no later change invalidates the row.
  const auto stream = "'order/" + id + "'";
  BOOST_TEST_REQUIRE(eventually([&] {
    auto captured = sys().db().query_value(
        "SELECT max(stream_version) FROM events WHERE stream_id = " + stream + " AND " +
        testing::saga_end_sql);
    auto g = c->request("GET", "/orders/" + id, "", as_client);
    return !captured.empty() && g.status == 200u &&
           std::to_string(g.json().at("version").get<int64_t>()) == captured;
  }));
  auto metric = [&](const std::string& sample) {
    auto body = c->request("GET", "/metrics").body;
    auto at = body.find("\n" + sample + " "); // a sample line, not its # HELP
    BOOST_TEST_REQUIRE(at != std::string::npos, sample);
    return std::stod(body.substr(at + sample.size() + 2));
  };
  const std::string near_hits = "ordermesh_near_cache_hits_total";
  const std::string redis_hits = "ordermesh_cache_operations_total{outcome=\"hit\"}";
  const std::string redis_misses = "ordermesh_cache_operations_total{outcome=\"miss\"}";
  const std::string heard = "ordermesh_cache_invalidations_received_total";
  // Served from the near cache once the row is quiet: the projection invalidates a page's keys
  // after its commit, so a read between the two may cache a copy that the invalidation drops.
  BOOST_TEST(eventually([&] {
    (void)c->request("GET", "/orders/" + id, "", as_client);
    const auto near_before = metric(near_hits);
    return c->request("GET", "/orders/" + id, "", as_client).status == 200u &&
           metric(near_hits) == near_before + 1;
  }));

  const auto heard_before = metric(heard);
  cache::redis_client redis{config_from_environment().redis};
  BOOST_TEST_REQUIRE(static_cast<bool>(redis.publish("om:invalidate", "order:" + id)));
  BOOST_TEST(eventually([&] { return metric(heard) > heard_before; }));
  const auto near_after = metric(near_hits);
  const auto below_before = metric(redis_hits) + metric(redis_misses);
  BOOST_TEST(c->request("GET", "/orders/" + id, "", as_client).status == 200u);
  BOOST_TEST(metric(near_hits) == near_after); // the near copy was dropped...
  BOOST_TEST(metric(redis_hits) + metric(redis_misses) == below_before + 1); // ...read below it
  BOOST_TEST(c->request("GET", "/orders/" + id, "", as_client).status == 200u);
  BOOST_TEST(metric(near_hits) == near_after + 1); // and kept again
}

BOOST_FIXTURE_TEST_CASE(a_poisoned_traceparent_is_replaced_and_never_parks_the_sku, fresh_system) {
  // Issue 9 item 1: 32 bytes of 0xFF where the trace id goes used to make the entity throw on
  // every batch until it was parked for good.
  auto c = sys().client();
  const auto client = standalone_system::unique("trace");
  const auto sku = restocked_sku(*c, client, 10);
  const std::string poisoned = "00-" + std::string(32, '\xff') + "-aaaaaaaaaaaaaaaa-01";
  for (int i = 0; i < 6; ++i) {
    auto r = c->request("POST", "/inventory/" + sku + "/restock", json{{"qty", 1}}.dump(),
                        {{"X-Client-Id", client}, {"traceparent", poisoned}});
    BOOST_TEST(r.status == 200u, "poisoned restock " << i << ": " << r.status << " " << r.body);
  }
  auto later = restock(*c, client, sku, 1);
  BOOST_TEST(later.status == 200u, later.body);
  BOOST_TEST(later.json().value("on_hand", 0) == 17);
  auto order =
      post_order(*c, client, "trace-1", order_body("cust-t", {{sku, 2}}).dump(), "?wait=10000");
  BOOST_TEST(order.status == 201u, order.body);
  // A poisoned order carries a fresh trace too and finishes like any other.
  auto poisoned_order = c->request(
      "POST", "/orders?wait=10000", order_body("cust-t", {{sku, 1}}).dump(),
      {{"X-Client-Id", client}, {"Idempotency-Key", "trace-2"}, {"traceparent", poisoned}});
  BOOST_TEST(poisoned_order.status == 201u, poisoned_order.body);
}

BOOST_FIXTURE_TEST_CASE(a_body_with_a_duplicate_member_is_refused_400_and_never_placed,
                        fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("dup");
  const auto sku = restocked_sku(*c, client, 10);
  const auto before = sys().events();
  auto r = post_order(*c, client, "dup-1",
                      R"({"customer_id":"a","customer_id":"b","lines":[{"sku":")" + sku +
                          R"(","qty":1}],"payment":{"card_token":"tok_visa","amount_cents":100}})");
  check_problem(r, 400, "urn:ordermesh:problem:malformed-json");
  BOOST_TEST(r.json().at("errors")[0].at("pointer") == "/customer_id", r.body);
  auto nested = post_order(
      *c, client, "dup-2",
      R"({"customer_id":"a","lines":[{"sku":")" + sku +
          R"(","qty":1,"qty":5}],"payment":{"card_token":"tok_visa","amount_cents":100}})");
  check_problem(nested, 400, "urn:ordermesh:problem:malformed-json");
  auto restocked = c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":1,"qty":1000})",
                              {{"X-Client-Id", client}});
  check_problem(restocked, 400, "urn:ordermesh:problem:malformed-json");
  BOOST_TEST(sys().events() == before);
}

BOOST_FIXTURE_TEST_CASE(
    the_openapi_examples_work_and_each_documented_test_card_behaves_as_documented, fresh_system) {
  auto c = sys().client();
  const auto client = standalone_system::unique("docs");
  const header_list as_client{{"X-Client-Id", client}};
  auto doc = c->request("GET", "/openapi.json").json();
  const auto& paths = doc.at("paths");
  // The restock example, on the SKUs the order example names.
  const auto& restock_op = paths.at("/inventory/{sku}/restock").at("post");
  const auto restock_example =
      restock_op.at("requestBody").at("content").at("application/json").at("example");
  const auto& order_op = paths.at("/orders").at("post");
  auto order_example =
      order_op.at("requestBody").at("content").at("application/json").at("example");
  for (const auto& line : order_example.at("lines")) {
    auto r = c->request("POST", "/inventory/" + line.at("sku").get<std::string>() + "/restock",
                        restock_example.dump(), as_client);
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
  }
  // A token the payment step can never accept is refused at the edge, naming the field. Checked
  // before any order runs: a finished order's saga may still append (compensation, notification).
  const auto before = sys().events();
  auto bad_token = order_example;
  bad_token["payment"]["card_token"] = "4242424242424242";
  auto refused = post_order(*c, client, "doc-bad-token", bad_token.dump());
  check_problem(refused, 422, "urn:ordermesh:problem:invalid-request");
  BOOST_TEST(refused.json().at("errors")[0].at("pointer") == "/payment/card_token", refused.body);
  BOOST_TEST(sys().events() == before);

  auto placed = post_order(*c, client, "doc-example", order_example.dump(), "?wait=10000");
  BOOST_TEST(placed.status == 201u, placed.body);
  // Each test card the documentation lists ends the way it says.
  const auto token_doc = doc.at("components")
                             .at("schemas")
                             .at("OrderInput")
                             .at("properties")
                             .at("payment")
                             .at("properties")
                             .at("card_token")
                             .at("description")
                             .get<std::string>();
  int n = 0;
  for (const auto& card : psp::test_cards) {
    BOOST_TEST(token_doc.find(std::string{card.example}) != std::string::npos, token_doc);
    auto body = order_example;
    body["payment"]["card_token"] = std::string{card.example};
    auto r = post_order(*c, client, "doc-card-" + std::to_string(++n), body.dump(), "?wait=10000");
    if (card.outcome == psp::card_outcome::authorized) {
      BOOST_TEST(r.status == 201u, card.example << ": " << r.body);
    } else {
      check_problem(r, 422, "urn:ordermesh:problem:order-cancelled");
    }
  }
}

BOOST_AUTO_TEST_CASE(an_api_key_names_the_client_and_x_client_id_alone_is_not_trusted) {
  const std::string alice_key = "alice-" + standalone_system::unique("secret");
  standalone_system keyed{{"--gateway.rate_limit_per_s=1", "--gateway.rate_limit_burst=20",
                           "--gateway.api_keys=alice=" + gateway::sha256_hex(alice_key)}};
  auto c = keyed.client();
  const header_list as_alice{{"Authorization", "Bearer " + alice_key}};
  // A wrong key, or another scheme, is 401 and goes no further.
  for (const header_list& wrong :
       {header_list{{"Authorization", "Bearer nope"}}, header_list{{"X-Api-Key", "nope"}},
        header_list{{"Authorization", "Basic YWxpY2U6eA=="}},
        header_list{{"Authorization", "Bearer " + alice_key}, {"X-Api-Key", "other"}}}) {
    auto r = c->request("GET", "/inventory/x", "", wrong);
    check_problem(r, 401, "urn:ordermesh:problem:unauthorized");
    BOOST_TEST(r.header("WWW-Authenticate").value_or("") == "Bearer");
  }
  const auto sku = standalone_system::unique("sku");
  BOOST_TEST_REQUIRE(
      c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":50})", as_alice).status ==
      200u);
  const auto body = order_body("cust-k", {{sku, 1}}).dump();
  auto place = [&](header_list h, const std::string& key) {
    h.emplace_back("Idempotency-Key", key);
    return c->request("POST", "/orders", body, h);
  };
  // Unique key: the impostors below are their peer address, and Redis outlives the run.
  const auto k1 = standalone_system::unique("k1");
  auto first = place(as_alice, k1);
  BOOST_TEST_REQUIRE(first.status == 202u, first.body);
  // The same key through X-Api-Key is the same client: the same order.
  auto via_header = place({{"X-Api-Key", alice_key}}, k1);
  BOOST_TEST(via_header.json().at("order_id") == first.json().at("order_id"));
  // Claiming to be alice with X-Client-Id is not being alice: the claim is ignored, so both claims
  // are the same (peer-address) client, whose order is not hers.
  std::set<std::string> impostor_orders;
  for (const auto* claim : {"alice", "key:alice"}) {
    auto impostor = place({{"X-Client-Id", claim}}, k1);
    BOOST_TEST(impostor.status == 202u, impostor.body);
    impostor_orders.insert(impostor.json().at("order_id").get<std::string>());
  }
  BOOST_TEST(impostor_orders.size() == 1u);
  BOOST_TEST(impostor_orders.count(first.json().at("order_id").get<std::string>()) == 0u);
  // Nor can it spend her rate-limit bucket: the impostor runs out, alice does not.
  int limited = 0;
  for (int i = 0; i < 40; ++i) {
    limited +=
        c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", "key:alice"}}).status == 429u;
  }
  BOOST_TEST(limited > 0);
  BOOST_TEST(c->request("GET", "/inventory/" + sku, "", as_alice).status != 429u);
}
