#define BOOST_TEST_MODULE projection_runner
#include <boost/test/unit_test.hpp>

#include "actors/inventory/codec.hpp"
#include "actors/order/codec.hpp"
#include "actors/runtime/entity_traits.hpp"
#include "persistence/pg_event_store.hpp"
#include "read_models/projection_runner.hpp"
#include "tests/persistence/event_store_fixture.hpp"
#include "tests/support/pg_test_database.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::persistence;
using namespace ordermesh::read_models;
using namespace std::chrono_literals;
namespace order = ordermesh::actors::order;
namespace inventory = ordermesh::actors::inventory;
using ordermesh::actors::runtime::to_new_event;

namespace {

using clock_type = std::chrono::steady_clock;

/// Whether `condition` holds within `timeout`, checked every 5 ms.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (!condition()) {
    if (clock_type::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// What the runner's callback saw, safe to read from the test thread.
class recorded_changes {
public:
  projection_runner::change_handler handler() {
    return [this](const projection_changes& c) {
      std::lock_guard<std::mutex> guard{mutex_};
      pages_.push_back(c);
      times_.push_back(clock_type::now());
      for (const auto& o : c.orders) {
        last_status_[o.order_id] = o.status + (o.reason.empty() ? "" : ":" + o.reason);
      }
    };
  }

  std::vector<projection_changes> pages() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return pages_;
  }

  /// When each page was handed on.
  std::vector<clock_type::time_point> times() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return times_;
  }

  /// The order's status (":reason" appended if any) in the last page that reported it.
  std::string status_of(const std::string& order_id) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = last_status_.find(order_id);
    return i == last_status_.end() ? "" : i->second;
  }

private:
  mutable std::mutex mutex_;
  std::vector<projection_changes> pages_;
  std::vector<clock_type::time_point> times_;
  std::map<std::string, std::string> last_status_;
};

struct runner_fixture : testing::event_store_fixture {
  void place(const std::string& id, const std::string& customer,
             std::vector<order::order_line> lines) {
    append("order/" + id, no_stream,
           {to_new_event(
               order::encode(order::order_placed{id, customer, std::move(lines), "tok", 100}))});
  }

  int64_t newest() { return std::stoll(db.query_value("SELECT max(global_position) FROM events")); }
};

std::vector<new_event> order_events(std::vector<order::event> evs) {
  std::vector<new_event> out;
  for (auto& ev : evs) {
    out.push_back(to_new_event(order::encode(ev)));
  }
  return out;
}

projection_runner_settings fast(std::string name = "read-models") {
  projection_runner_settings s;
  s.name = std::move(name);
  s.lag_refresh = 0ms;
  return s;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(projection_runner_tests, runner_fixture)

BOOST_AUTO_TEST_CASE(projects_the_backlog_and_then_each_new_event_and_reports_what_changed) {
  place("o1", "c1", {{"A", 1}});
  append("inventory/A", no_stream, {to_new_event(inventory::encode(inventory::restocked{5}))});

  recorded_changes seen;
  projection_runner runner{db.pg(), fast(), seen.handler()};
  wait_until_every_event_is_readable();
  BOOST_REQUIRE(runner.wait_until_caught_up(10s));
  BOOST_TEST(db.query_value("SELECT status FROM read_orders WHERE order_id = 'o1'") == "placed");
  BOOST_TEST(seen.status_of("o1") == "placed");

  // A new event while it runs reaches the read models and the callback without any call.
  append("order/o1", 1,
         order_events(
             {order::stock_reserved{"A"}, order::payment_requested{1}, order::order_confirmed{}}));
  BOOST_TEST(eventually([&] { return seen.status_of("o1") == "confirmed"; }, 10s));
  BOOST_TEST(db.query_value("SELECT status FROM read_orders WHERE order_id = 'o1'") == "confirmed");

  place("o2", "c2", {{"A", 9}});
  append("order/o2", 1, order_events({order::order_rejected{"out of stock"}}));
  BOOST_TEST(eventually([&] { return seen.status_of("o2") == "rejected:out of stock"; }, 10s));

  wait_until_every_event_is_readable();
  BOOST_REQUIRE(runner.wait_until_caught_up(10s));
  auto stats = runner.stats();
  BOOST_TEST(stats.events_applied == 7u);
  BOOST_TEST(stats.checkpoint == newest());
  BOOST_TEST(eventually([&] { return runner.stats().newest_position == newest(); }, 5s));
  BOOST_TEST(runner.stats().lag == 0);
  BOOST_TEST(stats.errors == 0u);
  BOOST_TEST(!stats.failing);

  // Every page handed on changed something; the SKU was reported with the first.
  auto pages = seen.pages();
  BOOST_TEST(!pages.empty());
  for (const auto& page : pages) {
    BOOST_TEST(!page.empty());
  }
  BOOST_TEST(pages.front().skus == std::vector<std::string>{"A"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_backlog_larger_than_a_page_is_read_in_back_to_back_full_pages) {
  std::vector<stream_append> batch;
  for (int i = 0; i < 1200; ++i) {
    auto id = "o" + std::to_string(i);
    batch.push_back({"order/" + id, no_stream,
                     order_events({order::order_placed{id, "c1", {{"A", 1}}, "t", 1}})});
  }
  BOOST_REQUIRE(store.append(batch));

  auto settings = fast();
  settings.page_size = 500;
  // A poll interval this long would show if the runner waited between full pages.
  settings.poll_interval = 5s;
  recorded_changes seen;
  projection_runner runner{db.pg(), settings, seen.handler()};
  // The first page may wait one poll interval: the subscription reads only below the oldest
  // transaction still writing anywhere on the server (other tests run meanwhile). The next pages
  // must follow at once.
  BOOST_TEST(eventually([&] { return runner.stats().checkpoint == newest(); }, 20s));

  auto pages = seen.pages();
  BOOST_REQUIRE_EQUAL(pages.size(), 3u);
  auto times = seen.times();
  BOOST_TEST((times[2] - times[0] < 4s));
  BOOST_TEST(pages[0].orders.size() == 500u);
  BOOST_TEST(pages[1].orders.size() == 500u);
  BOOST_TEST(pages[2].orders.size() == 200u);
  BOOST_TEST(runner.stats().pages == 3u);
  BOOST_TEST(runner.stats().events_applied == 1200u);
  BOOST_TEST(db.query_value("SELECT count(*) FROM read_orders") == "1200");
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_is_retried_with_growing_back_off_and_stop_is_prompt) {
  auto pg = db.pg();
  pg.port = 1; // nothing listens there: each attempt fails at once
  auto settings = fast();
  settings.backoff_min = 50ms;
  settings.backoff_max = 2s;
  recorded_changes seen;
  projection_runner runner{pg, settings, seen.handler()};

  BOOST_TEST(eventually([&] { return runner.stats().errors >= 2; }, 5s));
  BOOST_TEST(runner.stats().failing);
  BOOST_TEST(runner.stats().database_unreachable);
  // Attempts at 0, 50, 150, 350, 750 ms, ...: about five in the first second, not hundreds.
  std::this_thread::sleep_for(1s);
  auto errors = runner.stats().errors;
  BOOST_TEST(errors >= 3u);
  BOOST_TEST(errors <= 7u);
  BOOST_TEST(seen.pages().empty());

  // It is now in a wait of 800 ms or more; stop() cuts it short.
  auto before_stop = clock_type::now();
  runner.stop();
  BOOST_TEST((clock_type::now() - before_stop < 300ms));
  runner.stop(); // idempotent
  BOOST_TEST(!runner.wait_until_caught_up(100ms));
}

BOOST_AUTO_TEST_CASE(it_recovers_on_its_own_once_the_database_works_again) {
  // A database without the schema yet: every page fails until it is migrated.
  testing::pg_test_database bare{false};
  auto settings = fast();
  settings.backoff_max = 200ms;
  recorded_changes seen;
  projection_runner runner{bare.pg(), settings, seen.handler()};
  BOOST_TEST(eventually([&] { return runner.stats().errors >= 2; }, 5s));
  BOOST_TEST(runner.stats().failing);
  BOOST_TEST(!runner.stats().database_unreachable); // it answers; the page is refused

  pg_event_store late{bare.pg(), bare.config().journal};
  BOOST_REQUIRE(late.migrate());
  auto r = late.append({stream_append{
      "order/o1", no_stream, order_events({order::order_placed{"o1", "c1", {{"A", 1}}, "t", 1}})}});
  BOOST_REQUIRE(r);

  BOOST_TEST(eventually([&] { return seen.status_of("o1") == "placed"; }, 10s));
  BOOST_TEST(!runner.stats().failing);
  BOOST_TEST(bare.query_value("SELECT count(*) FROM read_orders") == "1");
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_is_logged_and_projection_goes_on) {
  std::atomic<int> calls{0};
  projection_runner runner{db.pg(), fast(), [&](const projection_changes&) {
                             ++calls;
                             throw std::runtime_error{"handler bug"};
                           }};
  place("o1", "c1", {{"A", 1}});
  BOOST_TEST(eventually([&] { return calls.load() == 1; }, 10s));
  place("o2", "c1", {{"A", 1}});
  BOOST_TEST(eventually([&] { return calls.load() == 2; }, 10s));
  wait_until_every_event_is_readable();
  BOOST_REQUIRE(runner.wait_until_caught_up(10s));
  BOOST_TEST(db.query_value("SELECT count(*) FROM read_orders") == "2");
  BOOST_TEST(runner.stats().errors == 0u);
}

BOOST_AUTO_TEST_CASE(stop_from_the_callback_ends_the_loop_after_it) {
  std::atomic<int> calls{0};
  std::atomic<projection_runner*> self{nullptr};
  projection_runner runner{db.pg(), fast(), [&](const projection_changes&) {
                             ++calls;
                             self.load()->stop();
                           }};
  self = &runner;
  place("o1", "c1", {{"A", 1}});
  BOOST_TEST(eventually([&] { return calls.load() == 1; }, 10s));
  place("o2", "c1", {{"A", 1}});
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(calls.load() == 1);
  BOOST_TEST(db.query_value("SELECT count(*) FROM read_orders") == "1");
  runner.stop();
}

BOOST_AUTO_TEST_SUITE_END()
