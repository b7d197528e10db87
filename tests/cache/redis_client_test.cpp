#define BOOST_TEST_MODULE cache_redis_client
#include <boost/test/unit_test.hpp>

#include "cache/redis_client.hpp"
#include "tests/cache/test_keys.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>

using namespace ordermesh;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(answers_ping) {
  cache::redis_client client{testing::config_from_environment().redis};
  auto r = client.ping();
  BOOST_TEST_REQUIRE(static_cast<bool>(r), (r ? "" : r.error().detail));
  BOOST_TEST(client.connected());
}

BOOST_AUTO_TEST_CASE(sets_gets_and_deletes_a_value) {
  cache::redis_client client{testing::config_from_environment().redis};
  const auto key = testing::unique_prefix("client") + "k";
  auto missing = client.get(key);
  BOOST_TEST_REQUIRE(static_cast<bool>(missing));
  BOOST_TEST(!missing->has_value());

  const std::string binary{"a\0b\r\nc", 6};
  BOOST_TEST_REQUIRE(static_cast<bool>(client.set(key, binary, 10s)));
  auto got = client.get(key);
  BOOST_TEST_REQUIRE(static_cast<bool>(got));
  BOOST_TEST_REQUIRE(got->has_value());
  BOOST_TEST(**got == binary);

  auto ttl = client.pttl(key);
  BOOST_TEST_REQUIRE(static_cast<bool>(ttl));
  BOOST_TEST(*ttl > 9000);
  BOOST_TEST(*ttl <= 10000);

  auto deleted = client.del({key});
  BOOST_TEST_REQUIRE(static_cast<bool>(deleted));
  BOOST_TEST(*deleted == 1);
  BOOST_TEST(!client.get(key)->has_value());
}

BOOST_AUTO_TEST_CASE(a_pipeline_answers_each_command_in_order_and_an_error_only_its_own) {
  cache::redis_client client{testing::config_from_environment().redis};
  const auto key = testing::unique_prefix("pipeline") + "k";
  auto r = client.pipeline({{"SET", key, "v", "PX", "10000", "NX"},
                            {"SET", key, "w", "PX", "10000", "NX"},
                            {"NO-SUCH-COMMAND"},
                            {"GET", key}});
  BOOST_TEST_REQUIRE(r.size() == 4u);
  BOOST_TEST_REQUIRE(static_cast<bool>(r[0]));
  BOOST_TEST(r[0]->str == "OK");
  BOOST_TEST_REQUIRE(static_cast<bool>(r[1]));
  BOOST_TEST((r[1]->type == cache::redis_reply::kind::nil)); // NX: the first value stays
  BOOST_TEST_REQUIRE(!r[2]);
  BOOST_TEST((r[2].error().code == cache::cache_errc::protocol));
  BOOST_TEST_REQUIRE(static_cast<bool>(r[3]));
  BOOST_TEST(r[3]->str == "v");
  BOOST_TEST(client.connected());
  BOOST_TEST(client.pipeline({}).empty());
}

BOOST_AUTO_TEST_CASE(a_pipeline_to_an_unreachable_server_fails_every_command) {
  cache::redis_client client{testing::unreachable_redis()};
  auto r = client.pipeline({{"PING"}, {"PING"}});
  BOOST_TEST_REQUIRE(r.size() == 2u);
  for (const auto& one : r) {
    BOOST_TEST_REQUIRE(!one);
    BOOST_TEST((one.error().code == cache::cache_errc::unavailable));
  }
}

BOOST_AUTO_TEST_CASE(publishes_to_nobody) {
  cache::redis_client client{testing::config_from_environment().redis};
  auto r = client.publish(testing::unique_prefix("chan") + "c", "hello");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(*r == 0);
}

BOOST_AUTO_TEST_CASE(runs_a_script_and_recovers_from_a_flushed_script_cache) {
  cache::redis_client client{testing::config_from_environment().redis};
  const std::string script = "return {tonumber(ARGV[1]) + 1, KEYS[1]}";
  const auto key = testing::unique_prefix("script") + "k";
  auto r = client.eval(script, {key}, {"41"});
  BOOST_TEST_REQUIRE(static_cast<bool>(r), (r ? "" : r.error().detail));
  BOOST_TEST_REQUIRE(r->elements.size() == 2u);
  BOOST_TEST(r->elements[0].integer == 42);
  BOOST_TEST(r->elements[1].str == key);

  // A second client flushes the server's scripts: EVALSHA now gets NOSCRIPT, EVAL takes over.
  cache::redis_client other{testing::config_from_environment().redis};
  BOOST_TEST_REQUIRE(static_cast<bool>(other.command({"SCRIPT", "FLUSH"})));
  auto again = client.eval(script, {key}, {"1"});
  BOOST_TEST_REQUIRE(static_cast<bool>(again), (again ? "" : again.error().detail));
  BOOST_TEST(again->elements[0].integer == 2);
}

BOOST_AUTO_TEST_CASE(reports_a_server_error_as_protocol_and_stays_connected) {
  cache::redis_client client{testing::config_from_environment().redis};
  const auto key = testing::unique_prefix("wrongtype") + "k";
  BOOST_TEST_REQUIRE(static_cast<bool>(client.command({"LPUSH", key, "x"})));
  auto r = client.get(key);
  BOOST_TEST_REQUIRE(!r);
  BOOST_TEST((r.error().code == cache::cache_errc::protocol));
  BOOST_TEST(client.connected());
  BOOST_TEST(static_cast<bool>(client.del({key})));
}

BOOST_AUTO_TEST_CASE(fails_fast_inside_the_back_off_window_when_redis_is_unreachable) {
  cache::redis_client_options options;
  options.reconnect_min = 10s;
  cache::redis_client client{testing::unreachable_redis(), options};
  auto first = client.ping();
  BOOST_TEST_REQUIRE(!first);
  BOOST_TEST((first.error().code == cache::cache_errc::unavailable));
  // Every call inside the window is refused without a connection attempt (the detail says when
  // the next one is): what "fast" means, whatever the machine's speed.
  for (int i = 0; i < 1000; ++i) {
    auto r = client.get("k");
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST_REQUIRE((r.error().code == cache::cache_errc::unavailable));
    BOOST_TEST_REQUIRE(r.error().detail.find("next connection attempt") != std::string::npos);
  }
}
