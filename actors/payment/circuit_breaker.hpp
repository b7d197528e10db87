#pragma once

#include <cstdint>

namespace ordermesh::actors::payment {

enum class breaker_state : uint8_t { closed, open, half_open };

struct circuit_breaker_policy {
  /// Consecutive failures that open the breaker.
  int32_t failure_threshold = 5;
  /// How long an open breaker refuses calls before letting probes through.
  int64_t open_for_ms = 2000;
  /// Calls let through while half-open, until one of them answers.
  int32_t half_open_max_probes = 1;
};

/// A pure circuit breaker in front of the PSP: the caller passes the time in.
/// closed --N consecutive failures--> open --open_for_ms--> half_open
/// half_open --probe succeeds--> closed;  half_open --probe fails--> open (for open_for_ms again).
class circuit_breaker {
public:
  using policy = circuit_breaker_policy;

  explicit circuit_breaker(policy p = {}) : policy_(p) {}

  /// Whether a call may go out now; when half-open, a true answer uses up one probe.
  bool allow(int64_t now_us);

  /// The call let through by allow() succeeded.
  void on_success(int64_t now_us);

  /// The call let through by allow() failed (error or timeout).
  void on_failure(int64_t now_us);

  /// Whether allow(now_us) would let a call through, without using up a probe.
  bool would_allow(int64_t now_us) const;

  /// The state as of the last call; an open breaker turns half-open on the next allow().
  breaker_state state() const { return state_; }

private:
  void open(int64_t now_us);

  policy policy_;
  breaker_state state_ = breaker_state::closed;
  int32_t consecutive_failures_ = 0;
  int64_t opened_at_us_ = 0;
  int32_t probes_ = 0;
};

} // namespace ordermesh::actors::payment
