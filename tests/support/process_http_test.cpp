#define BOOST_TEST_MODULE support_process_http
#include <boost/test/unit_test.hpp>

#include "gateway/http_server.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <system_error>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;

namespace {

/// The gateway's HTTP server on an ephemeral loopback port with a few routes.
struct echo_server {
  echo_server() : server(config(), routes()) {
    const auto problem = server.start();
    BOOST_TEST_REQUIRE(!problem.has_value(), (problem ? *problem : std::string{}));
  }
  ~echo_server() { server.stop(); }

  static config::gateway_config config() {
    config::gateway_config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.max_body = 1024;
    cfg.request_timeout = 2s;
    cfg.shutdown_grace = 1s;
    return cfg;
  }

  static gateway::route_table routes() {
    gateway::route_table routes;
    // Echoes the body, the Idempotency-Key header and the Content-Type it received.
    routes.add("POST", "/echo", [](const gateway::request& req, const gateway::responder& answer) {
      auto r = gateway::make_json(201, nlohmann::json{{"body", req.body},
                                                      {"key", req.header("idempotency-key")},
                                                      {"content_type", req.header("content-type")}}
                                           .dump());
      answer(std::move(r));
    });
    routes.add(
        "GET", "/items/{id}", [](const gateway::request& req, const gateway::responder& answer) {
          answer(gateway::make_json(200, nlohmann::json{{"id", req.params.at("id")}}.dump()));
        });
    routes.add("GET", "/never", [](const gateway::request&, const gateway::responder&) {});
    return routes;
  }

  gateway::http_server server;
};

} // namespace

BOOST_AUTO_TEST_SUITE(child_process_)

BOOST_AUTO_TEST_CASE(reports_the_exit_code_and_keeps_what_the_program_wrote) {
  child_process p{{"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}};
  const auto status = p.wait_exit(10s);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->code.value_or(-1) == 3);
  BOOST_TEST(!status->success());
  BOOST_TEST(!p.running());
  BOOST_TEST(p.output() == "to-stdout\nto-stderr\n");
  BOOST_TEST(p.output_tail(1) == "to-stderr\n");
}

BOOST_AUTO_TEST_CASE(passes_extra_environment_variables_over_the_inherited_ones) {
  ::setenv("OM_SUPPORT_INHERITED", "kept", 1);
  ::setenv("OM_SUPPORT_OVERRIDDEN", "old", 1);
  child_process p{{"sh", "-c", "echo $OM_SUPPORT_INHERITED $OM_SUPPORT_OVERRIDDEN $OM_SUPPORT_NEW"},
                  {{"OM_SUPPORT_OVERRIDDEN", "new"}, {"OM_SUPPORT_NEW", "added"}}};
  BOOST_TEST_REQUIRE(p.wait_exit(10s).has_value());
  BOOST_TEST(p.output() == "kept new added\n");
}

BOOST_AUTO_TEST_CASE(terminate_ends_a_program_with_sigterm_within_the_grace) {
  child_process p{{"sleep", "30"}};
  BOOST_TEST(p.running());
  BOOST_TEST(!p.wait_exit(50ms).has_value());
  const auto status = p.terminate(5s);
  BOOST_TEST(status.signal == SIGTERM);
  BOOST_TEST(!p.running());
}

BOOST_AUTO_TEST_CASE(terminate_falls_back_to_sigkill_when_sigterm_is_ignored) {
  // An ignored signal stays ignored across exec, so sleep itself ignores SIGTERM.
  child_process p{{"sh", "-c", "trap '' TERM; echo trapped; exec sleep 30"}};
  BOOST_TEST_REQUIRE(p.wait_for_output("trapped", 10s).has_value()); // the trap is installed
  const auto started = std::chrono::steady_clock::now();
  const auto status = p.terminate(300ms);
  BOOST_TEST(status.signal == SIGKILL);
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 300ms));
}

BOOST_AUTO_TEST_CASE(kill_now_keeps_the_status_of_a_program_that_had_already_exited) {
  child_process p{{"true"}};
  BOOST_TEST_REQUIRE(p.wait_exit(10s).has_value());
  BOOST_TEST(p.kill_now().success());
  BOOST_TEST(p.terminate(1s).success());
}

BOOST_AUTO_TEST_CASE(the_destructor_kills_and_reaps_the_program) {
  pid_t pid = 0;
  {
    child_process p{{"sleep", "30"}};
    pid = p.pid();
    BOOST_TEST(::kill(pid, 0) == 0);
  }
  // Reaped: the PID no longer names a process (not even a zombie) of ours.
  BOOST_TEST(::kill(pid, 0) == -1);
  BOOST_TEST(errno == ESRCH);
}

BOOST_AUTO_TEST_CASE(a_program_that_does_not_exist_is_an_error_at_start) {
  BOOST_CHECK_THROW(child_process({"/nonexistent/ordermesh-nothing"}), std::system_error);
  BOOST_CHECK_THROW(child_process({"ordermesh-no-such-program-in-path"}), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(free_tcp_port_returns_a_port_that_can_be_bound) {
  const auto port = free_tcp_port();
  BOOST_TEST(port > 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  BOOST_TEST(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

BOOST_AUTO_TEST_SUITE(http_client_)

BOOST_AUTO_TEST_CASE(sends_json_with_headers_and_reads_status_headers_and_body) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port()};
  const auto r = client.request("POST", "/echo", R"({"a":1})", {{"Idempotency-Key", "k-1"}});
  BOOST_TEST(r.status == 201u);
  BOOST_TEST(r.header("CONTENT-type").value_or("") == "application/json");
  BOOST_TEST(!r.header("X-Not-There").has_value());
  const auto doc = r.json();
  BOOST_TEST(doc.at("body").get<std::string>() == R"({"a":1})");
  BOOST_TEST(doc.at("key").get<std::string>() == "k-1");
  BOOST_TEST(doc.at("content_type").get<std::string>() == "application/json");
  BOOST_TEST(r.keep_alive);
}

BOOST_AUTO_TEST_CASE(keeps_one_connection_across_requests) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port()};
  BOOST_TEST(!client.connected());
  BOOST_TEST(client.request("GET", "/items/1").json().at("id") == "1");
  BOOST_TEST(client.connected());
  BOOST_TEST(client.request("GET", "/items/2").json().at("id") == "2");
  BOOST_TEST(client.request("GET", "/nope").status == 404u);
}

BOOST_AUTO_TEST_CASE(reconnects_after_the_connection_was_closed) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port()};
  BOOST_TEST(client.request("GET", "/items/1").status == 200u);
  client.request("GET", "/items/2", "", {{"Connection", "close"}});
  BOOST_TEST(!client.connected());
  BOOST_TEST(client.request("GET", "/items/3").json().at("id") == "3");
}

BOOST_AUTO_TEST_CASE(reads_pipelined_responses_in_order) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port()};
  client.send_raw("GET /items/a HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /items/b HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /items/c HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto responses = client.read_responses(3);
  BOOST_TEST_REQUIRE(responses.size() == 3u);
  BOOST_TEST(responses[0].json().at("id") == "a");
  BOOST_TEST(responses[1].json().at("id") == "b");
  BOOST_TEST(responses[2].json().at("id") == "c");
}

BOOST_AUTO_TEST_CASE(sees_a_malformed_request_answered_400_and_the_connection_closed) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port()};
  client.send_raw("NOT HTTP AT ALL\r\n\r\n");
  BOOST_TEST(client.read_responses(1).front().status == 400u);
  BOOST_TEST(client.closed_by_server());
}

BOOST_AUTO_TEST_CASE(a_call_without_an_answer_times_out_with_an_error) {
  echo_server s;
  http_client client{"127.0.0.1", s.server.port(), 200ms};
  BOOST_CHECK_THROW(client.request("GET", "/never"), http_client_error);
  BOOST_TEST(!client.connected());
  BOOST_TEST(client.request("GET", "/items/after").status == 200u);
}

BOOST_AUTO_TEST_CASE(a_refused_connection_is_an_error) {
  reserved_port nobody_listens;
  http_client client{"127.0.0.1", nobody_listens.port(), 1s};
  BOOST_CHECK_THROW(client.request("GET", "/"), http_client_error);
}

BOOST_AUTO_TEST_CASE(wait_until_ready_polls_until_the_server_answers_200) {
  reserved_port reserved; // held until the server listens on it: nobody else can take it
  const auto port = reserved.port();
  http_client client{"127.0.0.1", port};
  BOOST_TEST(!client.wait_until_ready("/health/live", 200ms));
  // A server that starts listening 300 ms later.
  auto cfg = echo_server::config();
  cfg.port = port;
  gateway::http_server late{cfg, echo_server::routes()};
  std::optional<std::string> start_problem;
  std::thread starter{[&] {
    std::this_thread::sleep_for(300ms);
    start_problem = late.start();
  }};
  const bool ready = client.wait_until_ready("/health/live", 10s);
  starter.join();
  BOOST_TEST(!start_problem.has_value());
  BOOST_TEST(ready);
  late.stop();
}

BOOST_AUTO_TEST_SUITE_END()
