#define BOOST_TEST_MODULE payment_circuit_breaker
#include <boost/test/unit_test.hpp>

#include "actors/payment/circuit_breaker.hpp"

using namespace ordermesh::actors::payment;

namespace {

constexpr int64_t ms = 1000; // in µs
constexpr int64_t t0 = 1'700'000'000'000'000;

/// Given: a breaker that has just opened at t0 after five failures.
circuit_breaker opened() {
  circuit_breaker b;
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(b.allow(t0));
    b.on_failure(t0);
  }
  BOOST_REQUIRE(b.state() == breaker_state::open);
  return b;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_closed_breaker_lets_every_call_through) {
  circuit_breaker b;
  BOOST_CHECK(b.state() == breaker_state::closed);
  for (int i = 0; i < 100; ++i) {
    BOOST_CHECK(b.allow(t0 + i));
  }
}

BOOST_AUTO_TEST_CASE(opens_after_the_threshold_of_consecutive_failures) {
  circuit_breaker b;
  for (int i = 0; i < 4; ++i) {
    b.on_failure(t0);
  }
  BOOST_CHECK(b.state() == breaker_state::closed);
  b.on_failure(t0);
  BOOST_CHECK(b.state() == breaker_state::open);
  BOOST_CHECK(!b.allow(t0 + 1999 * ms));
}

BOOST_AUTO_TEST_CASE(a_success_resets_the_count_of_consecutive_failures) {
  circuit_breaker b;
  for (int i = 0; i < 4; ++i) {
    b.on_failure(t0);
  }
  b.on_success(t0);
  for (int i = 0; i < 4; ++i) {
    b.on_failure(t0);
  }
  BOOST_CHECK(b.state() == breaker_state::closed);
}

BOOST_AUTO_TEST_CASE(turns_half_open_after_the_open_period_and_lets_one_probe_through) {
  auto b = opened();
  BOOST_CHECK(b.allow(t0 + 2000 * ms));
  BOOST_CHECK(b.state() == breaker_state::half_open);
  BOOST_CHECK(!b.allow(t0 + 2001 * ms));
}

BOOST_AUTO_TEST_CASE(closes_when_the_probe_succeeds) {
  auto b = opened();
  BOOST_REQUIRE(b.allow(t0 + 2000 * ms));
  b.on_success(t0 + 2010 * ms);
  BOOST_CHECK(b.state() == breaker_state::closed);
  BOOST_CHECK(b.allow(t0 + 2011 * ms));
  BOOST_CHECK(b.allow(t0 + 2012 * ms));
}

BOOST_AUTO_TEST_CASE(reopens_for_a_full_period_when_the_probe_fails) {
  auto b = opened();
  BOOST_REQUIRE(b.allow(t0 + 2000 * ms));
  b.on_failure(t0 + 2500 * ms);
  BOOST_CHECK(b.state() == breaker_state::open);
  BOOST_CHECK(!b.allow(t0 + 4499 * ms));
  BOOST_CHECK(b.allow(t0 + 4500 * ms));
  BOOST_CHECK(b.state() == breaker_state::half_open);
}

BOOST_AUTO_TEST_CASE(a_late_success_while_open_does_not_close_it) {
  auto b = opened();
  b.on_success(t0 + 1 * ms);
  BOOST_CHECK(b.state() == breaker_state::open);
}

BOOST_AUTO_TEST_CASE(lets_as_many_probes_through_as_the_policy_allows) {
  circuit_breaker b{circuit_breaker_policy{2, 100, 3}};
  b.on_failure(t0);
  b.on_failure(t0);
  BOOST_REQUIRE(b.state() == breaker_state::open);
  BOOST_CHECK(b.allow(t0 + 100 * ms));
  BOOST_CHECK(b.allow(t0 + 100 * ms));
  BOOST_CHECK(b.allow(t0 + 100 * ms));
  BOOST_CHECK(!b.allow(t0 + 100 * ms));
}

BOOST_AUTO_TEST_CASE(would_allow_tells_when_an_open_breaker_lets_a_probe_through_without_using_it) {
  auto b = opened();
  BOOST_CHECK(!b.would_allow(t0 + 1999 * ms));
  BOOST_CHECK(b.would_allow(t0 + 2000 * ms));
  BOOST_CHECK(b.would_allow(t0 + 2000 * ms)); // asking used up nothing
  BOOST_CHECK(b.allow(t0 + 2000 * ms));       // the probe
  BOOST_CHECK(!b.would_allow(t0 + 2000 * ms));
}
