#define BOOST_TEST_MODULE gateway_redis_watch
#include <boost/test/unit_test.hpp>

#include "gateway/redis_watch.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/pg_test_database.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

using namespace ordermesh;
using namespace std::chrono_literals;

namespace {

/// Polls `done` until it holds or 10 s passed; whether it held.
bool wait_until(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(
    runs_its_while_up_work_after_each_ping_redis_answers_and_not_while_it_is_down) {
  testing::own_redis server;
  auto redis = testing::config_from_environment().redis;
  redis.host = "127.0.0.1";
  redis.port = server.port();
  std::atomic<int> runs{0};
  gateway::redis_watch watch{redis, 20ms, [&] { ++runs; }};
  BOOST_TEST(wait_until([&] { return watch.up() && runs.load() >= 2; }));

  server.kill_now();
  BOOST_TEST(wait_until([&] { return !watch.up(); }));
  const int while_down = runs.load();
  std::this_thread::sleep_for(200ms); // ten periods: none may run the work
  BOOST_TEST(!watch.up());
  BOOST_TEST(runs.load() == while_down);

  server.restart();
  BOOST_TEST(wait_until([&] { return watch.up() && runs.load() > while_down; }));
}
