#include "psp/client/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>

namespace ordermesh::psp {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr std::size_t max_answer_body = 1024 * 1024;
constexpr std::size_t max_detail = 200;

using response = http::response<http::string_body>;

/// Ids go into the request target: only the characters the stand-in's ids are made of.
bool is_safe_id(const std::string& id) {
  return !id.empty() && id.size() <= 255 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

/// Keys go into a header: printable ASCII only, so that nothing can be smuggled into the request.
bool is_safe_key(const std::string& key) {
  return !key.empty() && key.size() <= 255 &&
         std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

/// An error that a reused keep-alive connection shows when the server had closed it meanwhile.
bool is_stale_connection(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

} // namespace

std::string shorten_detail(const std::string& text) {
  // The PSP may send any bytes: a lenient encode replaces invalid ones, and parsing it back
  // gives valid UTF-8.
  auto out = json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace))
                 .get<std::string>();
  if (out.size() <= max_detail) {
    return out;
  }
  // Never keep part of a character: back off over continuation bytes (10xxxxxx) to its start.
  auto cut = max_detail;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  out.resize(cut);
  return out + "...";
}

namespace {

/// The detail of a problem+json body, else the body itself, shortened.
std::string detail_of(const response& res) {
  const auto doc = json::parse(res.body(), nullptr, false);
  if (doc.is_object()) {
    for (const char* field : {"detail", "title"}) {
      if (const auto it = doc.find(field); it != doc.end() && it->is_string()) {
        return shorten_detail(it->get<std::string>());
      }
    }
  }
  return shorten_detail("HTTP " + std::to_string(res.result_int()) + ": " + res.body());
}

std::string string_field(const json& doc, const char* name) {
  const auto it = doc.find(name);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// Maps an answer to an outcome; `fallback_id` is used when a 200 names no id.
psp_outcome interpret(const response& res, const std::string& fallback_id) {
  const auto status = res.result_int();
  if (status >= 500) {
    return psp_failed{failure_kind::server_error, status, detail_of(res)};
  }
  if (status == 402) {
    const auto doc = json::parse(res.body(), nullptr, false);
    if (!doc.is_object()) {
      return psp_failed{failure_kind::bad_response, status, "402 without a JSON object"};
    }
    auto reason = string_field(doc, "reason");
    return psp_declined{string_field(doc, "id"), reason.empty() ? "declined" : std::move(reason)};
  }
  if (status >= 400) {
    return psp_failed{failure_kind::rejected, status, detail_of(res)};
  }
  if (status < 200 || status >= 300) {
    return psp_failed{failure_kind::bad_response, status, "unexpected " + detail_of(res)};
  }
  const auto doc = json::parse(res.body(), nullptr, false);
  if (!doc.is_object()) {
    return psp_failed{failure_kind::bad_response, status, "answer is not a JSON object"};
  }
  auto id = string_field(doc, "id");
  auto state = string_field(doc, "status");
  if (id.empty()) {
    id = fallback_id;
  }
  if (id.empty() || state.empty()) {
    return psp_failed{failure_kind::bad_response, status, "answer lacks \"id\" or \"status\""};
  }
  return psp_ok{std::move(id), std::move(state)};
}

} // namespace

const char* to_string(failure_kind kind) {
  switch (kind) {
    case failure_kind::timeout:
      return "timeout";
    case failure_kind::connection:
      return "connection";
    case failure_kind::server_error:
      return "server_error";
    case failure_kind::rejected:
      return "rejected";
    case failure_kind::bad_response:
      return "bad_response";
  }
  return "unknown";
}

struct psp_client::impl {
  explicit impl(config::psp_config c) : cfg(std::move(c)) {}

  /// Runs the io_context until the started operation has completed (on this thread).
  void run() {
    ioc.restart();
    ioc.run();
  }

  void close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
      stream.reset();
    }
    buffer.clear();
  }

  std::optional<psp_failed> connect(steady::time_point deadline) {
    beast::error_code ec;
    tcp::resolver resolver{ioc};
    const auto endpoints = resolver.resolve(cfg.host, std::to_string(cfg.port), ec);
    if (ec) {
      return psp_failed{failure_kind::connection, 0,
                        "cannot resolve " + cfg.host + ": " + ec.message()};
    }
    stream.emplace(ioc);
    stream->expires_at(deadline);
    stream->async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) {
      close();
      const auto where = cfg.host + ":" + std::to_string(cfg.port);
      if (ec == beast::error::timeout) {
        return psp_failed{failure_kind::timeout, 0, "no connection to " + where + " in time"};
      }
      return psp_failed{failure_kind::connection, 0,
                        "cannot connect to " + where + ": " + ec.message()};
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    return std::nullopt;
  }

  /// Sends `req` and reads the answer within client_timeout. A reused connection that turns out
  /// closed by the server is re-opened once; that is safe because every POST carries an
  /// idempotency key.
  std::variant<response, psp_failed> exchange(http::request<http::string_body>& req) {
    const auto deadline = steady::now() + cfg.client_timeout;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream.has_value();
      if (!stream) {
        if (auto failed = connect(deadline)) {
          return *failed;
        }
      }
      beast::error_code ec;
      stream->expires_at(deadline);
      http::async_write(*stream, req, [&ec](beast::error_code e, std::size_t) { ec = e; });
      run();
      std::optional<http::response_parser<http::string_body>> parser;
      if (!ec) {
        parser.emplace();
        parser->body_limit(max_answer_body);
        http::async_read(*stream, buffer, *parser,
                         [&ec](beast::error_code e, std::size_t) { ec = e; });
        run();
      }
      if (!ec) {
        stream->expires_never();
        auto res = parser->release();
        if (!res.keep_alive()) {
          close();
        }
        return res;
      }
      // Whatever happened, the connection's state is unknown now: never reuse it.
      const bool nothing_read = !parser || !parser->got_some();
      close();
      if (ec == beast::error::timeout) {
        return psp_failed{failure_kind::timeout, 0,
                          "no answer within " + std::to_string(cfg.client_timeout.count()) + " ms"};
      }
      if (reused && nothing_read && is_stale_connection(ec) && steady::now() < deadline) {
        continue;
      }
      if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return psp_failed{failure_kind::bad_response, 0, "not an HTTP answer: " + ec.message()};
      }
      return psp_failed{failure_kind::connection, 0, "connection broke: " + ec.message()};
    }
    return psp_failed{failure_kind::connection, 0, "connection closed by the PSP twice"};
  }

  psp_outcome call(const std::string& target, std::string body, const std::string& key,
                   const std::string& fallback_id) {
    if (!is_safe_key(key)) {
      return psp_failed{failure_kind::rejected, 0,
                        "the idempotency key must be 1 to 255 printable ASCII characters"};
    }
    try {
      http::request<http::string_body> req{http::verb::post, target, 11};
      req.set(http::field::host, cfg.host);
      req.set(http::field::user_agent, "ordermesh-psp-client");
      req.set(http::field::content_type, "application/json");
      req.set(http::field::accept, "application/json");
      req.set("Idempotency-Key", key);
      req.keep_alive(true);
      req.body() = std::move(body);
      req.prepare_payload();
      auto answer = exchange(req);
      if (auto* failed = std::get_if<psp_failed>(&answer)) {
        return std::move(*failed);
      }
      return interpret(std::get<response>(answer), fallback_id);
    } catch (const std::exception& e) {
      close();
      return psp_failed{failure_kind::connection, 0, std::string{"client error: "} + e.what()};
    }
  }

  config::psp_config cfg;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

psp_client::psp_client(config::psp_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

psp_client::~psp_client() {
  impl_->close();
}

psp_outcome psp_client::authorize(int64_t amount_cents, const std::string& card_token,
                                  const std::string& idempotency_key, const std::string& currency) {
  const json body{
      {"amount_cents", amount_cents}, {"currency", currency}, {"card_token", card_token}};
  return impl_->call("/v1/authorizations",
                     body.dump(-1, ' ', false, json::error_handler_t::replace), idempotency_key,
                     {});
}

psp_outcome psp_client::sale(int64_t amount_cents, const std::string& card_token,
                             const std::string& idempotency_key, const std::string& currency) {
  const json body{
      {"amount_cents", amount_cents}, {"currency", currency}, {"card_token", card_token}};
  return impl_->call("/v1/sales", body.dump(-1, ' ', false, json::error_handler_t::replace),
                     idempotency_key, {});
}

psp_outcome psp_client::capture(const std::string& authorization_id,
                                const std::string& idempotency_key) {
  if (!is_safe_id(authorization_id)) {
    return psp_failed{failure_kind::rejected, 0, "not an authorization id"};
  }
  return impl_->call("/v1/authorizations/" + authorization_id + "/capture", "{}", idempotency_key,
                     authorization_id);
}

psp_outcome psp_client::refund(const std::string& authorization_id,
                               const std::string& idempotency_key) {
  if (!is_safe_id(authorization_id)) {
    return psp_failed{failure_kind::rejected, 0, "not an authorization id"};
  }
  return impl_->call("/v1/authorizations/" + authorization_id + "/refund", "{}", idempotency_key,
                     authorization_id);
}

psp_outcome psp_client::void_authorization(const std::string& authorization_key,
                                           const std::string& idempotency_key) {
  if (!is_safe_key(authorization_key)) {
    return psp_failed{failure_kind::rejected, 0, "not an authorization's idempotency key"};
  }
  const json body{{"authorization_key", authorization_key}};
  return impl_->call("/v1/voids", body.dump(), idempotency_key, authorization_key);
}

psp_outcome psp_client::reverse(const std::string& authorization_key,
                                const std::string& idempotency_key) {
  if (!is_safe_key(authorization_key)) {
    return psp_failed{failure_kind::rejected, 0, "not an authorization's idempotency key"};
  }
  const json body{{"authorization_key", authorization_key}};
  return impl_->call("/v1/reversals", body.dump(), idempotency_key, authorization_key);
}

void psp_client::close() {
  impl_->close();
}

} // namespace ordermesh::psp
