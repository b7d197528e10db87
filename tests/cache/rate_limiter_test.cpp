#define BOOST_TEST_MODULE cache_rate_limiter
#include <boost/test/unit_test.hpp>

#include "cache/rate_limiter.hpp"
#include "tests/cache/test_keys.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>
#include <thread>

using namespace ordermesh;
using namespace std::chrono_literals;

namespace {

cache::rate_limit_options five_per_burst(const std::string& what) {
  cache::rate_limit_options o;
  o.key_prefix = testing::unique_prefix(what);
  o.capacity = 5;
  o.refill_per_second = 1.0;
  return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(allows_a_burst_of_capacity_then_denies_with_a_retry_time) {
  cache::rate_limiter limiter{testing::config_from_environment().redis, five_per_burst("burst")};
  for (int i = 0; i < 5; ++i) {
    auto d = limiter.acquire("client-a");
    BOOST_TEST_REQUIRE(d.allowed);
    BOOST_TEST(!d.degraded);
  }
  auto denied = limiter.acquire("client-a");
  BOOST_TEST(!denied.allowed);
  BOOST_TEST(!denied.degraded);
  BOOST_TEST(denied.retry_after.count() > 0);
  BOOST_TEST(denied.retry_after.count() <= 1000);
  // Buckets are per client.
  BOOST_TEST(limiter.acquire("client-b").allowed);
  auto s = limiter.stats();
  BOOST_TEST(s.allowed == 6u);
  BOOST_TEST(s.denied == 1u);
  BOOST_TEST(s.degraded == 0u);
}

BOOST_AUTO_TEST_CASE(shares_the_bucket_between_limiters) {
  const auto redis = testing::config_from_environment().redis;
  auto options = five_per_burst("shared");
  cache::rate_limiter first{redis, options};
  cache::rate_limiter second{redis, options};
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST_REQUIRE((i % 2 == 0 ? first : second).acquire("c").allowed);
  }
  BOOST_TEST(!first.acquire("c").allowed);
  BOOST_TEST(!second.acquire("c").allowed);
}

BOOST_AUTO_TEST_CASE(refills_over_time) {
  auto options = five_per_burst("refill");
  options.refill_per_second = 20.0; // one token every 50 ms
  cache::rate_limiter limiter{testing::config_from_environment().redis, options};
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST_REQUIRE(limiter.acquire("c").allowed);
  }
  auto denied = limiter.acquire("c");
  BOOST_TEST_REQUIRE(!denied.allowed);
  BOOST_TEST(denied.retry_after.count() <= 50);
  // A denied acquire takes nothing, so asking until it is allowed is harmless; Redis's clock
  // decides when, the bound is only against a hang.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  bool allowed = false;
  while (!allowed && std::chrono::steady_clock::now() < give_up) {
    allowed = limiter.acquire("c").allowed;
    if (!allowed) {
      std::this_thread::sleep_for(5ms); // polling interval, not ordering
    }
  }
  BOOST_TEST(allowed);
}

BOOST_AUTO_TEST_CASE(limits_locally_when_redis_is_unreachable) {
  cache::redis_client_options client_options;
  client_options.reconnect_min = 10s;
  cache::rate_limiter limiter{testing::unreachable_redis(), five_per_burst("local"),
                              client_options};
  for (int i = 0; i < 5; ++i) {
    auto d = limiter.acquire("client-a");
    BOOST_TEST_REQUIRE(d.allowed);
    BOOST_TEST(d.degraded);
  }
  auto denied = limiter.acquire("client-a");
  BOOST_TEST(!denied.allowed);
  BOOST_TEST(denied.degraded);
  BOOST_TEST(denied.retry_after.count() > 0);
  BOOST_TEST(denied.retry_after.count() <= 1000);
  BOOST_TEST(limiter.acquire("client-b").allowed);
  BOOST_TEST(limiter.stats().degraded == 7u);
}

BOOST_AUTO_TEST_CASE(the_local_fallback_keeps_a_bounded_number_of_client_buckets) {
  cache::redis_client_options client_options;
  client_options.reconnect_min = 10s;
  auto options = five_per_burst("many");
  options.max_local_clients = 100;
  cache::rate_limiter limiter{testing::unreachable_redis(), options, client_options};
  for (int i = 0; i < 5000; ++i) {
    BOOST_TEST_REQUIRE(limiter.acquire("client-" + std::to_string(i)).allowed);
  }
  BOOST_TEST(limiter.local_buckets() <= 100u);
  // A client seen recently still has its drained bucket.
  for (int i = 0; i < 4; ++i) {
    BOOST_TEST_REQUIRE(limiter.acquire("client-4999").allowed);
  }
  BOOST_TEST(!limiter.acquire("client-4999").allowed);
}
