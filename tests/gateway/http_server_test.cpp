#define BOOST_TEST_MODULE gateway_http_server
#include <boost/test/unit_test.hpp>

#include "gateway/http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::gateway;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using answer_t = http::response<http::string_body>;

/// Loopback, an ephemeral port, short timeouts so that failures show quickly.
config::gateway_config test_config() {
  config::gateway_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.max_body = 1024;
  cfg.request_timeout = 300ms;
  cfg.shutdown_grace = 2s;
  return cfg;
}

/// A one-shot signal between the test and a handler thread; waiting on it is the only ordering.
class latch {
public:
  void open() {
    std::call_once(once_, [this] { promise_.set_value(); });
  }
  void wait() const { opened_.wait(); }
  bool is_open() const {
    return opened_.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
  }

private:
  std::once_flag once_;
  std::promise<void> promise_;
  std::shared_future<void> opened_ = promise_.get_future().share();
};

/// Threads started by async handlers, joined (their latches opened) before the server goes away.
struct helpers {
  ~helpers() {
    released.open();
    client_has_504.open();
    for (auto& t : threads) {
      t.join();
    }
  }
  std::vector<std::thread> threads;
  /// A GET /held has reached its handler.
  latch held_arrived;
  /// Lets GET /held answer.
  latch released;
  /// The client has read the 504 for GET /too-late.
  latch client_has_504;
  /// What the responder of GET /too-late returned.
  std::promise<bool> too_late_accepted;
};

/// The routes every test serves.
route_table test_routes(helpers& h) {
  route_table routes;
  routes.add("GET", "/orders/{id}", [](const request& req, const responder& answer) {
    answer(make_json(200, json{{"id", req.params.at("id")}}.dump()));
  });
  routes.add(
      "POST", "/orders",
      [](const request& req, const responder& answer) { answer(make_json(201, req.body)); },
      body_kind::json);
  routes.add("DELETE", "/orders/{id}",
             [](const request&, const responder& answer) { answer(make_json(204, "")); });
  // Answered from another thread once the test opens `released`.
  routes.add("GET", "/held", [&h](const request&, responder answer) {
    h.held_arrived.open();
    h.threads.emplace_back([&h, answer] {
      h.released.wait();
      answer(make_json(200, R"({"held":true})"));
    });
  });
  // Answered only after the client has read the server's 504 for it.
  routes.add("GET", "/too-late", [&h](const request&, responder answer) {
    h.threads.emplace_back([&h, answer] {
      h.client_has_504.wait();
      h.too_late_accepted.set_value(answer(make_json(200, "{}")));
    });
  });
  routes.add("GET", "/never", [](const request&, const responder&) {});
  // Its own deadline (1 s) replaces the server's 504 (request_timeout, 300 ms in these tests).
  routes.add("GET", "/due-later", [](const request&, const responder& answer) {
    answer.on_due(1s, [answer] { answer(make_json(202, R"({"due":true})")); });
  });
  routes.add("GET", "/peer", [](const request& req, const responder& answer) {
    answer(make_json(200, json{{"remote_address", req.remote_address}}.dump()));
  });
  return routes;
}

/// A started server on an ephemeral port, stopped at the end of the test.
struct running_gateway {
  explicit running_gateway(config::gateway_config c = test_config())
      : server(c, test_routes(async)) {
    const auto problem = server.start();
    BOOST_TEST_REQUIRE(!problem.has_value(), (problem ? *problem : std::string{}));
  }
  ~running_gateway() { server.stop(); }

  helpers async;
  http_server server;
};

/// A blocking client on one connection; reads give up after 5 s rather than hang the test.
struct client {
  explicit client(uint16_t port) : socket(ioc) {
    socket.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
    timeval tv{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void send(const std::string& raw) { asio::write(socket, asio::buffer(raw)); }

  answer_t read() {
    answer_t res;
    http::read(socket, buffer, res);
    return res;
  }

  answer_t call(const std::string& raw) {
    send(raw);
    return read();
  }

  /// True when the server has closed the connection (a read ends with end of stream).
  bool closed_by_server() {
    beast::error_code ec;
    answer_t res;
    http::read(socket, buffer, res, ec);
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset;
  }

  asio::io_context ioc;
  tcp::socket socket;
  beast::flat_buffer buffer;
};

std::string get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

std::string post(const std::string& target, const std::string& type, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: t\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

json problem_of(const answer_t& res) {
  BOOST_TEST(res[http::field::content_type] == "application/problem+json");
  return json::parse(res.body());
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_http_server)

BOOST_AUTO_TEST_CASE(answers_health_live_and_two_requests_on_one_kept_alive_connection) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto first = c.call(get("/health/live"));
  BOOST_TEST(first.result_int() == 200);
  BOOST_TEST(json::parse(first.body()) == json({{"status", "live"}}));
  BOOST_TEST(first.keep_alive());
  const auto second = c.call(get("/orders/42"));
  BOOST_TEST(second.result_int() == 200);
  BOOST_TEST(json::parse(second.body())["id"] == "42");
}

BOOST_AUTO_TEST_CASE(tells_a_handler_the_peer_s_ip_address) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto res = c.call(get("/peer"));
  BOOST_TEST(res.result_int() == 200);
  BOOST_TEST(json::parse(res.body())["remote_address"] == "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(answers_pipelined_requests_in_order) {
  running_gateway gw;
  client c{gw.server.port()};
  // The first is answered only when the test says so, after the second has been sent.
  c.send(get("/held") + get("/orders/7"));
  gw.async.held_arrived.wait();
  gw.async.released.open();
  const auto first = c.read();
  const auto second = c.read();
  BOOST_TEST(first.result_int() == 200);
  BOOST_TEST(first.body() == R"({"held":true})");
  BOOST_TEST(json::parse(second.body())["id"] == "7");
}

BOOST_AUTO_TEST_CASE(answers_an_unknown_path_with_a_404_problem) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto res = c.call(get("/nowhere?x=1"));
  BOOST_TEST(res.result_int() == 404);
  const auto p = problem_of(res);
  BOOST_TEST(p["status"] == 404);
  BOOST_TEST(p["type"] == "about:blank");
  BOOST_TEST(p["title"] == "Not Found");
  BOOST_TEST(p["instance"] == "/nowhere");
  BOOST_TEST(p.contains("detail"));
  BOOST_TEST(c.call(get("/orders/1/extra")).result_int() == 404);
}

BOOST_AUTO_TEST_CASE(answers_a_wrong_method_with_405_and_the_allowed_methods) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto res = c.call("PUT /orders/9 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  BOOST_TEST(res.result_int() == 405);
  BOOST_TEST(res[http::field::allow] == "DELETE, GET");
  BOOST_TEST(problem_of(res)["status"] == 405);
}

BOOST_AUTO_TEST_CASE(answers_a_body_over_max_body_with_413_and_closes) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto res = c.call(post("/orders", "application/json", std::string(2048, 'x')));
  BOOST_TEST(res.result_int() == 413);
  BOOST_TEST(problem_of(res)["status"] == 413);
  BOOST_TEST(!res.keep_alive());
}

BOOST_AUTO_TEST_CASE(answers_a_non_json_body_on_a_json_route_with_415) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto res = c.call(post("/orders", "text/plain", "hello"));
  BOOST_TEST(res.result_int() == 415);
  BOOST_TEST(problem_of(res)["status"] == 415);
  const auto ok = c.call(post("/orders", "application/json; charset=utf-8", R"({"a":1})"));
  BOOST_TEST(ok.result_int() == 201);
  BOOST_TEST(ok.body() == R"({"a":1})");
}

BOOST_AUTO_TEST_CASE(answers_malformed_http_with_400_and_keeps_serving) {
  running_gateway gw;
  client bad{gw.server.port()};
  const auto res = bad.call("this is not http\r\n\r\n");
  BOOST_TEST(res.result_int() == 400);
  BOOST_TEST(problem_of(res)["status"] == 400);
  BOOST_TEST(bad.closed_by_server());
  client good{gw.server.port()};
  BOOST_TEST(good.call(get("/health/live")).result_int() == 200);
}

BOOST_AUTO_TEST_CASE(delivers_an_answer_given_later_from_another_thread) {
  running_gateway gw;
  client c{gw.server.port()};
  c.send(get("/held"));
  gw.async.held_arrived.wait();
  BOOST_TEST(c.socket.available() == 0u); // nothing answered before the handler's thread does
  gw.async.released.open();
  const auto res = c.read();
  BOOST_TEST(res.result_int() == 200);
  BOOST_TEST(res.body() == R"({"held":true})");
  BOOST_TEST(c.call(get("/health/live")).result_int() == 200);
}

BOOST_AUTO_TEST_CASE(answers_504_when_a_handler_never_answers_within_request_timeout) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto start = std::chrono::steady_clock::now();
  const auto res = c.call(get("/never"));
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(res.result_int() == 504);
  BOOST_TEST(problem_of(res)["status"] == 504);
  // Not before the timeout (a timer never fires early); how much later is the machine's business.
  BOOST_TEST((took >= 300ms));
}

BOOST_AUTO_TEST_CASE(a_handler_s_own_deadline_replaces_the_504_and_runs_when_due_not_before) {
  running_gateway gw;
  client c{gw.server.port()};
  const auto start = std::chrono::steady_clock::now();
  const auto res = c.call(get("/due-later"));
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(res.result_int() == 202);
  BOOST_TEST(res.body() == R"({"due":true})");
  BOOST_TEST((took >= 1s)); // a timer never fires early
  BOOST_TEST(c.call(get("/health/live")).result_int() == 200);
}

BOOST_AUTO_TEST_CASE(ignores_an_answer_given_after_the_504_and_keeps_the_connection) {
  running_gateway gw;
  client c{gw.server.port()};
  BOOST_TEST(c.call(get("/too-late")).result_int() == 504);
  gw.async.client_has_504.open();
  BOOST_TEST(gw.async.too_late_accepted.get_future().get() == false);
  BOOST_TEST(c.call(get("/health/live")).result_int() == 200);
}

BOOST_AUTO_TEST_CASE(answers_503_with_retry_after_beyond_max_connections) {
  auto cfg = test_config();
  cfg.max_connections = 2;
  cfg.request_timeout = 5s;
  running_gateway gw{cfg};
  client a{gw.server.port()};
  client b{gw.server.port()};
  BOOST_TEST(a.call(get("/health/live")).result_int() == 200);
  BOOST_TEST(b.call(get("/health/live")).result_int() == 200);
  client c{gw.server.port()};
  const auto res = c.call(get("/health/live"));
  BOOST_TEST(res.result_int() == 503);
  BOOST_TEST(res[http::field::retry_after] == "1");
  BOOST_TEST(problem_of(res)["status"] == 503);
  BOOST_TEST(c.closed_by_server());
}

BOOST_AUTO_TEST_CASE(stop_lets_a_request_in_flight_finish_and_refuses_new_connections) {
  auto cfg = test_config();
  cfg.shutdown_grace = 120s; // stop() must be waiting for the request, however slow the machine
  cfg.request_timeout = 120s;
  running_gateway gw{cfg};
  const auto port = gw.server.port();
  client c{port};
  c.send(get("/held"));
  gw.async.held_arrived.wait(); // in flight
  auto stopped = std::async(std::launch::async, [&gw] { gw.server.stop(); });
  // Once stop() has closed the acceptor, connecting is refused (asked until it is, or 10 s).
  const auto refused = [port] {
    asio::io_context ioc;
    tcp::socket late{ioc};
    beast::error_code ec;
    late.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}, ec);
    return ec == asio::error::connection_refused;
  };
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  bool was_refused = refused();
  while (!was_refused && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(5ms); // polling interval, not ordering
    was_refused = refused();
  }
  BOOST_TEST(was_refused);
  // stop() waits for the request in flight...
  BOOST_TEST((stopped.wait_for(0s) == std::future_status::timeout));
  gw.async.released.open();
  // ...which is answered, with Connection: close.
  const auto res = c.read();
  BOOST_TEST(res.result_int() == 200);
  BOOST_TEST(res.body() == R"({"held":true})");
  BOOST_TEST(!res.keep_alive());
  stopped.get();
}

BOOST_AUTO_TEST_SUITE_END()
