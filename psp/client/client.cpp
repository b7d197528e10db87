#include "psp/client/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include <pthread.h>

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

namespace {

/// A request ready to send, or why it cannot be sent.
struct prepared {
  http::request<http::string_body> req;
  /// The id an answer without one refers to.
  std::string fallback_id;
};

std::variant<prepared, psp_failed> prepare(const psp_call& call, const std::string& host) {
  const auto refused = [](const char* why) { return psp_failed{failure_kind::rejected, 0, why}; };
  std::string target;
  std::string body;
  std::string fallback_id;
  switch (call.operation) {
    case psp_operation::authorize:
    case psp_operation::sale:
      target = call.operation == psp_operation::sale ? "/v1/sales" : "/v1/authorizations";
      body = json{{"amount_cents", call.amount_cents},
                  {"currency", call.currency},
                  {"card_token", call.card_token}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
      break;
    case psp_operation::capture:
    case psp_operation::refund:
      if (!is_safe_id(call.authorization)) {
        return refused("not an authorization id");
      }
      target = "/v1/authorizations/" + call.authorization +
               (call.operation == psp_operation::capture ? "/capture" : "/refund");
      body = "{}";
      fallback_id = call.authorization;
      break;
    case psp_operation::void_authorization:
    case psp_operation::reverse:
      if (!is_safe_key(call.authorization)) {
        return refused("not an authorization's idempotency key");
      }
      target = call.operation == psp_operation::reverse ? "/v1/reversals" : "/v1/voids";
      body = json{{"authorization_key", call.authorization}}.dump();
      fallback_id = call.authorization;
      break;
  }
  if (!is_safe_key(call.idempotency_key)) {
    return refused("the idempotency key must be 1 to 255 printable ASCII characters");
  }
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "ordermesh-psp-client");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json");
  req.set("Idempotency-Key", call.idempotency_key);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return prepared{std::move(req), std::move(fallback_id)};
}

} // namespace

/// One keep-alive connection to the PSP, re-opened when it breaks, driven by an io_context: an
/// exchange runs as asynchronous steps on the context's thread and ends with exactly one call of
/// its handler, within the call's deadline (resolve, connect, send, answer).
class psp_connection {
public:
  using handler = std::function<void(psp_outcome)>;

  psp_connection(asio::io_context& ioc, config::psp_config cfg)
      : ioc_(ioc), cfg_(std::move(cfg)), resolver_(ioc), resolve_timer_(ioc) {}

  /// Sends `call` and answers `done` once, on the io_context's thread, by `deadline` (a call whose
  /// deadline passed before it started is not sent: timeout). One exchange at a time.
  void exchange(const psp_call& call, steady::time_point deadline, handler done) {
    deadline_ = deadline;
    done_ = std::move(done);
    try {
      auto ready = prepare(call, cfg_.host);
      if (auto* failed = std::get_if<psp_failed>(&ready)) {
        return finish(std::move(*failed));
      }
      auto& p = std::get<prepared>(ready);
      req_ = std::move(p.req);
      fallback_id_ = std::move(p.fallback_id);
      attempt();
    } catch (const std::exception& e) {
      fail_with_exception(e);
    }
  }

  std::chrono::milliseconds timeout() const { return cfg_.client_timeout; }

private:
  // Closes the connection; the next exchange opens a new one.
  void close() {
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_->close();
      stream_.reset();
    }
    buffer_.clear();
  }

  // A reused connection that turns out closed by the server is re-opened once; that is safe
  // because every POST carries an idempotency key.
  void attempt() {
    if (steady::now() >= deadline_) {
      return finish(psp_failed{failure_kind::timeout, 0, "no free connection in time: not sent"});
    }
    if (stream_ && holds_unasked_bytes()) {
      close();
    }
    reused_ = stream_.has_value();
    if (reused_) {
      return send();
    }
    resolve_timer_.expires_at(deadline_);
    resolve_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) {
        resolver_.cancel();
      }
    });
    resolver_.async_resolve(
        cfg_.host, std::to_string(cfg_.port),
        [this](beast::error_code ec, const tcp::resolver::results_type& endpoints) {
          resolve_timer_.cancel();
          if (ec) {
            const bool late = steady::now() >= deadline_;
            return finish(psp_failed{late ? failure_kind::timeout : failure_kind::connection, 0,
                                     "cannot resolve " + cfg_.host + ": " + ec.message()});
          }
          connect(endpoints);
        });
  }

  void connect(const tcp::resolver::results_type& endpoints) {
    stream_.emplace(ioc_);
    stream_->expires_at(deadline_);
    stream_->async_connect(endpoints, [this](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        close();
        const auto where = cfg_.host + ":" + std::to_string(cfg_.port);
        if (ec == beast::error::timeout) {
          return finish(
              psp_failed{failure_kind::timeout, 0, "no connection to " + where + " in time"});
        }
        return finish(psp_failed{failure_kind::connection, 0,
                                 "cannot connect to " + where + ": " + ec.message()});
      }
      stream_->socket().set_option(tcp::no_delay(true), ec);
      send();
    });
  }

  void send() {
    stream_->expires_at(deadline_);
    parser_.reset();
    http::async_write(*stream_, req_, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        return broke(ec);
      }
      parser_.emplace();
      parser_->body_limit(max_answer_body);
      http::async_read(*stream_, buffer_, *parser_, [this](beast::error_code ec, std::size_t) {
        if (ec) {
          return broke(ec);
        }
        stream_->expires_never();
        auto res = parser_->release();
        parser_.reset();
        // Bytes after the answer belong to no call: the connection is not reused.
        if (!res.keep_alive() || buffer_.size() != 0) {
          close();
        }
        try {
          if (auto stranger = not_this_calls(res)) {
            close();
            return finish(psp_failed{failure_kind::bad_response, res.result_int(), *stranger});
          }
          finish(interpret(res, fallback_id_));
        } catch (const std::exception& e) {
          fail_with_exception(e);
        }
      });
    });
  }

  // Whether an idle connection holds bytes nobody asked for (HTTP/1.1 answers in order, so they
  // would be read as the next call's answer), or cannot tell.
  bool holds_unasked_bytes() {
    beast::error_code ec;
    const auto waiting = stream_->socket().available(ec);
    return ec || waiting != 0 || buffer_.size() != 0;
  }

  // Why `res` is not the answer to the call in flight, if it is not: the PSP echoes the call's
  // Idempotency-Key, and a decided answer (2xx, 402) must, since it is acted upon.
  std::optional<std::string> not_this_calls(const response& res) const {
    const auto echoed = res.find("Idempotency-Key");
    if (echoed == res.end()) {
      const auto status = res.result_int();
      if ((status >= 200 && status < 300) || status == 402) {
        return std::string{"the answer names no Idempotency-Key"};
      }
      return std::nullopt;
    }
    if (echoed->value() != req_["Idempotency-Key"]) {
      return shorten_detail("an answer to another call (Idempotency-Key " +
                            std::string{echoed->value()} + ")");
    }
    return std::nullopt;
  }

  // Whatever happened, the connection's state is unknown now: never reuse it.
  void broke(const beast::error_code& ec) {
    const bool nothing_read = !parser_ || !parser_->got_some();
    parser_.reset();
    close();
    if (ec == beast::error::timeout) {
      return finish(
          psp_failed{failure_kind::timeout, 0,
                     "no answer within " + std::to_string(cfg_.client_timeout.count()) + " ms"});
    }
    if (reused_ && nothing_read && is_stale_connection(ec) && steady::now() < deadline_) {
      return attempt();
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return finish(
          psp_failed{failure_kind::bad_response, 0, "not an HTTP answer: " + ec.message()});
    }
    finish(psp_failed{failure_kind::connection, 0, "connection broke: " + ec.message()});
  }

  void fail_with_exception(const std::exception& e) {
    close();
    finish(psp_failed{failure_kind::connection, 0, std::string{"client error: "} + e.what()});
  }

  void finish(psp_outcome outcome) {
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(outcome));
  }

  asio::io_context& ioc_;
  config::psp_config cfg_;
  tcp::resolver resolver_;
  asio::steady_timer resolve_timer_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  std::string fallback_id_;
  steady::time_point deadline_;
  bool reused_ = false;
  handler done_;
};

struct psp_async_client::impl {
  struct pending {
    psp_call call;
    steady::time_point deadline;
    std::function<void(psp_outcome)> done;
  };

  impl(config::psp_config cfg, size_t connections) : work(asio::make_work_guard(ioc)) {
    for (size_t i = 0; i < std::max<size_t>(1, connections); ++i) {
      pool.push_back(std::make_unique<psp_connection>(ioc, cfg));
      idle.push_back(i);
    }
    thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "om.psp.io");
      for (;;) {
        try {
          ioc.run();
          return;
        } catch (const std::exception&) {
          // An answer handler threw; the others still run.
        }
      }
    });
  }

  // On the io thread: starts waiting calls on idle connections, oldest first.
  void run_waiting() {
    while (!waiting.empty() && !idle.empty()) {
      auto next = std::move(waiting.front());
      waiting.pop_front();
      auto connection = idle.back();
      idle.pop_back();
      pool[connection]->exchange(
          next.call, next.deadline,
          [this, connection, done = std::move(next.done)](psp_outcome outcome) {
            idle.push_back(connection);
            // Posted: the exchange has fully ended before its connection is reused.
            asio::post(ioc, [this] { run_waiting(); });
            done(std::move(outcome));
          });
    }
  }

  void stop() {
    if (thread.joinable()) {
      work.reset();
      ioc.stop();
      thread.join();
    }
  }

  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::unique_ptr<psp_connection>> pool;
  /// Indexes into `pool` of connections without an exchange; the last freed is taken first
  /// (it is the most likely still open).
  std::vector<size_t> idle;
  std::deque<pending> waiting;
  std::thread thread;
};

psp_async_client::psp_async_client(config::psp_config cfg, size_t connections)
    : impl_(std::make_unique<impl>(std::move(cfg), connections)) {}

psp_async_client::~psp_async_client() {
  stop();
}

void psp_async_client::call(psp_call call, std::function<void(psp_outcome)> done) {
  auto deadline = steady::now() + impl_->pool.front()->timeout();
  asio::post(impl_->ioc,
             [i = impl_.get(), deadline, call = std::move(call), done = std::move(done)]() mutable {
               i->waiting.push_back({std::move(call), deadline, std::move(done)});
               i->run_waiting();
             });
}

void psp_async_client::stop() {
  impl_->stop();
}

} // namespace ordermesh::psp
