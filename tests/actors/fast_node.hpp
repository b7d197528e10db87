#pragma once

// Saga and host settings that make a whole node's tests quick: 1 s steps, short back-offs, a
// 100 ms tick. Shared by the node-level actor tests (saga_test, payment/actor_test).

#include "actors/order/state.hpp"
#include "actors/runtime/messages.hpp"

#include <chrono>

namespace ordermesh::testing {

inline actors::order::saga_policy fast_policy() {
  actors::order::saga_policy p;
  p.step_timeout_ms = 1000;
  p.retry_base_ms = 50;
  p.retry_max_ms = 200;
  p.max_payment_attempts = 3;
  return p;
}

inline actors::runtime::host_settings fast_settings() {
  using namespace std::chrono_literals;
  actors::runtime::host_settings s;
  s.tick_interval = 100ms;
  s.idle_timeout = 60s;
  return s;
}

} // namespace ordermesh::testing
