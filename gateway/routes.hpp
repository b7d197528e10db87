#pragma once

#include "gateway/problem.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ordermesh::gateway {

/// One parsed HTTP request as handlers see it.
struct request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< as sent: path and query
  std::string path;   ///< target without the query
  std::string query;  ///< after '?', without it; not decoded
  /// Headers (name, value) in the order sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address; ///< the peer's IP address
  /// Values of the pattern's {params}, filled by route_table::dispatch.
  std::map<std::string, std::string> params;

  /// The first header called `name` (case-insensitive); "" when absent.
  std::string header(std::string_view name) const;
};

namespace detail {
/// Where a responder's answer goes; implemented by the server's connection.
struct answer_slot {
  virtual ~answer_slot() = default;
  virtual void deliver(response r) = 0;
  /// See responder::on_due; does nothing where no server keeps a deadline (e.g. the fuzz target).
  virtual void on_due(std::chrono::milliseconds delay, std::function<void()> then) {
    (void)delay;
    (void)then;
  }
  /// Set by the first answer, whoever gives it (handler, timeout, connection loss).
  std::atomic<bool> answered{false};
  /// See responder::on_answer; called by the one answer only, before it is delivered.
  std::function<void(const response&)> observer;
};
} // namespace detail

/// Answers one request. Copyable; may be called from any thread, at any later time. Only the first
/// call counts, across all copies and the server's own 504 on request_timeout.
class responder {
public:
  explicit responder(std::shared_ptr<detail::answer_slot> slot) : slot_(std::move(slot)) {}

  /// Sends `r`. True when this was the answer; false when the request was already answered (by an
  /// earlier call or the server's 504); the connection may since have closed, which is not told.
  bool operator()(response r) const;

  /// `observe` sees the request's one answer (whoever gives it: any copy of this responder or
  /// the server's 504) just before it is delivered; never an answer that was refused. Only
  /// inside the handler, before the request is answered or handed to another thread.
  void on_answer(std::function<void(const response&)> observe) const {
    slot_->observer = std::move(observe);
  }

  /// Replaces the request's deadline (the server's 504 at request_timeout, or an earlier
  /// on_due): `then` runs on the request's io thread once `delay` has passed, unless the request
  /// was answered by then, and must answer or call on_due again. Only on that io thread: inside
  /// the handler, or inside a `then`.
  void on_due(std::chrono::milliseconds delay, std::function<void()> then) const {
    slot_->on_due(delay, std::move(then));
  }

private:
  std::shared_ptr<detail::answer_slot> slot_;
};

/// A request handler. Runs on a server io thread and must not block: long work answers later
/// through its copy of the responder.
using handler = std::function<void(const request&, responder)>;

/// What a route accepts as request body.
enum class body_kind {
  any,  ///< no check
  json, ///< a non-empty body must have Content-Type application/json, else 415
};

/// Routes (method, path pattern) to handlers. Patterns are absolute paths whose segments are
/// literals or {name} (matching one non-empty segment, exposed in request::params). Built before
/// the server starts, read-only after.
class route_table {
public:
  /// Adds a route; a later route with the same method and pattern is never reached.
  void add(std::string method, std::string pattern, handler h, body_kind consumes = body_kind::any);

  /// Calls the first matching route's handler with params filled, or answers: 404 problem when no
  /// pattern matches the path, 405 problem with Allow (the path's methods, sorted) when only the
  /// method differs, 415 problem when the route consumes JSON and the body is not JSON.
  void dispatch(const request& req, const responder& answer) const;

private:
  struct route {
    std::string method;
    std::vector<std::string> segments;
    handler h;
    body_kind consumes;
  };
  std::vector<route> routes_;
};

} // namespace ordermesh::gateway
