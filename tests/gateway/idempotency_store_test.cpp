// The idempotency store against real Redis: first answers are queued by the answering threads and
// written together (pipelined, one round trip per batch), all readable afterwards; what cannot be
// queued or sent is counted, and a Redis outage loses only the records sent during it.
#define BOOST_TEST_MODULE gateway_idempotency_store
#include <boost/test/unit_test.hpp>

#include "cache/redis_client.hpp"
#include "gateway/idempotency_store.hpp"
#include "gateway/worker_pool.hpp"
#include "tests/cache/test_keys.hpp"
#include "tests/support/own_redis.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::gateway;
using namespace std::chrono_literals;

namespace {

config::redis_config test_redis() {
  return testing::config_from_environment().redis;
}

/// Polls `done` until it holds or `timeout` passed; whether it held.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// The answer recorded for record `i`.
response answer_for(int i) {
  response r;
  r.status = 201;
  r.content_type = "application/json";
  r.body = R"({"order_id":"o)" + std::to_string(i) + R"(","status":"confirmed"})";
  r.headers.emplace_back("Location", "/orders/o" + std::to_string(i));
  return r;
}

/// Drains posted by the store, run when the test says (a worker that is never free by itself).
struct held_drains {
  idempotency_store::drain_poster poster() {
    return [this](std::function<void()> drain) {
      std::lock_guard<std::mutex> lock{mutex};
      drains.push_back(std::move(drain));
      return true;
    };
  }
  /// Runs the drains posted so far; how many.
  size_t run() {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard<std::mutex> lock{mutex};
      now.swap(drains);
    }
    for (auto& d : now) {
      d();
    }
    return now.size();
  }
  std::mutex mutex;
  std::vector<std::function<void()>> drains;
};

/// `threads` threads each remember `per_thread` records of `client` at once.
void remember_concurrently(idempotency_store& store, const std::string& client, int threads,
                           int per_thread) {
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t * per_thread; i < (t + 1) * per_thread; ++i) {
        store.remember(client, "key-" + std::to_string(i), "fp-" + std::to_string(i),
                       answer_for(i));
      }
    });
  }
  for (auto& w : writers) {
    w.join();
  }
}

/// Whether every record `[0, n)` of `client` is readable as it was remembered.
bool all_readable(idempotency_store& store, const std::string& client, int n) {
  for (int i = 0; i < n; ++i) {
    auto got = store.lookup(client, "key-" + std::to_string(i));
    const auto want = answer_for(i);
    if (!got || got->fingerprint != "fp-" + std::to_string(i) ||
        got->answer.status != want.status || got->answer.body != want.body ||
        got->answer.content_type != want.content_type || got->answer.headers != want.headers) {
      BOOST_TEST_MESSAGE("record " << i << " missing or different");
      return false;
    }
  }
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(records_queued_while_no_drain_ran_go_to_redis_in_one_round_trip) {
  held_drains held;
  idempotency_store store{test_redis(), held.poster(), 60s};
  const auto client = testing::unique_prefix("idem-batch");
  remember_concurrently(store, client, 8, 250);
  // Only the record that found the queue idle posted a drain; it takes all of them at once.
  BOOST_TEST(held.run() == 1u);
  const auto s = store.stats();
  BOOST_TEST(s.remembers == 2000u);
  BOOST_TEST(s.round_trips == 1u);
  BOOST_TEST(s.queue_full + s.not_posted + s.redis_errors == 0u);
  BOOST_TEST(all_readable(store, client, 2000));
  // The record's format and TTL are those of a single SET ... PX ttl NX.
  cache::redis_client redis{test_redis()};
  auto ttl = redis.pttl("om:idem:" + std::to_string(client.size()) + ":" + client + ":key-7");
  BOOST_TEST_REQUIRE(static_cast<bool>(ttl));
  BOOST_TEST(*ttl > 50000);
  BOOST_TEST(*ttl <= 60000);
}

BOOST_AUTO_TEST_CASE(
    records_written_concurrently_through_workers_are_all_readable_in_fewer_round_trips) {
  worker_pool<int> pool{4, 4096, [] { return std::make_unique<int>(0); }};
  idempotency_store store{test_redis(), [&pool](std::function<void()> drain) {
                            return pool.try_post([drain = std::move(drain)](int&) { drain(); });
                          }};
  const auto client = testing::unique_prefix("idem-pool");
  remember_concurrently(store, client, 8, 500);
  BOOST_TEST(wait_until([&] { return store.stats().remembers == 4000u; }));
  pool.stop(); // before the store goes: it runs the drains still queued
  const auto s = store.stats();
  BOOST_TEST_MESSAGE("4000 records in " << s.round_trips << " round trips");
  BOOST_TEST(s.round_trips > 0u);
  BOOST_TEST(s.round_trips < 4000u);
  BOOST_TEST(s.queue_full + s.not_posted + s.redis_errors == 0u);
  BOOST_TEST(all_readable(store, client, 4000));
}

BOOST_AUTO_TEST_CASE(an_earlier_record_of_a_key_wins_over_a_later_one_in_the_same_batch) {
  held_drains held;
  idempotency_store store{test_redis(), held.poster()};
  const auto client = testing::unique_prefix("idem-nx");
  store.remember(client, "key-0", "fp-0", answer_for(0));
  store.remember(client, "key-0", "fp-other", answer_for(1));
  BOOST_TEST(held.run() == 1u);
  auto got = store.lookup(client, "key-0");
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->fingerprint == "fp-0");
  BOOST_TEST(got->answer.body == answer_for(0).body);
}

BOOST_AUTO_TEST_CASE(a_full_queue_drops_the_record_and_counts_it) {
  held_drains held;
  idempotency_store store{test_redis(), held.poster(), 60s, 3};
  const auto client = testing::unique_prefix("idem-full");
  for (int i = 0; i < 5; ++i) {
    store.remember(client, "key-" + std::to_string(i), "fp-" + std::to_string(i), answer_for(i));
  }
  BOOST_TEST(store.stats().queue_full == 2u);
  BOOST_TEST(held.run() == 1u);
  BOOST_TEST(store.stats().remembers == 3u);
  BOOST_TEST(all_readable(store, client, 3));
  BOOST_TEST(!store.lookup(client, "key-3").has_value());
}

BOOST_AUTO_TEST_CASE(without_a_free_worker_the_record_is_dropped_and_the_next_one_posts_again) {
  int refusals_left = 1;
  held_drains held;
  auto accept = held.poster();
  idempotency_store store{test_redis(), [&](std::function<void()> drain) {
                            if (refusals_left > 0) {
                              --refusals_left;
                              return false;
                            }
                            return accept(std::move(drain));
                          }};
  const auto client = testing::unique_prefix("idem-busy");
  store.remember(client, "key-9", "fp-9", answer_for(9));
  BOOST_TEST(store.stats().not_posted == 1u);
  store.remember(client, "key-0", "fp-0", answer_for(0));
  BOOST_TEST(held.run() == 1u);
  BOOST_TEST(store.stats().remembers == 1u);
  BOOST_TEST(all_readable(store, client, 1));
  BOOST_TEST(!store.lookup(client, "key-9").has_value());
}

BOOST_AUTO_TEST_CASE(a_redis_outage_loses_only_the_records_sent_during_it) {
  testing::own_redis own_redis;
  config::redis_config redis = test_redis();
  redis.host = "127.0.0.1";
  redis.port = own_redis.port();
  held_drains held;
  idempotency_store store{redis, held.poster()};
  const auto client = testing::unique_prefix("idem-outage");
  store.remember(client, "key-0", "fp-0", answer_for(0));
  BOOST_TEST(held.run() == 1u);
  BOOST_TEST_REQUIRE(store.stats().remembers == 1u);

  own_redis.kill_now();
  store.remember(client, "during", "fp", answer_for(0));
  BOOST_TEST(held.run() == 1u); // not stuck: the drain ran, failed, and ended
  BOOST_TEST(store.stats().redis_errors == 1u);

  own_redis.restart();
  // Records after the outage are written again (those within the reconnect back-off fail fast).
  int next = 1;
  BOOST_TEST(wait_until([&] {
    store.remember(client, "key-" + std::to_string(next), "fp-" + std::to_string(next),
                   answer_for(next));
    ++next;
    held.run();
    return store.stats().remembers == 2u;
  }));
  auto got = store.lookup(client, "key-" + std::to_string(next - 1));
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->fingerprint == "fp-" + std::to_string(next - 1));
}

BOOST_AUTO_TEST_CASE(a_retry_while_the_first_answer_waits_to_be_written_gets_that_answer) {
  held_drains held;
  idempotency_store store{test_redis(), held.poster()};
  const auto client = testing::unique_prefix("idem-unwritten");
  store.remember(client, "key-1", "fp-1", answer_for(1));
  // The drain has not run: Redis does not have the record yet, the store does.
  auto first = store.lookup(client, "key-1");
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(first->fingerprint == "fp-1");
  BOOST_TEST(first->answer.body == answer_for(1).body);
  // A later answer for the same key does not replace it (SET NX).
  store.remember(client, "key-1", "fp-other", answer_for(2));
  BOOST_TEST(store.lookup(client, "key-1")->fingerprint == "fp-1");
  BOOST_TEST(held.run() == 1u);
  BOOST_TEST(store.lookup(client, "key-1")->fingerprint == "fp-1"); // now from Redis
}

BOOST_AUTO_TEST_CASE(a_record_dropped_unwritten_is_not_answered_from_the_store) {
  idempotency_store store{test_redis(), [](std::function<void()>) { return false; }};
  const auto client = testing::unique_prefix("idem-dropped");
  store.remember(client, "key-1", "fp-1", answer_for(1));
  BOOST_TEST(store.stats().not_posted == 1u);
  BOOST_TEST(!store.lookup(client, "key-1").has_value());
}
