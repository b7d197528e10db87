#pragma once

#include "config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>

namespace ordermesh::psp {

/// The PSP did what was asked: `id` is the authorization, `status` its new state ("authorized",
/// "captured", "refunded").
struct psp_ok {
  std::string id;
  std::string status;
};

/// The PSP declined the authorization (HTTP 402); `id` names the declined authorization when the
/// PSP gave one.
struct psp_declined {
  std::string id;
  std::string reason;
};

/// Why a request got no usable answer.
enum class failure_kind : uint8_t {
  /// No complete answer within psp.client_timeout; the PSP may or may not have acted.
  timeout,
  /// Could not connect, or the connection broke before a complete answer.
  connection,
  /// The PSP answered 5xx (`http_status`); retry with the same idempotency key.
  server_error,
  /// The PSP refused the request itself (4xx other than 402: 404 unknown id, 409 wrong state,
  /// 422 invalid or reused key); retrying the same request will not help.
  rejected,
  /// An answer that is not HTTP, not JSON or lacks the expected fields.
  bad_response,
};

/// "timeout", "connection", "server_error", "rejected" or "bad_response".
const char* to_string(failure_kind kind);

struct psp_failed {
  failure_kind kind = failure_kind::connection;
  /// The HTTP status for server_error and rejected, else 0.
  unsigned http_status = 0;
  /// A short human explanation (the problem's detail when the PSP sent one).
  std::string detail;
};

/// The outcome of one call: done, declined, or failed. Never an exception.
using psp_outcome = std::variant<psp_ok, psp_declined, psp_failed>;

/// What a call asks the PSP to do.
enum class psp_operation : uint8_t {
  /// POST /v1/authorizations: psp_ok{id, "authorized"} on 201, psp_declined on 402.
  authorize,
  /// POST /v1/sales: authorizes and captures at once: psp_ok{id, "captured"} on 201 (the money
  /// moved), psp_declined on 402. Resending with the same key never charges twice.
  sale,
  /// POST /v1/authorizations/{authorization}/capture: psp_ok{id, "captured"} on 200, also when
  /// captured already; rejected 404 for an unknown id, 409 for a declined or refunded one.
  capture,
  /// POST /v1/authorizations/{authorization}/refund: psp_ok{id, "refunded"} on 200, also when
  /// refunded already; rejected 409 when not captured.
  refund,
  /// POST /v1/voids {"authorization_key": authorization}: releases the hold of the authorization
  /// created with Idempotency-Key `authorization`, or makes sure none is ever created with it.
  /// psp_ok{id or key, "voided" | "declined"} on 200; rejected 409 when it was captured.
  void_authorization,
  /// POST /v1/reversals {"authorization_key": authorization}: like void_authorization, and a
  /// captured one (a sale) is refunded: psp_ok{id or key, "voided" | "declined" | "refunded"}.
  reverse,
};

/// One request to the PSP. An unsafe key or id is refused (failed, rejected) without sending.
struct psp_call {
  psp_operation operation = psp_operation::authorize;
  /// Sent as Idempotency-Key: 1 to 255 printable ASCII characters.
  std::string idempotency_key;
  /// authorize and sale only.
  int64_t amount_cents = 0;
  std::string card_token;
  std::string currency = "EUR";
  /// capture and refund: the authorization's id; void_authorization and reverse: the
  /// authorization's idempotency key.
  std::string authorization;
};

/// The HTTP/1.1 client of the PSP, ASYNCHRONOUS: `connections` keep-alive connections (each one
/// exchange at a time, re-opened when it breaks), driven by one thread of its own (named
/// om.psp.io), so a call blocks no caller and wakes no thread of its own. Each call is answered
/// within psp.client_timeout of being made (connect, send, answer, enforced with asio
/// deadlines); a call still waiting for a free connection at its deadline is not sent and fails
/// with timeout. A reused connection the server had closed meanwhile is re-opened and the call
/// sent once more (safe: every POST carries an idempotency key). No exception escapes a call. A
/// call gets only its own answer: a connection is reused only when nothing but its last answer came
/// on it, and an answer must echo the call's Idempotency-Key (else bad_response). Thread-safe.
class psp_async_client {
public:
  psp_async_client(config::psp_config cfg, size_t connections);
  /// Stops (see stop()).
  ~psp_async_client();
  psp_async_client(const psp_async_client&) = delete;
  psp_async_client& operator=(const psp_async_client&) = delete;

  /// Starts `call`; `done` is called exactly once with its outcome, on the client's thread (keep
  /// it short and non-blocking: hand the outcome on), unless the client is stopped first.
  void call(psp_call call, std::function<void(psp_outcome)> done);

  /// Ends the client's thread; calls not answered yet are never answered. Idempotent; not from
  /// within a `done`.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// An error text from the PSP as it may be recorded: at most 200 bytes (then "..." follows), cut
/// on a UTF-8 character boundary, invalid bytes replaced by U+FFFD; always valid UTF-8.
std::string shorten_detail(const std::string& text);

} // namespace ordermesh::psp
