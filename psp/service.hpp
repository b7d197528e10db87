#pragma once

#include "config/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ordermesh::psp {

/// One HTTP request as the service sees it, without the transport.
struct request_view {
  /// "GET", "POST", ... as received.
  std::string method;
  /// The request target, query string included ("/v1/authorizations?x=1").
  std::string target;
  /// The Idempotency-Key header; nullopt when absent.
  std::optional<std::string> idempotency_key;
  std::string body;
};

/// One HTTP answer: status, content type, body and any extra headers (Allow, Retry-After).
struct reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What the transport must do with one request.
struct plan {
  reply answer;
  /// Wait this long before writing `answer` (injected latency), or before closing when `hang`.
  std::chrono::milliseconds delay{0};
  /// Never answer: hold the request for `delay`, then close the connection.
  bool hang = false;
};

/// The fault injection knobs, changeable at run time (POST /admin/faults).
struct fault_settings {
  std::chrono::milliseconds latency{0};
  std::chrono::milliseconds latency_jitter{0};
  double failure_rate = 0.0;
  double timeout_rate = 0.0;
  double decline_rate = 0.0;
  std::chrono::milliseconds hang{30000};
};

/// The fault fields of `cfg`.
fault_settings faults_from(const config::psp_config& cfg);

/// Counters served by GET /admin/stats. Replays and repeated captures/refunds count as requests
/// only, so `captures` and `distinct_charges` show whether anything was charged twice.
struct psp_stats {
  /// HTTP requests received, whatever their fate.
  uint64_t requests = 0;
  /// Authorizations carried out and authorized (replays excluded).
  uint64_t authorizations = 0;
  /// Authorizations carried out and declined (replays excluded).
  uint64_t declines = 0;
  /// Authorizations moved to captured (a second capture of the same one is not counted).
  uint64_t captures = 0;
  /// Captured authorizations moved to refunded.
  uint64_t refunds = 0;
  /// Distinct authorizations that were ever captured: the number of cards actually charged.
  uint64_t distinct_charges = 0;
  /// Requests answered from the idempotency store.
  uint64_t replays = 0;
  /// Requests answered 503 by psp.failure_rate.
  uint64_t injected_failures = 0;
  /// Requests left unanswered by psp.timeout_rate.
  uint64_t injected_timeouts = 0;
  /// Authorizations moved to voided (a repeated void is not counted).
  uint64_t voids = 0;
  /// Authorizations holding money right now: authorized, neither captured nor voided.
  uint64_t open_holds = 0;
  /// Captured authorizations not refunded: money taken right now.
  uint64_t open_charges = 0;
};

/// The stand-in PSP's behaviour: routes, the in-memory authorizations and idempotency store, and
/// fault injection, all behind one mutex (it is a stand-in, not a throughput test). Thread-safe.
/// Random draws come from a std::mt19937 seeded with psp.seed, so one sequence of requests gives
/// one sequence of faults.
class psp_service {
public:
  explicit psp_service(const config::psp_config& cfg);
  ~psp_service();
  psp_service(const psp_service&) = delete;
  psp_service& operator=(const psp_service&) = delete;

  /// The answer to `req` and how to deliver it. Never throws for any input (allocation aside).
  /// Faults apply to /v1/ routes only, so /health and /admin/ stay usable under any settings.
  plan handle(const request_view& req);

  psp_stats stats() const;
  fault_settings faults() const;
  /// Replaces the fault settings; the caller has validated them (rates in [0,1], hang > 0).
  void set_faults(const fault_settings& faults);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// An application/problem+json reply (RFC 9457) with type "urn:ordermesh:psp:<slug>".
reply problem(unsigned status, const std::string& slug, const std::string& title,
              const std::string& detail);

} // namespace ordermesh::psp
