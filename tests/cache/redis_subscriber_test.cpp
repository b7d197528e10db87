#define BOOST_TEST_MODULE cache_redis_subscriber
#include <boost/test/unit_test.hpp>

#include "cache/read_cache.hpp"
#include "cache/redis_client.hpp"
#include "cache/redis_subscriber.hpp"
#include "tests/cache/test_keys.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace std::chrono_literals;

namespace {

/// What a subscriber received, safe to read from the test thread.
struct inbox {
  void add(const std::string& m) {
    std::lock_guard<std::mutex> lock{mutex};
    messages.push_back(m);
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock{mutex};
    return messages;
  }
  std::mutex mutex;
  std::vector<std::string> messages;
};

template <class F>
bool eventually(F fn, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return fn();
}

} // namespace

BOOST_AUTO_TEST_CASE(delivers_the_channels_messages_in_order_and_stops_promptly) {
  const auto redis = testing::config_from_environment().redis;
  const auto channel = testing::unique_prefix("channel");
  inbox got;
  int subscriptions = 0;
  cache::redis_subscriber sub{redis, channel, [&](const std::string& m) { got.add(m); },
                              [&] { ++subscriptions; }};
  BOOST_TEST_REQUIRE(eventually([&] { return sub.subscribed(); }));
  cache::redis_client pub{redis};
  for (const auto* m : {"one", "two", "three"}) {
    BOOST_TEST_REQUIRE(static_cast<bool>(pub.publish(channel, m)));
  }
  BOOST_TEST_REQUIRE(static_cast<bool>(pub.publish(channel + ":other", "elsewhere")));
  BOOST_TEST(eventually([&] { return got.all().size() == 3u; }));
  BOOST_TEST(got.all() == (std::vector<std::string>{"one", "two", "three"}),
             boost::test_tools::per_element());
  BOOST_TEST(subscriptions == 1);
  const auto before = std::chrono::steady_clock::now();
  sub.stop();
  BOOST_TEST((std::chrono::steady_clock::now() - before < 1s));
  BOOST_TEST(!sub.subscribed());
}

BOOST_AUTO_TEST_CASE(keeps_trying_while_redis_is_unreachable_and_stops_promptly) {
  int subscriptions = 0;
  cache::redis_subscriber sub{testing::unreachable_redis(), "nowhere", [](const std::string&) {},
                              [&] { ++subscriptions; }};
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(!sub.subscribed());
  const auto before = std::chrono::steady_clock::now();
  sub.stop();
  BOOST_TEST((std::chrono::steady_clock::now() - before < 1s));
  BOOST_TEST(subscriptions == 0);
}

BOOST_AUTO_TEST_CASE(read_cache_publishes_the_keys_it_invalidates_that_were_read) {
  const auto redis = testing::config_from_environment().redis;
  cache::read_cache_options options;
  options.key_prefix = testing::unique_prefix("published");
  options.invalidation_channel = options.key_prefix + "invalidate";
  inbox got;
  cache::redis_subscriber sub{redis, options.invalidation_channel,
                              [&](const std::string& m) { got.add(m); }};
  BOOST_TEST_REQUIRE(eventually([&] { return sub.subscribed(); }));
  cache::read_cache cache{redis, options};
  // Only keys read lately can be held anywhere: the others are not announced (read_cache_test).
  for (const auto* key : {"order:o1", "order:o2", "inventory:A", "order:o3"}) {
    cache.get_or_load(key, [] { return std::optional<std::string>{"v"}; });
  }
  BOOST_TEST(static_cast<bool>(cache.invalidate("order:o1")));
  BOOST_TEST(eventually([&] { return got.all() == std::vector<std::string>{"order:o1"}; }));
  // Many at once: each key published once, in order.
  BOOST_TEST(static_cast<bool>(
      cache.invalidate(std::vector<std::string>{"order:o2", "inventory:A", "order:o3"})));
  BOOST_TEST(eventually([&] {
    return got.all() == std::vector<std::string>{"order:o1", "order:o2", "inventory:A", "order:o3"};
  }));
}
