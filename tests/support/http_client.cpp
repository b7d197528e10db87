#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <sstream>
#include <thread>

namespace ordermesh::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// Largest response body read (Beast's default for responses is 8 MiB).
constexpr std::uint64_t max_body = 64ull * 1024 * 1024;

/// True for the errors that mean "the peer closed the connection".
bool is_closed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

http_response to_response(http::response<http::string_body>&& res) {
  http_response out;
  out.status = res.result_int();
  out.keep_alive = res.keep_alive();
  for (const auto& field : res) {
    out.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
  }
  out.body = std::move(res.body());
  return out;
}

} // namespace

std::optional<std::string> http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

nlohmann::json http_response::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error{"response body (status " + std::to_string(status) +
                             ") is not JSON: " + e.what() + "; body: " + body.substr(0, 500)};
  }
}

struct http_client::impl {
  impl(std::string h, uint16_t p, std::chrono::milliseconds t)
      : host{std::move(h)}, port{p}, timeout{t} {}

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  /// Responses read on the current connection (0: it is fresh).
  std::size_t answered = 0;

  std::string where() const { return host + ":" + std::to_string(port); }

  /// Runs the async operation started by `start` to completion; its error (timeout included).
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
      stream.reset();
    }
    buffer.clear();
    answered = 0;
  }

  [[noreturn]] void fail(const std::string& what, const beast::error_code& ec) {
    close();
    throw http_client_error{what + " (" + where() + "): " +
                            (ec == beast::error::timeout
                                 ? "timed out after " + std::to_string(timeout.count()) + " ms"
                                 : ec.message())};
  }

  void ensure_connected() {
    if (stream) {
      return;
    }
    tcp::resolver resolver{ioc};
    beast::error_code ec;
    const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) {
      fail("resolve", ec);
    }
    stream.emplace(ioc);
    stream->expires_after(timeout);
    ec = run([&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
    if (ec) {
      fail("connect", ec);
    }
    stream->socket().set_option(tcp::no_delay{true}, ec);
    buffer.clear();
    answered = 0;
  }

  beast::error_code write(std::string_view bytes) {
    stream->expires_after(timeout);
    return run([&](auto handler) {
      asio::async_write(*stream, asio::buffer(bytes.data(), bytes.size()), std::move(handler));
    });
  }

  /// Reads one response; `head` when it answers a HEAD request (no body follows).
  beast::error_code read(http::response<http::string_body>& out, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    parser.skip(head);
    stream->expires_after(timeout);
    auto ec =
        run([&](auto handler) { http::async_read(*stream, buffer, parser, std::move(handler)); });
    if (!ec) {
      out = parser.release();
      ++answered;
    }
    return ec;
  }
};

http_client::http_client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_{std::make_unique<impl>(std::move(host), port, timeout)} {}

http_client::~http_client() {
  impl_->close();
}

http_response http_client::request(std::string_view method, std::string_view target,
                                   std::string body, const header_list& headers) {
  http::request<http::string_body> req;
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    req.method_string(method);
  } else {
    req.method(verb);
  }
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  req.set(http::field::user_agent, "ordermesh-test");
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.insert(name, value);
    has_content_type = has_content_type || beast::iequals(name, "content-type");
  }
  if (!body.empty() && !has_content_type) {
    req.set(http::field::content_type, "application/json");
  }
  req.body() = std::move(body);
  req.prepare_payload();
  std::ostringstream wire;
  wire << req;
  const auto bytes = wire.str();
  const bool head = verb == http::verb::head;

  for (int attempt = 0;; ++attempt) {
    impl_->ensure_connected();
    const bool reused = impl_->answered > 0;
    auto ec = impl_->write(bytes);
    http::response<http::string_body> res;
    if (!ec) {
      ec = impl_->read(res, head);
    }
    if (!ec) {
      if (!res.keep_alive()) {
        impl_->close();
      }
      return to_response(std::move(res));
    }
    // A keep-alive connection the server closed while it was idle: nothing of this request
    // was answered, so send it again once on a new connection.
    if (reused && attempt == 0 && is_closed(ec)) {
      impl_->close();
      continue;
    }
    impl_->fail(std::string{method} + " " + std::string{target}, ec);
  }
}

void http_client::send_raw(std::string_view bytes) {
  impl_->ensure_connected();
  if (auto ec = impl_->write(bytes)) {
    impl_->fail("send_raw", ec);
  }
}

std::vector<http_response> http_client::read_responses(std::size_t n) {
  impl_->ensure_connected();
  std::vector<http_response> out;
  out.reserve(n);
  while (out.size() < n) {
    http::response<http::string_body> res;
    if (auto ec = impl_->read(res)) {
      impl_->fail("read_responses: response " + std::to_string(out.size() + 1) + " of " +
                      std::to_string(n),
                  ec);
    }
    out.push_back(to_response(std::move(res)));
  }
  return out;
}

bool http_client::closed_by_server() {
  if (!impl_->stream) {
    return true;
  }
  http::response<http::string_body> res;
  const auto ec = impl_->read(res);
  if (!ec || ec == beast::error::timeout) {
    if (ec) {
      impl_->close(); // a timed-out read leaves the stream unusable
    }
    return false;
  }
  impl_->close();
  return is_closed(ec);
}

bool http_client::wait_until_ready(std::string_view path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto call_timeout = impl_->timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    impl_->timeout = std::clamp(left, std::chrono::milliseconds{1}, call_timeout);
    try {
      close();
      const auto status = request("GET", path).status;
      impl_->timeout = call_timeout;
      if (status == 200) {
        return true;
      }
    } catch (const http_client_error&) {
      impl_->timeout = call_timeout; // not listening yet
    }
    if (std::chrono::steady_clock::now() + 50ms >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
}

void http_client::close() {
  impl_->close();
}

bool http_client::connected() const {
  return impl_->stream.has_value();
}

void http_client::set_timeout(std::chrono::milliseconds timeout) {
  impl_->timeout = timeout;
}

std::chrono::milliseconds http_client::timeout() const {
  return impl_->timeout;
}

} // namespace ordermesh::testing
