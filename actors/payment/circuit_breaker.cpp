#include "actors/payment/circuit_breaker.hpp"

namespace ordermesh::actors::payment {

bool circuit_breaker::allow(int64_t now_us) {
  if (state_ == breaker_state::open && now_us - opened_at_us_ >= policy_.open_for_ms * 1000) {
    state_ = breaker_state::half_open;
    probes_ = 0;
  }
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      return false;
    case breaker_state::half_open:
      if (probes_ < policy_.half_open_max_probes) {
        ++probes_;
        return true;
      }
      return false;
  }
  return false;
}

bool circuit_breaker::would_allow(int64_t now_us) const {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      return now_us - opened_at_us_ >= policy_.open_for_ms * 1000;
    case breaker_state::half_open:
      return probes_ < policy_.half_open_max_probes;
  }
  return false;
}

void circuit_breaker::on_success(int64_t) {
  // A success answered while open comes from a call let through before it opened: it proves
  // little, so only a probe closes the breaker.
  if (state_ != breaker_state::open) {
    state_ = breaker_state::closed;
    consecutive_failures_ = 0;
  }
}

void circuit_breaker::on_failure(int64_t now_us) {
  switch (state_) {
    case breaker_state::closed:
      if (++consecutive_failures_ >= policy_.failure_threshold) {
        open(now_us);
      }
      break;
    case breaker_state::half_open:
      open(now_us);
      break;
    case breaker_state::open:
      break;
  }
}

void circuit_breaker::open(int64_t now_us) {
  state_ = breaker_state::open;
  opened_at_us_ = now_us;
  consecutive_failures_ = 0;
  probes_ = 0;
}

} // namespace ordermesh::actors::payment
