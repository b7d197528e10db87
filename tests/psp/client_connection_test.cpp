#define BOOST_TEST_MODULE psp_client_connection
#include <boost/test/unit_test.hpp>

#include "psp/client/client.hpp"
#include "tests/support/psp_calls.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The async client against a misbehaving PSP: whatever bytes a connection carries besides the
// answer to the call in flight (a second answer, bytes after the body, an answer that comes after
// the call gave up, an answer sent to nobody) never become the answer of another call.

using namespace ordermesh;
using namespace ordermesh::psp;
using ordermesh::testing::call_and_wait;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

/// The raw answer a well-behaved PSP gives to the sale with Idempotency-Key `key`: its id is
/// "auth_<key>", so a test sees whose answer a call got.
std::string answer_to(const std::string& key) {
  const auto body = R"({"id":"auth_)" + key + R"(","status":"captured"})";
  return "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nIdempotency-Key: " + key +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// A tiny PSP on loopback (one io thread of its own) that answers each request with
/// answer(its key), answer_to(key) unless told otherwise, and misbehaves as told: answers held
/// until released, bytes sent on a connection unasked.
class misbehaving_psp {
public:
  /// `answer(key)`: the bytes written in answer to the request with Idempotency-Key `key`.
  explicit misbehaving_psp(std::function<std::string(const std::string&)> answer = answer_to)
      : answer_(std::move(answer)) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~misbehaving_psp() {
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      for (auto& c : connections_) {
        c->socket.close(ignored);
      }
    });
    ioc_.stop();
    thread_.join();
  }
  misbehaving_psp(const misbehaving_psp&) = delete;
  misbehaving_psp& operator=(const misbehaving_psp&) = delete;

  /// A client configuration for this PSP with `timeout` per call.
  config::psp_config client_config(std::chrono::milliseconds timeout = 2000ms) const {
    config::psp_config c;
    c.host = "127.0.0.1";
    c.port = port_;
    c.client_timeout = timeout;
    return c;
  }

  /// The request with Idempotency-Key `key` is read but not answered until release(key).
  void hold(const std::string& key) {
    run([this, key] { held_[key] = nullptr; });
  }

  /// Waits until the held request `key` has arrived, then writes its answer.
  void release(const std::string& key) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!run([this, key] { return held_[key] != nullptr; })) {
      BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < until), "never received " << key);
      std::this_thread::sleep_for(5ms);
    }
    auto written = std::make_shared<std::promise<void>>();
    run([this, key, written] {
      auto c = held_[key];
      held_.erase(key);
      write(c, answer_(key), [written] { written->set_value(); });
    });
    BOOST_TEST_REQUIRE((written->get_future().wait_for(20s) == std::future_status::ready));
  }

  /// Writes `bytes` unasked on the connection that got the latest answer; returns once written.
  void send_unasked(const std::string& bytes) {
    auto written = std::make_shared<std::promise<void>>();
    run([this, bytes, written] { write(last_, bytes, [written] { written->set_value(); }); });
    BOOST_TEST_REQUIRE((written->get_future().wait_for(20s) == std::future_status::ready));
  }

  /// Connections accepted so far.
  size_t connections() {
    return run([this] { return connections_.size(); });
  }

private:
  struct connection {
    explicit connection(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    std::string out;
  };
  using connection_ptr = std::shared_ptr<connection>;

  /// Runs `f` on the server's thread and returns its result.
  template <class F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task{std::move(f)};
    auto result = task.get_future();
    asio::post(ioc_, [&task] { task(); });
    return result.get();
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        return;
      }
      auto c = std::make_shared<connection>(std::move(socket));
      connections_.push_back(c);
      read(c);
      accept();
    });
  }

  void read(const connection_ptr& c) {
    c->req = {};
    http::async_read(c->socket, c->buffer, c->req, [this, c](beast::error_code ec, std::size_t) {
      if (ec) {
        return;
      }
      const auto key = std::string{c->req["Idempotency-Key"]};
      if (held_.count(key) != 0) {
        held_[key] = c;
        return read(c);
      }
      write(c, answer_(key), [] {});
      read(c);
    });
  }

  void write(const connection_ptr& c, std::string bytes, std::function<void()> written) {
    last_ = c;
    c->out = std::move(bytes);
    asio::async_write(
        c->socket, asio::buffer(c->out),
        [c, written = std::move(written)](beast::error_code, std::size_t) { written(); });
  }

  std::function<std::string(const std::string&)> answer_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::vector<connection_ptr> connections_;
  std::map<std::string, connection_ptr> held_;
  connection_ptr last_;
  std::thread thread_;
};

psp_call sale_call(const std::string& key) {
  return testing::sale_call(100, "tok_visa", key);
}

/// The id of an ok outcome, else what the outcome was.
std::string id_of(const psp_outcome& o) {
  if (const auto* ok = std::get_if<psp_ok>(&o)) {
    return ok->id;
  }
  if (const auto* failed = std::get_if<psp_failed>(&o)) {
    return std::string{"failed "} + to_string(failed->kind) + ": " + failed->detail;
  }
  return "declined";
}

/// Whether `o` is the answer to `key`, or a refusal of what came (bad_response): the two things a
/// call may get when stray bytes are on its connection. Its own answer when the client sees them
/// before sending (it opens another connection); refused if they arrive while its request is on
/// the way (they then come first, and name another call). Never another call's answer.
bool own_or_refused(const psp_outcome& o, const std::string& key) {
  if (const auto* failed = std::get_if<psp_failed>(&o)) {
    return failed->kind == failure_kind::bad_response;
  }
  return id_of(o) == "auth_" + key;
}

} // namespace

// In the two cases below the stray bytes come in the same write as the answer (one segment on
// loopback), so the client has them when the answer is read: the next call gets its own answer.

BOOST_AUTO_TEST_CASE(a_second_answer_sent_after_the_first_is_not_the_next_calls_answer) {
  misbehaving_psp psp{[](const std::string& key) {
    return key == "k1" ? answer_to("k1") + answer_to("k1") : answer_to(key);
  }};
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k1"))) == "auth_k1");
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k2"))) == "auth_k2");
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k3"))) == "auth_k3");
}

BOOST_AUTO_TEST_CASE(bytes_after_an_answers_body_do_not_spoil_the_next_call) {
  misbehaving_psp psp{[](const std::string& key) {
    return answer_to(key) + (key == "k1" ? "XYZ trailing bytes" : "");
  }};
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k1"))) == "auth_k1");
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k2"))) == "auth_k2");
}

BOOST_AUTO_TEST_CASE(an_answer_sent_unasked_on_an_idle_connection_is_not_the_next_calls_answer) {
  misbehaving_psp psp;
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k1"))) == "auth_k1");
  psp.send_unasked(answer_to("k1"));
  const auto second = call_and_wait(client, sale_call("k2"));
  BOOST_TEST(own_or_refused(second, "k2"), id_of(second));
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k3"))) == "auth_k3");
}

BOOST_AUTO_TEST_CASE(an_answer_that_comes_after_its_call_timed_out_is_not_the_next_calls_answer) {
  misbehaving_psp psp;
  psp_async_client client{psp.client_config(300ms), 1};
  psp.hold("k1");
  const auto late = call_and_wait(client, sale_call("k1"));
  BOOST_TEST_REQUIRE(std::holds_alternative<psp_failed>(late));
  BOOST_TEST((std::get<psp_failed>(late).kind == failure_kind::timeout));
  psp.release("k1");
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k2"))) == "auth_k2");
}

BOOST_AUTO_TEST_CASE(an_answer_naming_another_calls_key_is_a_bad_response_not_its_answer) {
  // What a stray answer looks like when it arrives after the next request was sent: the first
  // answer on the connection, but another call's.
  misbehaving_psp psp{[](const std::string& key) { return answer_to(key == "k2" ? "k1" : key); }};
  psp_async_client client{psp.client_config(), 1};
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k1"))) == "auth_k1");
  const auto second = call_and_wait(client, sale_call("k2"));
  BOOST_TEST_REQUIRE(std::holds_alternative<psp_failed>(second), id_of(second));
  BOOST_TEST((std::get<psp_failed>(second).kind == failure_kind::bad_response));
  BOOST_TEST(id_of(call_and_wait(client, sale_call("k3"))) == "auth_k3");
}

BOOST_AUTO_TEST_CASE(a_decided_answer_that_names_no_call_is_a_bad_response) {
  misbehaving_psp psp{[](const std::string& key) {
    const std::string body = R"({"id":"auth_)" + key + R"(","status":"captured"})";
    return "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }};
  psp_async_client client{psp.client_config(), 1};
  const auto outcome = call_and_wait(client, sale_call("k1"));
  BOOST_TEST_REQUIRE(std::holds_alternative<psp_failed>(outcome), id_of(outcome));
  BOOST_TEST((std::get<psp_failed>(outcome).kind == failure_kind::bad_response));
}

BOOST_AUTO_TEST_CASE(connections_stay_open_between_well_behaved_answers) {
  misbehaving_psp psp;
  psp_async_client client{psp.client_config(), 1};
  for (int i = 0; i < 5; ++i) {
    const auto key = "k" + std::to_string(i);
    BOOST_TEST(id_of(call_and_wait(client, sale_call(key))) == "auth_" + key);
  }
  BOOST_TEST(psp.connections() == 1u);
}
