#define BOOST_TEST_MODULE gateway_request_checks
#include <boost/test/unit_test.hpp>

#include "gateway/request_checks.hpp"

#include <chrono>
#include <string>

using namespace ordermesh::gateway;
using namespace std::chrono_literals;

namespace {

const std::string valid_order = R"({"customer_id":"c-1","lines":[{"sku":"apple","qty":2}],)"
                                R"("payment":{"card_token":"tok_visa","amount_cents":2500}})";

request post_orders(std::string query, std::string key, std::string body = valid_order) {
  request r;
  r.method = "POST";
  r.path = "/orders";
  r.query = std::move(query);
  r.target = r.path + (r.query.empty() ? "" : "?" + r.query);
  if (!key.empty()) {
    r.headers.emplace_back("Idempotency-Key", std::move(key));
  }
  r.body = std::move(body);
  return r;
}

request with_param(std::string path, std::string name, std::string value) {
  request r;
  r.method = "GET";
  r.path = std::move(path);
  r.target = r.path;
  r.params[std::move(name)] = std::move(value);
  return r;
}

template <class Input>
problem_details refusal(const std::variant<Input, problem_details>& checked) {
  BOOST_TEST_REQUIRE(std::holds_alternative<problem_details>(checked));
  return std::get<problem_details>(checked);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_placement_passes_with_its_key_wait_and_order) {
  auto checked = check_place_order(post_orders("wait=250", "k-1"), 1000ms);
  BOOST_TEST_REQUIRE(std::holds_alternative<place_order_input>(checked));
  const auto& in = std::get<place_order_input>(checked);
  BOOST_TEST(in.idempotency_key == "k-1");
  BOOST_TEST(in.wait.count() == 250);
  BOOST_TEST(in.order.customer_id == "c-1");
  BOOST_TEST(
      std::get<place_order_input>(check_place_order(post_orders("", "k"), 1000ms)).wait.count() ==
      0);
}

BOOST_AUTO_TEST_CASE(a_placement_is_refused_for_its_key_query_or_body_with_the_orders_instance) {
  auto no_key = refusal(check_place_order(post_orders("", ""), 1000ms));
  BOOST_TEST(no_key.status == 400u);
  BOOST_TEST(no_key.type == problem_type::idempotency_key);
  BOOST_TEST(no_key.instance == "/orders");
  BOOST_TEST(refusal(check_place_order(post_orders("", std::string(129, 'k')), 1000ms)).type ==
             problem_type::idempotency_key);
  for (const auto* query : {"wait=soon", "wait=1001", "wait=-1", "wait=%zz"}) {
    auto p = refusal(check_place_order(post_orders(query, "k"), 1000ms));
    BOOST_TEST(p.status == 400u, query);
    BOOST_TEST(p.type == problem_type::invalid_request, query);
  }
  auto body = refusal(check_place_order(post_orders("", "k", R"({"customer_id":""})"), 1000ms));
  BOOST_TEST(body.status == 422u);
  BOOST_TEST(body.instance == "/orders");
}

BOOST_AUTO_TEST_CASE(a_listing_needs_a_customer_and_takes_a_bounded_limit_and_its_own_cursor) {
  auto list = [](std::string query) {
    request r;
    r.method = "GET";
    r.path = "/orders";
    r.query = std::move(query);
    return check_list_orders(r);
  };
  auto checked = list("customer=c-1&limit=5&cursor=" + encode_cursor({42, "o1"}));
  BOOST_TEST_REQUIRE(std::holds_alternative<list_orders_input>(checked));
  const auto& in = std::get<list_orders_input>(checked);
  BOOST_TEST(in.customer_id == "c-1");
  BOOST_TEST(in.limit == 5);
  BOOST_TEST_REQUIRE(in.after.has_value());
  BOOST_TEST(in.after->placed_at_us == 42);
  BOOST_TEST(in.after->order_id == "o1");
  BOOST_TEST(std::get<list_orders_input>(list("customer=c-1")).limit == limits::default_page_size);
  for (const auto* query : {"", "customer=", "customer=c-1&limit=0", "customer=c-1&limit=101",
                            "customer=c-1&cursor=forged", "customer=%"}) {
    auto p = refusal(list(query));
    BOOST_TEST(p.status == 400u, query);
    BOOST_TEST(p.instance == "/orders", query);
  }
}

BOOST_AUTO_TEST_CASE(an_id_or_sku_that_cannot_exist_is_404_on_reads_and_400_on_restock) {
  BOOST_TEST(std::get<std::string>(check_get_order(with_param("/orders/o1", "id", "o1"))) == "o1");
  auto order = refusal(check_get_order(with_param("/orders/a b", "id", "a b")));
  BOOST_TEST(order.status == 404u);
  BOOST_TEST(order.instance == "/orders/a b");
  BOOST_TEST(std::get<std::string>(check_get_inventory(with_param("/inventory/s", "sku", "s"))) ==
             "s");
  BOOST_TEST(refusal(check_get_inventory(with_param("/inventory/x", "sku", std::string(65, 'x'))))
                 .status == 404u);

  auto restock = [](std::string sku, std::string key, std::string body) {
    auto r = with_param("/inventory/" + sku + "/restock", "sku", sku);
    r.method = "POST";
    if (!key.empty()) {
      r.headers.emplace_back("Idempotency-Key", std::move(key));
    }
    r.body = std::move(body);
    return check_restock(r);
  };
  auto checked = restock("s-1", "", R"({"qty":7})");
  BOOST_TEST_REQUIRE(std::holds_alternative<restock_input>(checked));
  BOOST_TEST(std::get<restock_input>(checked).qty == 7);
  BOOST_TEST(std::get<restock_input>(checked).idempotency_key.empty());
  auto bad_sku = refusal(restock("a b", "", R"({"qty":7})"));
  BOOST_TEST(bad_sku.status == 400u);
  BOOST_TEST(bad_sku.instance == "/inventory/a b/restock");
  BOOST_TEST(refusal(restock("s-1", std::string(129, 'k'), R"({"qty":7})")).type ==
             problem_type::idempotency_key);
  BOOST_TEST(refusal(restock("s-1", "k", R"({"qty":0})")).status == 422u);
}
