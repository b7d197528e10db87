#define BOOST_TEST_MODULE psp_server
#include <boost/test/unit_test.hpp>

#include "psp/client/client.hpp"
#include "psp/server.hpp"
#include "tests/support/psp_calls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::psp;
using namespace ordermesh::testing;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

/// Loopback, an ephemeral port, no faults, a fixed seed.
config::psp_config test_config() {
  config::psp_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.seed = 7;
  return cfg;
}

/// A started server on an ephemeral port, stopped at the end of the test.
struct running_psp {
  explicit running_psp(config::psp_config c = test_config()) : cfg(c), server(c) {
    const auto problem = server.start();
    BOOST_TEST_REQUIRE(!problem.has_value(), (problem ? *problem : std::string{}));
    cfg.port = server.port();
  }
  ~running_psp() { server.stop(); }

  /// A client configuration pointing at this server.
  config::psp_config client_config(std::chrono::milliseconds timeout = 2000ms) const {
    auto c = cfg;
    c.client_timeout = timeout;
    return c;
  }

  config::psp_config cfg;
  psp_server server;
};

struct raw_reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
  std::string replayed;
  std::string echoed_key;
  json doc() const { return json::parse(body, nullptr, false); }
};

/// One request on a fresh connection, raw Beast, bounded by 5 s.
raw_reply raw(uint16_t port, http::verb method, const std::string& target,
              const std::string& body = {}, const std::optional<std::string>& key = std::nullopt) {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::error_code ec;
  stream.expires_after(5s);
  stream.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port},
                       [&ec](beast::error_code e) { ec = e; });
  ioc.run();
  BOOST_TEST_REQUIRE(!ec, "connect: " << ec.message());
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (key) {
    req.set("Idempotency-Key", *key);
  }
  req.body() = body;
  req.prepare_payload();
  http::async_write(stream, req, [&ec](beast::error_code e, std::size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  BOOST_TEST_REQUIRE(!ec, "write: " << ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::async_read(stream, buffer, res, [&ec](beast::error_code e, std::size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  BOOST_TEST_REQUIRE(!ec, "read: " << ec.message());
  raw_reply out;
  out.status = res.result_int();
  out.body = res.body();
  out.content_type = std::string{res[http::field::content_type]};
  out.allow = std::string{res[http::field::allow]};
  out.replayed = std::string{res["Idempotent-Replayed"]};
  out.echoed_key = std::string{res["Idempotency-Key"]};
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

std::string authorize_body(int64_t amount, const std::string& token = "tok_visa") {
  return json{{"amount_cents", amount}, {"currency", "EUR"}, {"card_token", token}}.dump();
}

const psp_ok& expect_ok(const psp_outcome& o) {
  if (const auto* f = std::get_if<psp_failed>(&o)) {
    BOOST_FAIL("expected ok, got failed " << to_string(f->kind) << " " << f->http_status << ": "
                                          << f->detail);
  }
  if (std::holds_alternative<psp_declined>(o)) {
    BOOST_FAIL("expected ok, got declined");
  }
  return std::get<psp_ok>(o);
}

const psp_failed& expect_failed(const psp_outcome& o) {
  BOOST_TEST_REQUIRE(std::holds_alternative<psp_failed>(o));
  return std::get<psp_failed>(o);
}

/// Outcomes handed back by an async client's thread, taken on the test's thread.
struct answers {
  std::function<void(psp_outcome)> collect() {
    return [this](psp_outcome o) {
      std::lock_guard<std::mutex> lock{mutex};
      got.push_back(std::move(o));
      changed.notify_all();
    };
  }
  /// Waits until `n` answers came (at most `limit`); all that came.
  std::vector<psp_outcome> wait_for(size_t n, std::chrono::milliseconds limit = 20s) {
    std::unique_lock<std::mutex> lock{mutex};
    changed.wait_for(lock, limit, [&] { return got.size() >= n; });
    return got;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<psp_outcome> got;
};

json admin_stats(uint16_t port) {
  return raw(port, http::verb::get, "/admin/stats").doc();
}

} // namespace

namespace ordermesh::psp {
// For BOOST_TEST's messages on mismatch.
std::ostream& operator<<(std::ostream& os, failure_kind kind) {
  return os << to_string(kind);
}
} // namespace ordermesh::psp

BOOST_AUTO_TEST_SUITE(happy_path)

BOOST_AUTO_TEST_CASE(authorizes_captures_and_refunds_over_one_keep_alive_connection) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto auth =
      expect_ok(call_and_wait(client, authorize_call(1250, "tok_visa", "order-1-auth")));
  BOOST_TEST(auth.status == "authorized");
  BOOST_TEST(auth.id.rfind("auth_", 0) == 0u);
  const auto captured =
      expect_ok(call_and_wait(client, call_on(psp_operation::capture, auth.id, "order-1-capture")));
  BOOST_TEST(captured.status == "captured");
  BOOST_TEST(captured.id == auth.id);
  BOOST_TEST(
      expect_ok(call_and_wait(client, call_on(psp_operation::refund, auth.id, "order-1-refund")))
          .status == "refunded");

  const auto state = raw(psp.cfg.port, http::verb::get, "/v1/authorizations/" + auth.id).doc();
  BOOST_TEST(state["status"] == "refunded");
  BOOST_TEST(state["amount_cents"] == 1250);
  const auto stats = psp.server.stats();
  BOOST_TEST(stats.authorizations == 1u);
  BOOST_TEST(stats.captures == 1u);
  BOOST_TEST(stats.refunds == 1u);
  BOOST_TEST(stats.distinct_charges == 1u);
}

BOOST_AUTO_TEST_CASE(health_answers_200) {
  running_psp psp;
  const auto r = raw(psp.cfg.port, http::verb::get, "/health");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.doc()["status"] == "ok");
}

BOOST_AUTO_TEST_CASE(the_client_reconnects_after_the_server_went_away) {
  running_psp first;
  auto cfg = first.client_config();
  psp_async_client client{cfg, 1};
  expect_ok(call_and_wait(client, authorize_call(100, "tok_visa", "k1")));
  first.server.stop();
  BOOST_TEST(expect_failed(call_and_wait(client, authorize_call(100, "tok_visa", "k2"))).kind ==
             failure_kind::connection);
  auto again = test_config();
  again.port = cfg.port;
  psp_server second{again};
  // The freed port may be taken for a moment by another process: retry the bind, and fail (never
  // pass) if the server cannot come back on the port the client knows.
  auto problem = second.start();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (problem && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
    problem = second.start();
  }
  BOOST_TEST_REQUIRE(!problem.has_value(),
                     "the server could not come back on its port: " << problem.value_or(""));
  BOOST_TEST(expect_ok(call_and_wait(client, authorize_call(100, "tok_visa", "k3"))).status ==
             "authorized");
  second.stop();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(idempotency)

BOOST_AUTO_TEST_CASE(same_key_and_body_replays_the_first_answer_and_authorizes_once) {
  running_psp psp;
  const auto body = authorize_body(500);
  const auto first = raw(psp.cfg.port, http::verb::post, "/v1/authorizations", body, "k-1");
  const auto second = raw(psp.cfg.port, http::verb::post, "/v1/authorizations", body, "k-1");
  BOOST_TEST(first.status == 201u);
  BOOST_TEST(second.status == 201u);
  BOOST_TEST(second.body == first.body);
  BOOST_TEST(second.replayed == "true");
  BOOST_TEST(first.echoed_key == "k-1");
  BOOST_TEST(second.echoed_key == "k-1");

  psp_async_client client{psp.client_config(), 1};
  const auto third = expect_ok(call_and_wait(client, authorize_call(500, "tok_visa", "k-1")));
  BOOST_TEST(third.id == first.doc()["id"].get<std::string>());

  const auto stats = admin_stats(psp.cfg.port);
  BOOST_TEST(stats["authorizations"] == 1);
  BOOST_TEST(stats["replays"] == 2);
}

BOOST_AUTO_TEST_CASE(same_key_with_another_body_is_422) {
  running_psp psp;
  BOOST_TEST(
      raw(psp.cfg.port, http::verb::post, "/v1/authorizations", authorize_body(500), "k").status ==
      201u);
  const auto r =
      raw(psp.cfg.port, http::verb::post, "/v1/authorizations", authorize_body(501), "k");
  BOOST_TEST(r.status == 422u);
  BOOST_TEST(r.content_type == "application/problem+json");
  BOOST_TEST(r.doc()["type"] == "urn:ordermesh:psp:idempotency-key-reused");
  BOOST_TEST(r.echoed_key == "k");
  BOOST_TEST(psp.server.stats().authorizations == 1u);
}

BOOST_AUTO_TEST_CASE(capturing_twice_captures_once) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto auth = expect_ok(call_and_wait(client, authorize_call(700, "tok_visa", "a")));
  BOOST_TEST(
      expect_ok(call_and_wait(client, call_on(psp_operation::capture, auth.id, "c1"))).status ==
      "captured");
  BOOST_TEST(
      expect_ok(call_and_wait(client, call_on(psp_operation::capture, auth.id, "c2"))).status ==
      "captured");
  BOOST_TEST(
      expect_ok(call_and_wait(client, call_on(psp_operation::capture, auth.id, "c1"))).status ==
      "captured");
  const auto stats = admin_stats(psp.cfg.port);
  BOOST_TEST(stats["captures"] == 1);
  BOOST_TEST(stats["distinct_charges"] == 1);
}

BOOST_AUTO_TEST_CASE(a_post_without_an_idempotency_key_is_400) {
  running_psp psp;
  const auto r = raw(psp.cfg.port, http::verb::post, "/v1/authorizations", authorize_body(5));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(r.doc()["type"] == "urn:ordermesh:psp:idempotency-key-missing");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(voids)

BOOST_AUTO_TEST_CASE(a_void_by_key_releases_the_hold_once_and_the_voided_one_cannot_be_captured) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto auth =
      expect_ok(call_and_wait(client, authorize_call(800, "tok_visa", "o1/authorize/1")));
  BOOST_TEST(psp.server.stats().open_holds == 1u);
  const auto voided = expect_ok(call_and_wait(
      client, call_on(psp_operation::void_authorization, "o1/authorize/1", "o1/authorize/1/void")));
  BOOST_TEST(voided.status == "voided");
  BOOST_TEST(voided.id == auth.id);
  BOOST_TEST(expect_ok(call_and_wait(client, call_on(psp_operation::void_authorization,
                                                     "o1/authorize/1", "another-key")))
                 .status == "voided");
  const auto stats = psp.server.stats();
  BOOST_TEST(stats.voids == 1u);
  BOOST_TEST(stats.open_holds == 0u);
  const auto capture =
      expect_failed(call_and_wait(client, call_on(psp_operation::capture, auth.id, "o1/capture")));
  BOOST_TEST(capture.http_status == 409u);
  BOOST_TEST(raw(psp.cfg.port, http::verb::get, "/v1/authorizations/" + auth.id).doc()["status"] ==
             "voided");
}

BOOST_AUTO_TEST_CASE(a_void_that_arrives_before_its_authorization_keeps_it_from_ever_holding) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(expect_ok(call_and_wait(client, call_on(psp_operation::void_authorization,
                                                     "late/authorize/1", "late/void")))
                 .status == "voided");
  const auto late =
      expect_failed(call_and_wait(client, authorize_call(800, "tok_visa", "late/authorize/1")));
  BOOST_TEST(late.http_status == 409u);
  const auto stats = psp.server.stats();
  BOOST_TEST(stats.authorizations == 0u);
  BOOST_TEST(stats.open_holds == 0u);
}

BOOST_AUTO_TEST_CASE(a_captured_authorization_cannot_be_voided_and_stays_an_open_charge) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto auth =
      expect_ok(call_and_wait(client, authorize_call(800, "tok_visa", "c/authorize/1")));
  expect_ok(call_and_wait(client, call_on(psp_operation::capture, auth.id, "c/capture")));
  BOOST_TEST(expect_failed(call_and_wait(client, call_on(psp_operation::void_authorization,
                                                         "c/authorize/1", "c/void")))
                 .http_status == 409u);
  BOOST_TEST(psp.server.stats().open_charges == 1u);
  expect_ok(call_and_wait(client, call_on(psp_operation::refund, auth.id, "c/refund")));
  BOOST_TEST(psp.server.stats().open_charges == 0u);
  BOOST_TEST(admin_stats(psp.cfg.port)["open_charges"] == 0);
}

BOOST_AUTO_TEST_CASE(voiding_a_declined_authorization_answers_declined_and_holds_nothing) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(std::holds_alternative<psp_declined>(
      call_and_wait(client, authorize_call(5, "tok_decline", "d/1"))));
  BOOST_TEST(expect_ok(call_and_wait(client,
                                     call_on(psp_operation::void_authorization, "d/1", "d/1/void")))
                 .status == "declined");
  BOOST_TEST(psp.server.stats().voids == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sales)

BOOST_AUTO_TEST_CASE(a_sale_authorizes_and_captures_in_one_call_and_charges_once_per_key) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto sold = expect_ok(call_and_wait(client, sale_call(800, "tok_visa", "o1/sale")));
  BOOST_TEST(sold.status == "captured");
  BOOST_TEST(expect_ok(call_and_wait(client, sale_call(800, "tok_visa", "o1/sale"))).id == sold.id);
  const auto stats = psp.server.stats();
  BOOST_TEST(stats.captures == 1u);
  BOOST_TEST(stats.distinct_charges == 1u);
  BOOST_TEST(stats.open_holds == 0u);
  BOOST_TEST(stats.open_charges == 1u);
  BOOST_TEST(std::holds_alternative<psp_declined>(
      call_and_wait(client, sale_call(5, "tok_decline", "o2/sale"))));
  BOOST_TEST(psp.server.stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_CASE(a_reversal_refunds_a_sale_and_a_sale_after_its_reversal_never_charges) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  expect_ok(call_and_wait(client, sale_call(800, "tok_visa", "o1/sale")));
  BOOST_TEST(expect_ok(call_and_wait(client,
                                     call_on(psp_operation::reverse, "o1/sale", "o1/sale/reverse")))
                 .status == "refunded");
  BOOST_TEST(expect_ok(call_and_wait(client, call_on(psp_operation::reverse, "o1/sale", "again")))
                 .status == "refunded");
  BOOST_TEST(psp.server.stats().refunds == 1u);
  BOOST_TEST(psp.server.stats().open_charges == 0u);
  BOOST_TEST(expect_ok(call_and_wait(client, call_on(psp_operation::reverse, "late/sale",
                                                     "late/sale/reverse")))
                 .status == "voided");
  BOOST_TEST(
      expect_failed(call_and_wait(client, sale_call(800, "tok_visa", "late/sale"))).http_status ==
      409u);
  BOOST_TEST(
      expect_ok(call_and_wait(client, call_on(psp_operation::reverse, "held/authorize/1", "r1")))
          .status == "voided");
  BOOST_TEST(psp.server.stats().open_charges == 0u);
  BOOST_TEST(psp.server.stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(declines_and_states)

BOOST_AUTO_TEST_CASE(card_tokens_follow_the_rules_listed_in_the_readme) {
  running_psp psp;
  const auto port = psp.cfg.port;
  auto status_of = [port](const std::string& token, const std::string& key) {
    return raw(port, http::verb::post, "/v1/authorizations", authorize_body(100, token), key)
        .status;
  };
  BOOST_TEST(status_of("tok_visa", "t1") == 201u);
  BOOST_TEST(status_of("tok_mastercard_2", "t2") == 201u);
  BOOST_TEST(status_of("tok_decline", "t3") == 402u);
  BOOST_TEST(status_of("tok_decline_insufficient", "t4") == 402u);
  BOOST_TEST(status_of("tok_", "t5") == 422u);
  BOOST_TEST(status_of("tok_visa!", "t6") == 422u);
  BOOST_TEST(status_of("tok_" + std::string(65, 'a'), "t7") == 422u);
  BOOST_TEST(status_of("4242424242424242", "t8") == 422u);
}

BOOST_AUTO_TEST_CASE(a_decline_token_is_declined_with_402_and_cannot_be_captured) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto outcome = call_and_wait(client, authorize_call(900, "tok_decline_any", "d1"));
  BOOST_TEST_REQUIRE(std::holds_alternative<psp_declined>(outcome));
  const auto& declined = std::get<psp_declined>(outcome);
  BOOST_TEST(declined.reason == "insufficient_funds");
  const auto capture = expect_failed(
      call_and_wait(client, call_on(psp_operation::capture, declined.id, "d1-capture")));
  BOOST_TEST(capture.kind == failure_kind::rejected);
  BOOST_TEST(capture.http_status == 409u);
  BOOST_TEST(psp.server.stats().declines == 1u);
}

BOOST_AUTO_TEST_CASE(decline_rate_one_declines_every_authorization) {
  auto cfg = test_config();
  cfg.decline_rate = 1.0;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(std::holds_alternative<psp_declined>(
      call_and_wait(client, authorize_call(1, "tok_visa", "x"))));
}

BOOST_AUTO_TEST_CASE(refund_before_capture_is_409_and_unknown_ids_are_404) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  const auto auth = expect_ok(call_and_wait(client, authorize_call(300, "tok_visa", "r1")));
  const auto refund =
      expect_failed(call_and_wait(client, call_on(psp_operation::refund, auth.id, "r1-refund")));
  BOOST_TEST(refund.kind == failure_kind::rejected);
  BOOST_TEST(refund.http_status == 409u);
  const auto unknown =
      expect_failed(call_and_wait(client, call_on(psp_operation::capture, "auth_nope", "r2")));
  BOOST_TEST(unknown.http_status == 404u);
  BOOST_TEST(raw(psp.cfg.port, http::verb::get, "/v1/authorizations/auth_nope").status == 404u);
  BOOST_TEST(psp.server.stats().refunds == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(failure_rate_one_is_a_server_error_and_authorizes_nothing) {
  auto cfg = test_config();
  cfg.failure_rate = 1.0;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(), 1};
  const auto failed = expect_failed(call_and_wait(client, authorize_call(100, "tok_visa", "f1")));
  BOOST_TEST(failed.kind == failure_kind::server_error);
  BOOST_TEST(failed.http_status == 503u);
  BOOST_TEST(psp.server.stats().authorizations == 0u);
  BOOST_TEST(psp.server.stats().injected_failures == 1u);
}

BOOST_AUTO_TEST_CASE(timeout_rate_one_makes_the_client_time_out_and_a_retry_replays) {
  auto cfg = test_config();
  cfg.timeout_rate = 1.0;
  cfg.hang = 60s;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(200ms), 1};
  const auto failed = expect_failed(call_and_wait(client, authorize_call(100, "tok_visa", "t1")));
  // The client gave up by its own deadline (timeout is only reported when it fired), not when
  // the server closed the held request after 60 s.
  BOOST_TEST(failed.kind == failure_kind::timeout);
  // The lost answer was an authorization: retried with the same key once the faults are gone,
  // the client gets it back without a second authorization.
  psp.server.set_faults(fault_settings{});
  BOOST_TEST(expect_ok(call_and_wait(client, authorize_call(100, "tok_visa", "t1"))).status ==
             "authorized");
  BOOST_TEST(psp.server.stats().authorizations == 1u);
  BOOST_TEST(psp.server.stats().replays == 1u);
}

BOOST_AUTO_TEST_CASE(latency_delays_every_payment_answer) {
  auto cfg = test_config();
  cfg.latency = 100ms;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(), 1};
  const auto start = std::chrono::steady_clock::now();
  expect_ok(call_and_wait(client, authorize_call(100, "tok_visa", "l1")));
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 100ms));
}

BOOST_AUTO_TEST_CASE(faults_change_at_run_time_through_admin_faults) {
  running_psp psp;
  const auto r = raw(psp.cfg.port, http::verb::post, "/admin/faults",
                     R"({"failure_rate": 1, "latency_ms": 5})");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.doc()["failure_rate"] == 1.0);
  BOOST_TEST(psp.server.faults().latency.count() == 5);
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(expect_failed(call_and_wait(client, authorize_call(1, "tok_visa", "a"))).http_status ==
             503u);
  BOOST_TEST(
      raw(psp.cfg.port, http::verb::post, "/admin/faults", R"({"failure_rate": 1.5})").status ==
      422u);
  BOOST_TEST(
      raw(psp.cfg.port, http::verb::post, "/admin/faults", R"({"failure_rate": 0})").status ==
      200u);
  expect_ok(call_and_wait(client, authorize_call(1, "tok_visa", "a")));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_requests)

BOOST_AUTO_TEST_CASE(malformed_json_is_400_problem_json) {
  running_psp psp;
  const auto r = raw(psp.cfg.port, http::verb::post, "/v1/authorizations", "{nope", "m1");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(r.content_type == "application/problem+json");
  const auto doc = r.doc();
  BOOST_TEST(doc["status"] == 400);
  BOOST_TEST(doc.contains("type"));
  BOOST_TEST(doc.contains("title"));
  BOOST_TEST(doc.contains("detail"));
}

BOOST_AUTO_TEST_CASE(missing_or_invalid_fields_are_422) {
  running_psp psp;
  const auto port = psp.cfg.port;
  BOOST_TEST(
      raw(port, http::verb::post, "/v1/authorizations", R"({"currency":"EUR"})", "v1").status ==
      422u);
  BOOST_TEST(raw(port, http::verb::post, "/v1/authorizations", authorize_body(0), "v2").status ==
             422u);
  BOOST_TEST(
      raw(port, http::verb::post, "/v1/authorizations", authorize_body(5, "visa"), "v3").status ==
      422u);
  BOOST_TEST(raw(port, http::verb::post, "/v1/authorizations", "[1,2]", "v4").status == 422u);
}

BOOST_AUTO_TEST_CASE(unknown_route_is_404_and_wrong_method_is_405_with_allow) {
  running_psp psp;
  BOOST_TEST(raw(psp.cfg.port, http::verb::get, "/v2/nothing").status == 404u);
  const auto r = raw(psp.cfg.port, http::verb::get, "/v1/authorizations");
  BOOST_TEST(r.status == 405u);
  BOOST_TEST(r.allow == "POST");
  BOOST_TEST(raw(psp.cfg.port, http::verb::delete_, "/admin/faults").allow == "GET, POST");
}

BOOST_AUTO_TEST_CASE(a_body_over_64_kib_is_413) {
  running_psp psp;
  const std::string big(70 * 1024, 'x');
  const auto r = raw(psp.cfg.port, http::verb::post, "/v1/authorizations", big, "big");
  BOOST_TEST(r.status == 413u);
  // The server is still serving.
  BOOST_TEST(raw(psp.cfg.port, http::verb::get, "/health").status == 200u);
}

BOOST_AUTO_TEST_CASE(garbage_instead_of_http_does_not_hurt_the_server) {
  running_psp psp;
  {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    socket.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), psp.cfg.port});
    const std::string garbage = "\x01\x02 not http at all\r\n\r\n";
    asio::write(socket, asio::buffer(garbage));
    beast::error_code ec;
    std::array<char, 512> answer{};
    const auto n = socket.read_some(asio::buffer(answer), ec);
    BOOST_TEST(std::string(answer.data(), n).rfind("HTTP/1.1 400", 0) == 0u);
  }
  BOOST_TEST(raw(psp.cfg.port, http::verb::get, "/health").status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lifecycle)

BOOST_AUTO_TEST_CASE(stop_lets_a_request_in_flight_finish) {
  auto cfg = test_config();
  cfg.latency = 300ms;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(), 1};
  answers in_flight;
  client.call(authorize_call(100, "tok_visa", "in-flight"), in_flight.collect());
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (psp.server.stats().requests == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  BOOST_TEST_REQUIRE(psp.server.stats().requests == 1u);
  psp.server.stop();
  const auto got = in_flight.wait_for(1);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(expect_ok(got[0]).status == "authorized");
}

BOOST_AUTO_TEST_CASE(stop_ends_held_requests_and_idle_connections_promptly) {
  auto cfg = test_config();
  cfg.timeout_rate = 1.0;
  cfg.hang = 60s;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(60s), 1};
  answers held;
  client.call(authorize_call(100, "tok_visa", "held"), held.collect());
  // A connection that never sends anything must not keep the server from stopping.
  asio::io_context ioc;
  tcp::socket idle{ioc};
  idle.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), psp.cfg.port});
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (psp.server.stats().injected_timeouts < 1 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  BOOST_TEST_REQUIRE(psp.server.stats().injected_timeouts == 1u);
  // Held for 60 s by the server and waited on for 60 s by the client: both bounds below are far
  // from any ordinary scheduling delay, yet far below what a server ignoring stop() would take.
  const auto start = std::chrono::steady_clock::now();
  psp.server.stop();
  BOOST_TEST((std::chrono::steady_clock::now() - start < 20s));
  const auto got = held.wait_for(1, 20s);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(expect_failed(got[0]).kind == failure_kind::connection);
}

BOOST_AUTO_TEST_CASE(a_taken_port_is_reported_by_start) {
  running_psp psp;
  auto cfg = test_config();
  cfg.port = psp.cfg.port;
  psp_server second{cfg};
  const auto problem = second.start();
  BOOST_TEST_REQUIRE(problem.has_value());
  BOOST_TEST(problem->find("cannot listen") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(async_client)

BOOST_AUTO_TEST_CASE(more_calls_than_connections_wait_their_turn_and_each_is_answered_once) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 2};
  answers a;
  for (int i = 0; i < 20; ++i) {
    client.call(sale_call(100, "tok_visa", "s" + std::to_string(i)), a.collect());
  }
  auto got = a.wait_for(20);
  BOOST_TEST_REQUIRE(got.size() == 20u);
  std::set<std::string> ids;
  for (const auto& o : got) {
    BOOST_TEST(expect_ok(o).status == "captured");
    ids.insert(std::get<psp_ok>(o).id);
  }
  BOOST_TEST(ids.size() == 20u);
  BOOST_TEST(psp.server.stats().distinct_charges == 20u);
  // Nothing more comes: each call was answered once.
  BOOST_TEST(a.wait_for(21, 200ms).size() == 20u);
}

BOOST_AUTO_TEST_CASE(calls_queued_on_one_connection_each_get_their_own_outcome) {
  running_psp psp;
  psp_async_client client{psp.client_config(), 1};
  answers a;
  client.call(authorize_call(500, "tok_visa", "a1"), a.collect());
  const auto id = expect_ok(a.wait_for(1).at(0)).id;
  client.call(call_on(psp_operation::capture, id, "c1"), a.collect());
  client.call(call_on(psp_operation::refund, "auth_nope", "r1"), a.collect());
  client.call(sale_call(100, "tok_visa", "bad\nkey"), a.collect());
  auto got = a.wait_for(4);
  BOOST_TEST_REQUIRE(got.size() == 4u);
  BOOST_TEST(expect_ok(got[1]).status == "captured");
  BOOST_TEST(expect_failed(got[2]).kind == failure_kind::rejected);
  BOOST_TEST(expect_failed(got[2]).http_status == 404u);
  BOOST_TEST(expect_failed(got[3]).kind == failure_kind::rejected);
  BOOST_TEST(psp.server.stats().distinct_charges == 1u); // not the refused sale
}

BOOST_AUTO_TEST_CASE(a_hung_psp_answers_every_call_with_a_timeout_by_its_deadline) {
  auto cfg = test_config();
  cfg.timeout_rate = 1.0;
  cfg.hang = 60s;
  running_psp psp{cfg};
  psp_async_client client{psp.client_config(300ms), 1};
  answers a;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    client.call(sale_call(100, "tok_visa", "h" + std::to_string(i)), a.collect());
  }
  auto got = a.wait_for(3);
  BOOST_TEST_REQUIRE(got.size() == 3u);
  // One connection: the first is held by the server until the client's deadline; the two
  // waiting behind it have passed theirs by then and are not sent at all.
  BOOST_TEST((std::chrono::steady_clock::now() - start < 20s));
  for (const auto& o : got) {
    BOOST_TEST(expect_failed(o).kind == failure_kind::timeout);
  }
  BOOST_TEST(psp.server.stats().injected_timeouts == 1u);
  // The connection that timed out is not reused: the next call opens a new one and succeeds.
  psp.server.set_faults(fault_settings{});
  client.call(sale_call(100, "tok_visa", "h0"), a.collect());
  BOOST_TEST(expect_ok(a.wait_for(4).at(3)).status == "captured");
}

BOOST_AUTO_TEST_CASE(stopping_the_async_client_ends_its_thread_with_a_call_in_flight) {
  auto cfg = test_config();
  cfg.timeout_rate = 1.0;
  cfg.hang = 60s;
  running_psp psp{cfg};
  answers a;
  {
    psp_async_client client{psp.client_config(60s), 1};
    client.call(sale_call(100, "tok_visa", "held"), a.collect());
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (psp.server.stats().injected_timeouts < 1 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST_REQUIRE(psp.server.stats().injected_timeouts == 1u);
    client.stop();
  }
  BOOST_TEST(a.wait_for(1, 100ms).empty());
}

BOOST_AUTO_TEST_SUITE_END()
