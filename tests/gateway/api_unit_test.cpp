#define BOOST_TEST_MODULE gateway_api_unit
#include <boost/test/unit_test.hpp>

#include "actors/inventory/errors.hpp"
#include "actors/order/errors.hpp"
#include "actors/order/messages.hpp"
#include "gateway/api.hpp"
#include "gateway/client_identity.hpp"
#include "gateway/command_errors.hpp"
#include "gateway/near_cache.hpp"
#include "gateway/order_request.hpp"
#include "gateway/order_watch.hpp"
#include "psp/client/card_tokens.hpp"

#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include <set>

using namespace ordermesh;
using namespace ordermesh::gateway;
using nlohmann::json;

namespace {

const std::string valid_order =
    R"({"customer_id":"c-1","lines":[{"sku":"apple","qty":2},{"sku":"pear","qty":1}],)"
    R"("payment":{"card_token":"tok_visa","amount_cents":2500}})";

problem_details refused(const std::string& body) {
  auto r = parse_order(body);
  BOOST_TEST_REQUIRE(std::holds_alternative<problem_details>(r), body);
  return std::get<problem_details>(r);
}

std::set<std::string> pointers(const problem_details& p) {
  std::set<std::string> out;
  for (const auto& e : p.extensions.at("errors")) {
    out.insert(e.at("pointer").get<std::string>());
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_valid_order_parses) {
  auto r = parse_order(valid_order);
  BOOST_TEST_REQUIRE(std::holds_alternative<order_input>(r));
  const auto& o = std::get<order_input>(r);
  BOOST_TEST(o.customer_id == "c-1");
  BOOST_TEST(o.lines.size() == 2u);
  BOOST_TEST(o.lines[1].sku == "pear");
  BOOST_TEST(o.card_token == "tok_visa");
  BOOST_TEST(o.amount_cents == 2500);
}

BOOST_AUTO_TEST_CASE(malformed_json_is_400_and_bad_fields_are_422_naming_each_field) {
  BOOST_TEST(refused("{").status == 400u);
  BOOST_TEST(refused("").status == 400u);
  BOOST_TEST(refused("\"text\"").status == 400u);
  auto p = refused(R"({"customer_id":7,"lines":[{"sku":"","qty":0},{"qty":"1"},5],"x":1})");
  BOOST_TEST(p.status == 422u);
  BOOST_TEST(p.type == problem_type::invalid_request);
  BOOST_TEST(pointers(p) ==
             (std::set<std::string>{"/customer_id", "/lines/0/sku", "/lines/0/qty", "/lines/1/sku",
                                    "/lines/1/qty", "/lines/2", "/payment", "/x"}));
}

BOOST_AUTO_TEST_CASE(quantities_amounts_and_line_counts_are_bounded) {
  auto with = [](const std::string& lines, const std::string& amount = "2500") {
    return R"({"customer_id":"c","lines":)" + lines +
           R"(,"payment":{"card_token":"t","amount_cents":)" + amount + "}}";
  };
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a","qty":10001}])"))).count("/lines/0/qty") == 1u);
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a","qty":-1}])"))).count("/lines/0/qty") == 1u);
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a","qty":1.5}])"))).count("/lines/0/qty") == 1u);
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a","qty":99999999999999999999}])")))
                 .count("/lines/0/qty") == 1u);
  BOOST_TEST(pointers(refused(with("[]"))).count("/lines") == 1u);
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a","qty":1},{"sku":"a","qty":1}])")))
                 .count("/lines/1/sku") == 1u);
  BOOST_TEST(pointers(refused(with(R"([{"sku":"a b","qty":1}])"))).count("/lines/0/sku") == 1u);
  BOOST_TEST(
      pointers(refused(with(R"([{"sku":"a","qty":1}])", "0"))).count("/payment/amount_cents") ==
      1u);
  json many = json::array();
  for (int i = 0; i < 51; ++i) {
    many.push_back({{"sku", "s" + std::to_string(i)}, {"qty", 1}});
  }
  BOOST_TEST(pointers(refused(with(many.dump()))).count("/lines") == 1u);
}

BOOST_AUTO_TEST_CASE(a_duplicate_member_at_any_depth_is_refused_as_400_naming_it) {
  // Two parsers that disagree on which duplicate wins is how validation gets bypassed.
  auto top = refused(R"({"customer_id":"a","customer_id":"b","lines":[{"sku":"s","qty":1}],)"
                     R"("payment":{"card_token":"tok_visa","amount_cents":1}})");
  BOOST_TEST(top.status == 400u);
  BOOST_TEST(top.type == problem_type::malformed_json);
  BOOST_TEST(pointers(top) == std::set<std::string>{"/customer_id"});
  auto in_line = refused(R"({"customer_id":"a","lines":[{"sku":"s","qty":1},)"
                         R"({"sku":"t","qty":1,"qty":9}],)"
                         R"("payment":{"card_token":"tok_visa","amount_cents":1}})");
  BOOST_TEST(in_line.status == 400u);
  BOOST_TEST(pointers(in_line) == std::set<std::string>{"/lines/1/qty"});
  auto in_payment = refused(R"({"customer_id":"a","lines":[{"sku":"s","qty":1}],)"
                            R"("payment":{"card_token":"tok_visa","amount_cents":1,)"
                            R"("card_token":"tok_decline"}})");
  BOOST_TEST(pointers(in_payment) == std::set<std::string>{"/payment/card_token"});
  // Where nothing is read, still refused: no member of the body is ambiguous.
  auto deep =
      refused(R"({"customer_id":"a","lines":[{"sku":"s","qty":1}],"x":{"a/b":[{"~":1,"~":2}]},)"
              R"("payment":{"card_token":"tok_visa","amount_cents":1}})");
  BOOST_TEST(deep.status == 400u);
  BOOST_TEST(pointers(deep) == std::set<std::string>{"/x/a~1b/0/~0"});
  auto restock = std::get<problem_details>(parse_restock(R"({"qty":1,"qty":1000})"));
  BOOST_TEST(restock.status == 400u);
  // The same name in different objects is no duplicate.
  BOOST_TEST(std::holds_alternative<order_input>(
      parse_order(R"({"customer_id":"a","lines":[{"sku":"s","qty":1},{"sku":"t","qty":1}],)"
                  R"("payment":{"card_token":"tok_visa","amount_cents":1}})")));
}

BOOST_AUTO_TEST_CASE(a_traceparent_is_taken_only_when_it_is_valid_w3c_trace_context) {
  const std::string good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  BOOST_TEST(parse_traceparent(good).value_or("") == good);
  // Issue 9 item 1: 32 bytes of 0xFF where the trace id goes.
  BOOST_TEST(!parse_traceparent("00-" + std::string(32, '\xff') + "-aaaaaaaaaaaaaaaa-01"));
  auto with = [&](size_t at, const std::string& part) {
    auto s = good;
    s.replace(at, part.size(), part);
    return s;
  };
  BOOST_TEST(!parse_traceparent(with(3, "4BF92F35")));            // upper case
  BOOST_TEST(!parse_traceparent(with(3, std::string(32, '0'))));  // zero trace id
  BOOST_TEST(!parse_traceparent(with(36, std::string(16, '0')))); // zero parent id
  BOOST_TEST(!parse_traceparent(with(3, "4bf92f35 7b34")));       // not hex
  BOOST_TEST(!parse_traceparent(with(53, "0g")));                 // flags not hex
  BOOST_TEST(!parse_traceparent(with(0, "ff")));                  // version ff
  BOOST_TEST(!parse_traceparent(with(0, "0A")));                  // version case
  BOOST_TEST(!parse_traceparent(with(2, "_")));                   // separators
  BOOST_TEST(!parse_traceparent(with(35, "_")));
  BOOST_TEST(!parse_traceparent(with(52, "_")));
  BOOST_TEST(!parse_traceparent(good.substr(0, 54)));
  BOOST_TEST(!parse_traceparent(good + "-")); // 00 is exact
  BOOST_TEST(!parse_traceparent(""));
  // A future version: read as version 00 from its first 55 characters (further fields
  // follow a '-'), and passed on as version 00.
  BOOST_TEST(parse_traceparent(with(0, "01")).value_or("") == good);
  BOOST_TEST(parse_traceparent(with(0, "cc") + "-what-ever").value_or("") == good);
  BOOST_TEST(!parse_traceparent(with(0, "cc") + "x"));
  BOOST_TEST(!parse_traceparent(with(0, "cc").substr(0, 54)));
  // Unknown flag bits are kept as sent (only 01, sampled, is defined).
  BOOST_TEST(parse_traceparent(with(53, "ff")).value_or("") == with(53, "ff"));
}

BOOST_AUTO_TEST_CASE(a_card_token_the_payment_step_can_never_accept_is_refused_with_a_pointer) {
  auto with_token = [](const std::string& token) {
    return R"({"customer_id":"c","lines":[{"sku":"a","qty":1}],"payment":{"card_token":")" + token +
           R"(","amount_cents":100}})";
  };
  for (const auto* token : {"4242424242424242", "visa", "TOK_visa", "tok"}) {
    auto p = refused(with_token(token));
    BOOST_TEST(p.status == 422u);
    BOOST_TEST(pointers(p) == std::set<std::string>{"/payment/card_token"}, token);
  }
  for (const auto& card : psp::test_cards) {
    BOOST_TEST(
        std::holds_alternative<order_input>(parse_order(with_token(std::string{card.example}))));
  }
}

BOOST_AUTO_TEST_CASE(the_stand_ins_test_cards_decide_by_their_longest_prefix) {
  BOOST_TEST(psp::accepts_card_token("tok_visa"));
  BOOST_TEST(!psp::accepts_card_token("visa"));
  BOOST_TEST((psp::outcome_of("tok_visa") == psp::card_outcome::authorized));
  BOOST_TEST((psp::outcome_of("tok_decline") == psp::card_outcome::declined));
  BOOST_TEST((psp::outcome_of("tok_decline_card") == psp::card_outcome::declined));
  for (const auto& card : psp::test_cards) {
    BOOST_TEST((psp::outcome_of(card.example) == card.outcome), card.example);
  }
}

BOOST_AUTO_TEST_CASE(sha256_hex_matches_the_standard_vectors) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(an_api_key_names_its_client_and_x_client_id_needs_a_trusted_proxy) {
  config::gateway_config cfg;
  cfg.api_keys = {{"alice", sha256_hex("alice-key")}, {"bob", sha256_hex("bob-key")}};
  client_identity direct{cfg};
  auto who = [](const client_identity& id, client_claims c) {
    auto r = id.identify(c);
    return std::holds_alternative<std::string>(r)
               ? std::get<std::string>(r)
               : "status " + std::to_string(std::get<problem_details>(r).status);
  };
  BOOST_TEST(who(direct, {"Bearer alice-key", "", "", "10.0.0.1"}) == "key:alice");
  BOOST_TEST(who(direct, {"bearer  bob-key ", "", "", "10.0.0.1"}) == "key:bob");
  BOOST_TEST(who(direct, {"", "alice-key", "", "10.0.0.1"}) == "key:alice");
  BOOST_TEST(who(direct, {"Bearer alice-key", "alice-key", "mallory", "10.0.0.1"}) == "key:alice");
  BOOST_TEST(who(direct, {"Bearer alice-key", "bob-key", "", "10.0.0.1"}) == "status 401");
  BOOST_TEST(who(direct, {"Bearer wrong", "", "", "10.0.0.1"}) == "status 401");
  BOOST_TEST(who(direct, {"", "wrong", "", "10.0.0.1"}) == "status 401");
  BOOST_TEST(who(direct, {"Basic YWxpY2U6eA==", "", "", "10.0.0.1"}) == "status 401");
  BOOST_TEST(who(direct, {"Bearer", "", "", "10.0.0.1"}) == "status 401");
  // Without a key: the peer address; X-Client-Id is not trusted...
  BOOST_TEST(who(direct, {"", "", "", "10.0.0.1"}) == "ip:10.0.0.1");
  BOOST_TEST(who(direct, {"", "", "key:alice", "10.0.0.1"}) == "ip:10.0.0.1");
  // ...unless the deployment says a proxy sets it.
  cfg.trusted_proxy = true;
  client_identity proxied{cfg};
  BOOST_TEST(who(proxied, {"", "", "shop-7", "10.0.0.1"}) == "proxy:shop-7");
  // A name the proxy passes on never becomes an API-key client's or an address's identity.
  BOOST_TEST(who(proxied, {"", "", "key:alice", "10.0.0.1"}) == "proxy:key:alice");
  BOOST_TEST(who(proxied, {"", "", "ip:10.0.0.7", "10.0.0.1"}) == "proxy:ip:10.0.0.7");
  BOOST_TEST(who(proxied, {"", "", "not valid!", "10.0.0.1"}) == "ip:10.0.0.1");
  BOOST_TEST(who(proxied, {"Bearer bob-key", "", "shop-7", "10.0.0.1"}) == "key:bob");
  auto problem = std::get<problem_details>(direct.identify({"Bearer wrong", "", "", "x"}));
  BOOST_TEST(problem.type == problem_type::unauthorized);
}

BOOST_AUTO_TEST_CASE(restock_bodies) {
  BOOST_TEST(std::get<int64_t>(parse_restock(R"({"qty":5})")) == 5);
  BOOST_TEST(std::get<problem_details>(parse_restock(R"({"qty":0})")).status == 422u);
  BOOST_TEST(std::get<problem_details>(parse_restock(R"({"qty":1000001})")).status == 422u);
  BOOST_TEST(std::get<problem_details>(parse_restock(R"({"qty":1,"x":2})")).status == 422u);
  BOOST_TEST(std::get<problem_details>(parse_restock("nope")).status == 400u);
}

BOOST_AUTO_TEST_CASE(the_order_id_depends_on_client_and_key_only) {
  auto a = order_id_for("client-a", "key-1");
  BOOST_TEST(a == order_id_for("client-a", "key-1"));
  BOOST_TEST(a != order_id_for("client-b", "key-1"));
  BOOST_TEST(a != order_id_for("client-a", "key-2"));
  BOOST_TEST(order_id_for("a", "b\nc") != order_id_for("a\nb", "c"));
  BOOST_TEST(a.size() == 33u);
  BOOST_TEST(valid_id(a));
}

BOOST_AUTO_TEST_CASE(the_fingerprint_is_of_the_order_not_its_spelling) {
  auto one = std::get<order_input>(parse_order(valid_order));
  auto spaced = std::get<order_input>(parse_order(json::parse(valid_order).dump(4)));
  BOOST_TEST(fingerprint(one) == fingerprint(spaced));
  auto other = one;
  other.lines[0].qty = 3;
  BOOST_TEST(fingerprint(one) != fingerprint(other));
  other = one;
  other.card_token = "tok_other";
  BOOST_TEST(fingerprint(one) != fingerprint(other));
}

BOOST_AUTO_TEST_CASE(query_strings_and_cursors) {
  auto q = parse_query("customer=c%3A1&limit=10&x=a+b&customer=second");
  BOOST_TEST_REQUIRE(q.has_value());
  BOOST_TEST(q->at("customer") == "c:1");
  BOOST_TEST(q->at("x") == "a b");
  BOOST_TEST(!parse_query("a=%zz").has_value());
  BOOST_TEST(!parse_query("a=%4").has_value());
  page_cursor c{1'795'611'932'079'696, "o123:weird id"};
  auto text = encode_cursor(c);
  auto back = decode_cursor(text);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->placed_at_us == c.placed_at_us);
  BOOST_TEST(back->order_id == c.order_id);
  BOOST_TEST(!decode_cursor("bogus").has_value());
  BOOST_TEST(!decode_cursor("c1.!!!").has_value());
  BOOST_TEST(!decode_cursor("c1.").has_value());
  BOOST_TEST(parse_count("0").value_or(-1) == 0);
  BOOST_TEST(!parse_count("-1").has_value());
  BOOST_TEST(!parse_count("1e3").has_value());
}

BOOST_AUTO_TEST_CASE(entity_errors_map_to_statuses_a_client_can_act_on) {
  using actors::runtime::entity_errc;
  auto retry_after = [](const response& r) {
    for (const auto& [k, v] : r.headers) {
      if (k == "Retry-After") {
        return v;
      }
    }
    return std::string{};
  };
  auto overloaded = answer_for_error(caf::make_error(entity_errc::overloaded), "/orders");
  BOOST_TEST(overloaded.status == 503u);
  BOOST_TEST(overloaded.content_type == "application/problem+json");
  BOOST_TEST(retry_after(overloaded) == "1");
  BOOST_TEST(answer_for_error(caf::make_error(entity_errc::deadline_exceeded), "/x").status ==
             504u);
  BOOST_TEST(answer_for_error(caf::make_error(caf::sec::request_timeout), "/x").status == 504u);
  for (auto code : {entity_errc::journal_unavailable, entity_errc::outcome_unknown,
                    entity_errc::crashed, entity_errc::parked}) {
    auto r = answer_for_error(caf::make_error(code), "/x");
    BOOST_TEST(r.status == 503u);
    BOOST_TEST(!retry_after(r).empty());
  }
  BOOST_TEST(answer_for_error(caf::make_error(entity_errc::unknown_command), "/x").status == 500u);
  // A command that cannot be recorded (its own content) gets the same answer on every retry: a
  // client error, never a 500 nor a 503 that invites retrying.
  auto unrecordable = answer_for_error(caf::make_error(entity_errc::unrecordable_command), "/x");
  BOOST_TEST(unrecordable.status == 422u);
  BOOST_TEST(json::parse(unrecordable.body).at("type") == problem_type::invalid_request);
  // A rejection is a caf::error of its aggregate's errc, answered by the same table.
  auto r = answer_for_error(
      caf::make_error(actors::order::order_errc::conflicting_order, "other contents"), "/orders");
  BOOST_TEST(r.status == 422u);
  BOOST_TEST(json::parse(r.body).at("type") == problem_type::idempotency_key_reused);
}

namespace {

/// Walks every value of `Errc` (those its to_string names) and checks that the table has a row
/// for it: an HTTP error status and a problem type. Returns how many values it found.
template <class Errc>
int check_every_code_has_a_row() {
  int values = 0;
  for (int i = 0; i <= 255; ++i) {
    const auto code = static_cast<Errc>(i);
    const auto name = to_string(code);
    if (name.rfind("<unknown", 0) == 0) {
      continue; // not a value of the enum
    }
    ++values;
    const auto row = http_for(code);
    BOOST_TEST((row.status >= 400 && row.status <= 599), name << " -> " << row.status);
    BOOST_TEST(row.type != nullptr, name);
  }
  return values;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_error_code_of_every_aggregate_has_an_http_row) {
  BOOST_TEST(check_every_code_has_a_row<actors::runtime::entity_errc>() > 1);
  BOOST_TEST(check_every_code_has_a_row<actors::order::order_errc>() > 1);
  BOOST_TEST(check_every_code_has_a_row<actors::inventory::inventory_errc>() > 1);
  BOOST_TEST(check_every_code_has_a_row<actors::payment::payment_errc>() > 1);
  BOOST_TEST(check_every_code_has_a_row<actors::notification::notification_errc>() > 1);
  // The rows a client meets.
  using actors::inventory::inventory_errc;
  using actors::order::order_errc;
  BOOST_TEST(http_for(inventory_errc::unknown_sku).status == 422u);
  BOOST_TEST(std::string{http_for(inventory_errc::unknown_sku).type} == problem_type::unknown_sku);
  BOOST_TEST(http_for(inventory_errc::invalid_quantity).status == 422u);
  BOOST_TEST(http_for(order_errc::invalid_order).status == 422u);
  BOOST_TEST(std::string{http_for(order_errc::conflicting_order).type} ==
             problem_type::idempotency_key_reused);
  BOOST_TEST(http_for(order_errc::unexpected_reply).status == 500u);
  // A rejection whose detail is the entity's reason carries it; the others their own words.
  auto doc = json::parse(
      answer_for_error(caf::make_error(order_errc::invalid_order, "no lines"), "/orders").body);
  BOOST_TEST(doc.at("detail") == "no lines");
  BOOST_TEST(doc.at("instance") == "/orders");
  auto unknown = answer_for_error(caf::make_error(inventory_errc::unknown_sku, "unknown_sku"),
                                  "/inventory/pear/restock");
  BOOST_TEST(unknown.status == 422u);
  BOOST_TEST(json::parse(unknown.body).at("type") == problem_type::unknown_sku);
  // A payment's rejection never reaches a client as a decision it could act on: 500.
  BOOST_TEST(
      answer_for_error(caf::make_error(actors::payment::payment_errc::not_captured), "/x").status ==
      500u);
}

BOOST_AUTO_TEST_CASE(an_order_that_ended_unconfirmed_is_told_by_why) {
  auto unknown = finished_order_problem("o1", "rejected", "unknown_sku: pear");
  BOOST_TEST(unknown.status == 422u);
  BOOST_TEST(unknown.type == problem_type::unknown_sku);
  BOOST_TEST(unknown.extensions.at("unknown_skus") == json::array({"pear"}));
  BOOST_TEST(unknown.extensions.at("order_status") == "rejected");
  auto short_of_stock = finished_order_problem("o1", "rejected", "not enough stock of pear");
  BOOST_TEST(short_of_stock.status == 409u);
  BOOST_TEST(short_of_stock.type == problem_type::order_rejected);
  BOOST_TEST(!short_of_stock.extensions.contains("unknown_skus"));
  auto cancelled = finished_order_problem("o1", "cancelled", "payment declined: unknown_sku: x");
  BOOST_TEST(cancelled.status == 422u);
  BOOST_TEST(cancelled.type == problem_type::order_cancelled);
  BOOST_TEST(cancelled.extensions.at("reason") == "payment declined: unknown_sku: x");
}

BOOST_AUTO_TEST_CASE(an_order_reason_names_an_unknown_sku_only_in_the_inventorys_words) {
  BOOST_TEST(unknown_sku_of("unknown_sku: pear").value_or("") == "pear");
  BOOST_TEST(!unknown_sku_of("unknown_sku: ").has_value());
  BOOST_TEST(!unknown_sku_of("not enough stock of pear").has_value());
  BOOST_TEST(!unknown_sku_of("payment declined: unknown_sku: pear").has_value());
}

BOOST_AUTO_TEST_CASE(a_watch_fires_once_even_when_the_order_finished_first) {
  order_watch w{2};
  std::vector<std::string> fired;
  w.watch("a", [&](const order_outcome& o) { fired.push_back("a:" + o.status); });
  w.finished("a", {"confirmed", ""});
  w.finished("a", {"confirmed", ""});
  BOOST_TEST(fired == (std::vector<std::string>{"a:confirmed"}));
  // Finished before anyone watched: the watch fires at once.
  w.finished("b", {"rejected", "no stock"});
  w.watch("b", [&](const order_outcome& o) { fired.push_back("b:" + o.reason); });
  BOOST_TEST(fired.back() == "b:no stock");
  // A cancelled watch never fires; memory is bounded (a is forgotten after b and c).
  auto t = w.watch("d", [&](const order_outcome&) { fired.push_back("d"); });
  w.cancel("d", t);
  w.finished("d", {"confirmed", ""});
  BOOST_TEST(fired.back() != "d");
  w.watch("e", [&](const order_outcome& o) { fired.push_back("e:" + o.status); });
  BOOST_TEST(w.waiting() == 1u);
  w.release_all();
  BOOST_TEST(fired.back() == "e:");
  BOOST_TEST(w.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(openapi_describes_exactly_the_served_endpoints) {
  auto doc = json::parse(openapi_document());
  BOOST_TEST(doc.at("openapi").get<std::string>().substr(0, 2) == "3.");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const auto& [method, op] : item.items()) {
      std::string upper = method;
      for (auto& ch : upper) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      documented.emplace(upper, path);
      BOOST_TEST(op.contains("responses"), method << " " << path);
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : gateway_api::endpoints()) {
    served.emplace(route.method, route.pattern);
  }
  BOOST_TEST((documented == served));
  // Every $ref points at something that exists.
  std::function<void(const json&)> check_refs = [&](const json& node) {
    if (node.is_object()) {
      for (const auto& [k, v] : node.items()) {
        if (k == "$ref") {
          auto pointer = v.get<std::string>().substr(1);
          BOOST_TEST(doc.contains(json::json_pointer(pointer)), pointer);
        } else {
          check_refs(v);
        }
      }
    } else if (node.is_array()) {
      for (const auto& v : node) {
        check_refs(v);
      }
    }
  };
  check_refs(doc);
}

BOOST_AUTO_TEST_CASE(the_openapi_order_statuses_are_the_orders_own_status_names) {
  namespace order = ordermesh::actors::order;
  auto doc = json::parse(openapi_document());
  std::vector<std::string> expected;
  for (const auto& [status, name] : order::order_status_names) {
    if (status != order::order_status::none) {
      expected.emplace_back(name);
    }
    BOOST_TEST((order::order_status_from(name) == std::optional<order::order_status>{status}));
  }
  const auto listed = doc.at("components")
                          .at("schemas")
                          .at("Order")
                          .at("properties")
                          .at("status")
                          .at("enum")
                          .get<std::vector<std::string>>();
  BOOST_TEST(listed == expected, boost::test_tools::per_element());
  BOOST_TEST(!order::order_status_from("shipped").has_value());
}

BOOST_AUTO_TEST_CASE(openapi_describes_each_route_as_the_route_table_says) {
  auto doc = json::parse(openapi_document());
  for (const auto& route : gateway_api::endpoints()) {
    std::string method = route.method;
    for (auto& ch : method) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    const auto where = std::string{route.method} + " " + route.pattern;
    const auto& op = doc.at("paths").at(route.pattern).at(method);
    BOOST_TEST(op.value("operationId", "") == route.operation_id, where);
    const auto& responses = op.at("responses");
    // Per-client routes are identified (401) and rate limited (429); the others are neither.
    BOOST_TEST(responses.contains("401") == route.per_client, where);
    BOOST_TEST(responses.contains("429") == route.per_client, where);
    const bool takes_json =
        op.contains("requestBody") && op["requestBody"].at("content").contains("application/json");
    BOOST_TEST(takes_json == (route.consumes == body_kind::json), where);
  }
}

BOOST_AUTO_TEST_CASE(the_near_cache_expires_and_never_keeps_a_fill_older_than_an_invalidation) {
  using namespace std::chrono_literals;
  near_cache c{2000ms, 4}; // bytes: "a" + "new", or two one-byte keys with one-byte values
  const auto t0 = near_cache::clock::time_point{} + 1h;
  auto ticket = c.begin_fill("a");
  c.fill("a", ticket, std::string{"1"}, t0);
  BOOST_TEST(c.get("a", t0 + 1999ms).value_or("") == "1");
  BOOST_TEST(!c.get("a", t0 + 2000ms).has_value());
  // A load that read the old row before the projection invalidated it is discarded.
  ticket = c.begin_fill("a");
  c.invalidate("a");
  c.fill("a", ticket, std::string{"old"}, t0);
  BOOST_TEST(!c.get("a", t0).has_value());
  // The next load is kept.
  ticket = c.begin_fill("a");
  c.fill("a", ticket, std::string{"new"}, t0);
  BOOST_TEST(c.get("a", t0).value_or("") == "new");
  // Bounded: the oldest entry goes first.
  for (const auto* k : {"b", "c"}) {
    c.fill(k, c.begin_fill(k), std::string{k}, t0);
  }
  BOOST_TEST(c.size() == 2u);
  BOOST_TEST(!c.get("a", t0).has_value());
  BOOST_TEST(c.get("c", t0).value_or("") == "c");
  // clear(): everything goes, and fills in flight are voided.
  ticket = c.begin_fill("d");
  c.clear();
  c.fill("d", ticket, std::string{"d"}, t0);
  BOOST_TEST(c.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_hot_key_invalidated_and_refilled_many_times_keeps_the_near_cache_bounded) {
  using namespace std::chrono_literals;
  near_cache c{2000ms, 8}; // bytes: "hot" + "last" and one more, or four of "a" + "a"
  const auto t0 = near_cache::clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) {
    c.fill("hot", c.begin_fill("hot"), std::to_string(i), t0);
    c.invalidate("hot");
  }
  c.fill("hot", c.begin_fill("hot"), std::string{"last"}, t0);
  BOOST_TEST(c.size() == 1u);
  BOOST_TEST(c.tracked_keys() <= 4u);
  // Trimming still drops the oldest live key first, whatever was invalidated in between.
  for (const auto* k : {"a", "b", "c", "d"}) {
    c.fill(k, c.begin_fill(k), std::string{k}, t0);
  }
  BOOST_TEST(!c.get("hot", t0).has_value());
  BOOST_TEST(c.get("a", t0).value_or("") == "a");
  BOOST_TEST(c.size() == 4u);
  BOOST_TEST(c.tracked_keys() == 4u);
}

BOOST_AUTO_TEST_CASE(the_near_cache_holds_at_most_its_byte_budget_and_drops_expired_entries) {
  using namespace std::chrono_literals;
  // A client reading many large orders must not grow the cache past its byte budget.
  near_cache c{2000ms, 1000};
  const auto t0 = near_cache::clock::time_point{} + 1h;
  const std::string body(100, 'x');
  for (int i = 0; i < 100; ++i) {
    const auto key = "order:" + std::to_string(i);
    c.fill(key, c.begin_fill(key), body, t0);
  }
  BOOST_TEST(c.size() <= 1000u / 100u);
  BOOST_TEST(c.bytes() <= 1000u);
  BOOST_TEST(c.bytes() == c.size() * (std::string{"order:99"}.size() + body.size()));
  BOOST_TEST(c.get("order:99", t0).has_value()); // the newest stay
  BOOST_TEST(!c.get("order:0", t0).has_value());
  // Invalidating and refilling keeps the count exact.
  c.invalidate("order:99");
  c.fill("order:99", c.begin_fill("order:99"), std::string{"short"}, t0);
  c.fill("order:98", c.begin_fill("order:98"), std::string{"short"}, t0);
  BOOST_TEST(c.bytes() == (c.size() - 2) * (8 + body.size()) + 2 * (8 + 5));
  // A value larger than the whole budget is not kept.
  c.fill("huge", c.begin_fill("huge"), std::string(2000, 'x'), t0);
  BOOST_TEST(!c.get("huge", t0).has_value());
  BOOST_TEST(c.bytes() <= 1000u);
  // A fill drops the entries that expired meanwhile, however much room is left.
  c.fill("late", c.begin_fill("late"), std::string{"v"}, t0 + 2000ms);
  BOOST_TEST(c.size() == 1u);
  BOOST_TEST(c.bytes() == 5u);
  c.clear();
  BOOST_TEST(c.bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(leased_tokens_are_spent_locally_and_lapse) {
  using namespace std::chrono_literals;
  token_leases l{10, 1000ms, 2};
  const auto t0 = token_leases::clock::time_point{} + 1h;
  BOOST_TEST(!l.try_take("x", t0));
  l.add("x", 2, t0);
  BOOST_TEST(l.try_take("x", t0));
  BOOST_TEST(l.try_take("x", t0 + 999ms));
  BOOST_TEST(!l.try_take("x", t0 + 999ms));
  l.add("x", 5, t0);
  BOOST_TEST(!l.try_take("x", t0 + 1000ms)); // lapsed unspent
  l.add("y", 1, t0);
  l.add("z", 1, t0); // a third client while two leases live: not leased
  BOOST_TEST(!l.try_take("z", t0));
  l.add("z", 1, t0 + 2000ms); // the others lapsed: room again
  BOOST_TEST(l.try_take("z", t0 + 2000ms));
}
