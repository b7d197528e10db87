#define BOOST_TEST_MODULE cache_read_cache
#include <boost/test/unit_test.hpp>

#include "cache/read_cache.hpp"
#include "cache/redis_subscriber.hpp"
#include "tests/cache/test_keys.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/pg_test_database.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace std::chrono_literals;

namespace {

cache::read_cache_options options_for(const std::string& what) {
  cache::read_cache_options o;
  o.key_prefix = testing::unique_prefix(what);
  o.ttl = 10s;
  o.jitter_fraction = 0.2;
  return o;
}

/// The messages published on one channel, in order, heard from the moment the constructor returns.
class heard_on {
public:
  heard_on(const config::redis_config& redis, const std::string& channel)
      : subscriber_{redis, channel, [this](const std::string& m) {
                      std::lock_guard<std::mutex> lock{mutex_};
                      messages_.push_back(m);
                      changed_.notify_all();
                    }} {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!subscriber_.subscribed() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms); // polls a condition
    }
    BOOST_TEST_REQUIRE(subscriber_.subscribed());
  }

  /// Every message up to and including `last`, once it arrives (empty after 5 s without it).
  std::vector<std::string> until(const std::string& last) {
    std::unique_lock<std::mutex> lock{mutex_};
    auto arrived = [&] {
      return std::find(messages_.begin(), messages_.end(), last) != messages_.end();
    };
    if (!changed_.wait_for(lock, 5s, arrived)) {
      return {};
    }
    return {messages_.begin(), std::find(messages_.begin(), messages_.end(), last) + 1};
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> messages_;
  cache::redis_subscriber subscriber_;
};

cache::read_cache_options announcing(const std::string& what) {
  auto o = options_for(what);
  o.invalidation_channel = o.key_prefix + "invalidations";
  return o;
}

std::optional<std::string> value(const std::string& v) {
  return v;
}

} // namespace

BOOST_AUTO_TEST_CASE(invalidating_keys_no_one_read_neither_bumps_nor_drops_nor_announces_them) {
  // The projection invalidates every row it changes, most of which no one reads: those must cost
  // Redis a look, not an INCR, PEXPIRE, DEL and PUBLISH each.
  const auto redis = testing::config_from_environment().redis;
  const auto options = announcing("never-read");
  cache::read_cache cache{redis, options};
  heard_on channel{redis, options.invalidation_channel};
  cache.get_or_load("read", [] { return value("v"); });
  BOOST_TEST(static_cast<bool>(
      cache.invalidate(std::vector<std::string>{"unread-1", "read", "unread-2"})));
  cache::redis_client client{redis};
  BOOST_TEST_REQUIRE(static_cast<bool>(client.publish(options.invalidation_channel, "end")));
  BOOST_TEST((channel.until("end") == std::vector<std::string>{"read", "end"}));
  // Nothing left behind: no mark, generation or value of any of the three keys.
  auto left = client.command({"KEYS", options.key_prefix + "*"});
  BOOST_TEST_REQUIRE(static_cast<bool>(left));
  BOOST_TEST(left->elements.size() == 0u);
  BOOST_TEST(cache.get_or_load("read", [] { return value("v2"); }).value_or("") == "v2");
}

BOOST_AUTO_TEST_CASE(
    a_load_in_flight_when_another_process_invalidates_its_key_is_voided_and_announced) {
  // The key was never read before this load: its first load marks it before reading the source,
  // so the writer's invalidation (another process) still bumps it and tells the near caches.
  const auto redis = testing::config_from_environment().redis;
  const auto options = announcing("in-flight");
  cache::read_cache reader{redis, options};
  cache::read_cache writer{redis, options};
  heard_on channel{redis, options.invalidation_channel};
  std::string source = "old";
  auto racing_loader = [&] {
    auto read = source;
    source = "new";
    BOOST_TEST(static_cast<bool>(writer.invalidate("k")));
    return value(read);
  };
  auto first = reader.read("k", racing_loader);
  BOOST_TEST(first.value.value_or("") == "old");
  // Voided: not stored, and not to be kept (the invalidation it missed was announced already).
  BOOST_TEST(!first.announced);
  BOOST_TEST(reader.stats().stale_fills == 1u);
  BOOST_TEST((channel.until("k") == std::vector<std::string>{"k"}));
  BOOST_TEST(reader.get_or_load("k", [&] { return value(source); }).value_or("") == "new");
}

BOOST_AUTO_TEST_CASE(a_load_voided_by_an_invalidation_stays_void_after_a_later_load_marks_the_key) {
  // A slow reader loads the old row; the writer invalidates; a quick reader (another process)
  // then marks the key again, loads the new row and stores it. The slow reader's store must
  // still fail: the mark it began with is gone, however the new one looks.
  const auto redis = testing::config_from_environment().redis;
  const auto options = announcing("remarked");
  cache::read_cache slow{redis, options};
  cache::read_cache quick{redis, options};
  cache::read_cache writer{redis, options};
  std::string source = "old";
  auto slow_loader = [&] {
    auto read = source;
    source = "new";
    BOOST_TEST(static_cast<bool>(writer.invalidate("k")));
    BOOST_TEST(quick.get_or_load("k", [&] { return value(source); }).value_or("") == "new");
    return value(read);
  };
  BOOST_TEST(slow.get_or_load("k", slow_loader).value_or("") == "old");
  BOOST_TEST(slow.stats().stale_fills == 1u);
  BOOST_TEST(slow.get_or_load("k", [] { return value("not loaded: a hit"); }).value_or("") ==
             "new");
}

BOOST_AUTO_TEST_CASE(a_copy_kept_after_its_redis_value_expired_is_still_announced) {
  // A near cache may keep a value for copies_kept_for after Redis dropped it: the key stays
  // marked that long, so its invalidations still reach the copy.
  const auto redis = testing::config_from_environment().redis;
  auto options = announcing("kept-copy");
  options.ttl = 100ms;
  options.jitter_fraction = 0;
  options.copies_kept_for = 5s;
  cache::read_cache cache{redis, options};
  heard_on channel{redis, options.invalidation_channel};
  BOOST_TEST(cache.read("k", [] { return value("v"); }).announced);
  cache::redis_client client{redis};
  auto mark_ttl = client.pttl(options.key_prefix + "mark:k");
  BOOST_TEST_REQUIRE(static_cast<bool>(mark_ttl));
  BOOST_TEST(*mark_ttl > 1000); // ttl * 3 + copies_kept_for
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  auto gone = [&] {
    auto v = client.get(options.key_prefix + "k");
    return v && !*v;
  };
  while (!gone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms); // polls a condition: the value's TTL runs out
  }
  BOOST_TEST_REQUIRE(gone());
  BOOST_TEST(static_cast<bool>(cache.invalidate("k")));
  BOOST_TEST((channel.until("k") == std::vector<std::string>{"k"}));
}

BOOST_AUTO_TEST_CASE(loads_a_cold_key_once_and_then_answers_from_redis) {
  const auto redis = testing::config_from_environment().redis;
  cache::read_cache cache{redis, options_for("aside")};
  int calls = 0;
  auto loader = [&]() -> std::optional<std::string> {
    ++calls;
    return std::string{"value"};
  };
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "value");
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "value");
  BOOST_TEST(calls == 1);
  auto s = cache.stats();
  BOOST_TEST(s.hits == 1u);
  BOOST_TEST(s.misses == 1u);
  BOOST_TEST(s.loads == 1u);
  BOOST_TEST(s.redis_errors == 0u);

  cache::redis_client client{redis};
  auto stored = client.get(cache.redis_key("k"));
  BOOST_TEST_REQUIRE(static_cast<bool>(stored));
  BOOST_TEST(stored->value_or("") == "value");
}

BOOST_AUTO_TEST_CASE(stores_values_with_the_jittered_ttl) {
  const auto redis = testing::config_from_environment().redis;
  auto options = options_for("ttl");
  cache::read_cache cache{redis, options};
  cache::redis_client client{redis};
  const auto max_ttl = std::chrono::milliseconds{
      static_cast<int64_t>(options.ttl.count() * (1.0 + options.jitter_fraction))};
  for (int i = 0; i < 20; ++i) {
    const auto key = "k" + std::to_string(i);
    cache.get_or_load(key, [] { return std::optional<std::string>{"v"}; });
    auto pttl = client.pttl(cache.redis_key(key));
    BOOST_TEST_REQUIRE(static_cast<bool>(pttl));
    // PTTL counts down from the TTL set: allow a little time to have passed.
    BOOST_TEST(*pttl >= options.ttl.count() - 1000);
    BOOST_TEST(*pttl <= max_ttl.count());
  }
  for (int i = 0; i < 100; ++i) {
    auto ttl = cache.jittered_ttl();
    BOOST_TEST(ttl.count() >= options.ttl.count());
    BOOST_TEST(ttl.count() <= max_ttl.count());
  }
}

BOOST_AUTO_TEST_CASE(invalidate_makes_the_next_read_load_again) {
  cache::read_cache cache{testing::config_from_environment().redis, options_for("invalidate")};
  int calls = 0;
  auto loader = [&] { return std::optional<std::string>{"v" + std::to_string(++calls)}; };
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "v1");
  BOOST_TEST(static_cast<bool>(cache.invalidate("k")));
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "v2");
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "v2");
}

BOOST_AUTO_TEST_CASE(invalidating_many_keys_at_once_makes_each_load_again_and_voids_its_loads) {
  cache::read_cache cache{testing::config_from_environment().redis, options_for("many")};
  // More keys than one script call takes.
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    keys.push_back("k" + std::to_string(i));
  }
  for (const auto& key : keys) {
    cache.get_or_load(key, [] { return std::optional<std::string>{"old"}; });
  }
  BOOST_TEST(static_cast<bool>(cache.invalidate(keys)));
  for (const auto& key : keys) {
    BOOST_TEST(
        cache.get_or_load(key, [] { return std::optional<std::string>{"new"}; }).value_or("") ==
            "new",
        key);
  }
  // A load in flight of a key in the second script call is voided like one of a lone key.
  auto racing_loader = [&] {
    BOOST_TEST(static_cast<bool>(cache.invalidate(keys)));
    return std::optional<std::string>{"stale"};
  };
  cache.get_or_load("fresh", [] { return std::optional<std::string>{"x"}; });
  keys.push_back("late");
  BOOST_TEST(cache.get_or_load("late", racing_loader).value_or("") == "stale");
  BOOST_TEST(cache.stats().stale_fills == 1u);
  BOOST_TEST(
      cache.get_or_load("late", [] { return std::optional<std::string>{"now"}; }).value_or("") ==
      "now");
  BOOST_TEST(static_cast<bool>(cache.invalidate(std::vector<std::string>{})));
}

BOOST_AUTO_TEST_CASE(a_value_loaded_before_an_invalidation_is_not_stored_after_it) {
  // The race of cache-aside: a reader loads the old row, the writer commits and invalidates, and
  // then the reader stores what it loaded. Without a guard the old row stays cached for a TTL.
  cache::read_cache cache{testing::config_from_environment().redis, options_for("stale-fill")};
  std::string source = "old";
  auto racing_loader = [&] {
    auto read = source; // the reader's query sees the row before the write...
    source = "new";     // ...which then commits,
    BOOST_TEST(static_cast<bool>(cache.invalidate("k"))); // and invalidates.
    return std::optional<std::string>{read};
  };
  BOOST_TEST(cache.get_or_load("k", racing_loader).value_or("") == "old");
  BOOST_TEST(cache.stats().stale_fills == 1u);
  auto loader = [&] { return std::optional<std::string>{source}; };
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "new");
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "new");
  BOOST_TEST(cache.stats().hits == 1u);
}

BOOST_AUTO_TEST_CASE(does_not_cache_an_absent_value) {
  const auto options = options_for("absent");
  cache::read_cache cache{testing::config_from_environment().redis, options};
  int calls = 0;
  auto loader = [&]() -> std::optional<std::string> {
    ++calls;
    return std::nullopt;
  };
  BOOST_TEST(!cache.get_or_load("k", loader).has_value());
  BOOST_TEST(!cache.get_or_load("k", loader).has_value());
  BOOST_TEST(calls == 2);
  // Nor a mark: reads of ids that do not exist leave no key in Redis.
  cache::redis_client client{testing::config_from_environment().redis};
  auto left = client.command({"KEYS", options.key_prefix + "*"});
  BOOST_TEST_REQUIRE(static_cast<bool>(left));
  BOOST_TEST(left->elements.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_stampede_on_a_cold_key_runs_the_loader_once) {
  cache::read_cache cache{testing::config_from_environment().redis, options_for("stampede")};
  constexpr int threads = 200;
  std::atomic<int> calls{0};
  std::atomic<int> right{0};
  std::mutex m;
  std::condition_variable cv;
  bool go = false;
  auto loader = [&] {
    ++calls;
    std::this_thread::sleep_for(100ms); // a slow query: everybody else arrives meanwhile
    return std::optional<std::string>{"hot"};
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      {
        std::unique_lock<std::mutex> lock{m};
        cv.wait(lock, [&] { return go; });
      }
      if (cache.get_or_load("cold", loader).value_or("") == "hot") {
        ++right;
      }
    });
  }
  {
    std::lock_guard<std::mutex> lock{m};
    go = true;
  }
  cv.notify_all();
  for (auto& t : pool) {
    t.join();
  }
  BOOST_TEST_MESSAGE("loader calls: " << calls.load());
  BOOST_TEST(right.load() == threads);
  BOOST_TEST(calls.load() >= 1);
  BOOST_TEST(calls.load() <= 3);
  auto s = cache.stats();
  BOOST_TEST(s.loads == static_cast<uint64_t>(calls.load()));
  BOOST_TEST(s.hits + s.misses == static_cast<uint64_t>(threads));
  BOOST_TEST(s.redis_errors == 0u);
}

BOOST_AUTO_TEST_CASE(reads_through_the_loader_when_redis_is_unreachable) {
  cache::redis_client_options client_options;
  client_options.reconnect_min = 10s;
  cache::read_cache cache{testing::unreachable_redis(), options_for("down"), client_options};
  int calls = 0;
  auto loader = [&] {
    ++calls;
    return std::optional<std::string>{"from the database"};
  };
  // (That the Redis calls fail at once inside the back-off window is redis_client_test's.)
  for (int i = 0; i < 100; ++i) {
    BOOST_TEST_REQUIRE(cache.get_or_load("k", loader).value_or("") == "from the database");
  }
  BOOST_TEST(calls == 100);
  auto s = cache.stats();
  BOOST_TEST(s.redis_errors >= 100u);
  BOOST_TEST(s.hits == 0u);
  // Not marked in Redis, so other processes would not announce its invalidations: no copy kept.
  BOOST_TEST(!cache.read("k", loader).announced);
  BOOST_TEST(!cache.invalidate("k"));
}

BOOST_AUTO_TEST_CASE(a_read_that_starts_after_an_invalidation_does_not_join_a_load_from_before_it) {
  // A load reads the old row; the change is projected and invalidated here; a read that starts
  // only then must not be given the load's old value (it would keep it as a current copy).
  cache::read_cache cache{testing::config_from_environment().redis, options_for("late-joiner")};
  std::string source = "old";
  std::future<cache::cache_read> later;
  auto slow_loader = [&] {
    auto read = source;
    source = "new";
    BOOST_TEST(static_cast<bool>(cache.invalidate("k")));
    later = std::async(std::launch::async,
                       [&] { return cache.read("k", [&] { return value(source); }); });
    // Joined to this load, it could only finish after it: bounded, so that the old code fails
    // instead of hanging.
    BOOST_TEST((later.wait_for(5s) == std::future_status::ready),
               "the later read waited for the load that began before the invalidation");
    return value(read);
  };
  BOOST_TEST(cache.read("k", slow_loader).value.value_or("") == "old");
  auto after = later.get();
  BOOST_TEST(after.value.value_or("") == "new");
  BOOST_TEST(after.announced);
}

BOOST_AUTO_TEST_CASE(a_loaded_value_whose_store_failed_may_not_be_kept) {
  // The load outlives the key's mark (ttl * 3 + copies_kept_for): its store is refused, and no
  // invalidation will find a mark to announce, so no caller may keep a copy of the value.
  auto options = announcing("mark-lapsed");
  options.ttl = 10ms;
  options.copies_kept_for = 0ms;
  cache::read_cache cache{testing::config_from_environment().redis, options};
  auto slow_loader = [] {
    std::this_thread::sleep_for(300ms); // a slow query, ten times the mark's life
    return value("v");
  };
  auto r = cache.read("k", slow_loader);
  BOOST_TEST(r.value.value_or("") == "v");
  BOOST_TEST(cache.stats().stale_fills == 1u);
  BOOST_TEST(!r.announced);
}

namespace {

/// A Redis of the test's own (cutting connections disturbs no other test) and how to reach it.
struct own_redis_config {
  testing::own_redis server;
  config::redis_config redis = [this] {
    auto r = testing::config_from_environment().redis;
    r.host = "127.0.0.1";
    r.port = server.port();
    return r;
  }();
};

/// Cuts every connection to `redis` but the caller's (CLIENT KILL TYPE normal SKIPME yes): the
/// next call of a read_cache on it fails once, then it reconnects.
void cut_connections(const config::redis_config& redis) {
  cache::redis_client killer{redis};
  auto r = killer.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
}

} // namespace

BOOST_AUTO_TEST_CASE(a_key_whose_invalidation_failed_is_not_read_stale_and_is_dropped_later) {
  own_redis_config own;
  const auto& redis = own.redis;
  cache::read_cache cache{redis, options_for("invalidation-failed")};
  std::string source = "old";
  auto loader = [&] { return std::optional<std::string>{source}; };
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "old");
  BOOST_TEST(cache.get_or_load("other", loader).value_or("") == "old");
  source = "new";
  cut_connections(redis);
  BOOST_TEST(!cache.invalidate("k")); // the cut connection: Redis still holds "old"
  BOOST_TEST(cache.stats().invalidations_pending == 1u);
  // Until its invalidation is done, the key is read from the source, not from Redis.
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "new");
  // The next invalidation call takes the failed key along.
  BOOST_TEST(static_cast<bool>(cache.invalidate("other")));
  BOOST_TEST(cache.stats().invalidations_pending == 0u);
  cache::redis_client probe{redis};
  auto exists = probe.command({"EXISTS", cache.redis_key("k")});
  BOOST_TEST_REQUIRE(static_cast<bool>(exists));
  BOOST_TEST(exists->integer == 0);
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "new");
}

BOOST_AUTO_TEST_CASE(retry_pending_invalidations_drops_a_key_whose_invalidation_failed) {
  own_redis_config own;
  const auto& redis = own.redis;
  cache::read_cache cache{redis, options_for("invalidation-retry")};
  std::string source = "old";
  auto loader = [&] { return std::optional<std::string>{source}; };
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "old");
  cut_connections(redis);
  BOOST_TEST(!cache.invalidate("k"));
  BOOST_TEST(static_cast<bool>(cache.retry_pending_invalidations()));
  BOOST_TEST(cache.stats().invalidations_pending == 0u);
  source = "new";
  BOOST_TEST(cache.get_or_load("k", loader).value_or("") == "new");
}
