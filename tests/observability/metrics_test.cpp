#define BOOST_TEST_MODULE observability_metrics
#include <boost/test/unit_test.hpp>

#include "observability/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace ordermesh::observability;

namespace {

/// Checks that `f` throws std::invalid_argument whose message contains `fragment`.
template <typename F>
void check_invalid(F&& f, const std::string& fragment) {
  try {
    f();
    BOOST_ERROR("no std::invalid_argument; expected one mentioning: " << fragment);
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string{e.what()}.find(fragment) != std::string::npos,
               "message '" << e.what() << "' lacks '" << fragment << "'");
  }
}

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(renders_counter_gauge_and_histogram_exactly_in_registration_order) {
  metrics_registry registry;
  auto& requests = registry.add_counter_family("http_requests_total", "HTTP requests handled.",
                                               {"method", "route", "status"});
  auto& in_flight = registry.add_gauge("http_in_flight", "Requests being handled.");
  auto& latency = registry.add_histogram_family("journal_commit_seconds", "Commit latency.",
                                                {"node"}, {0.005, 0.1, 1});

  requests.with({"POST", "/orders", "201"}).inc();
  requests.with({"GET", "/orders/{id}", "200"}).inc(5);
  requests.with({"POST", "/orders", "201"}).inc(2);
  in_flight.set(3);
  in_flight.inc(0.5);
  in_flight.dec(2);
  auto& n1 = latency.with({"n1"});
  n1.observe(0.001); // le 0.005
  n1.observe(0.005); // le 0.005 (bounds are inclusive)
  n1.observe(0.25);  // le 1
  n1.observe(30);    // +Inf only

  BOOST_TEST(registry.render() ==
             "# HELP http_requests_total HTTP requests handled.\n"
             "# TYPE http_requests_total counter\n"
             "http_requests_total{method=\"POST\",route=\"/orders\",status=\"201\"} 3\n"
             "http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"200\"} 5\n"
             "# HELP http_in_flight Requests being handled.\n"
             "# TYPE http_in_flight gauge\n"
             "http_in_flight 1.5\n"
             "# HELP journal_commit_seconds Commit latency.\n"
             "# TYPE journal_commit_seconds histogram\n"
             "journal_commit_seconds_bucket{node=\"n1\",le=\"0.005\"} 2\n"
             "journal_commit_seconds_bucket{node=\"n1\",le=\"0.1\"} 2\n"
             "journal_commit_seconds_bucket{node=\"n1\",le=\"1\"} 3\n"
             "journal_commit_seconds_bucket{node=\"n1\",le=\"+Inf\"} 4\n"
             "journal_commit_seconds_sum{node=\"n1\"} 30.256\n"
             "journal_commit_seconds_count{node=\"n1\"} 4\n");
}

BOOST_AUTO_TEST_CASE(unlabelled_metrics_are_exported_as_zero_before_their_first_update) {
  metrics_registry registry;
  registry.add_counter("restarts_total", "");
  registry.add_histogram("batch_size", "Events per batch.", {1, 10});
  registry.add_counter_family("labelled_total", "No child yet.", {"kind"});
  BOOST_TEST(registry.render() == "# TYPE restarts_total counter\n"
                                  "restarts_total 0\n"
                                  "# HELP batch_size Events per batch.\n"
                                  "# TYPE batch_size histogram\n"
                                  "batch_size_bucket{le=\"1\"} 0\n"
                                  "batch_size_bucket{le=\"10\"} 0\n"
                                  "batch_size_bucket{le=\"+Inf\"} 0\n"
                                  "batch_size_sum 0\n"
                                  "batch_size_count 0\n"
                                  "# HELP labelled_total No child yet.\n"
                                  "# TYPE labelled_total counter\n");
}

BOOST_AUTO_TEST_CASE(escapes_backslash_and_newline_in_help_and_also_quotes_in_label_values) {
  metrics_registry registry;
  auto& family = registry.add_gauge_family("odd", "a \\ b\nc \"quoted\"", {"v"});
  family.with({"back\\slash \"q\"\nline"}).set(1);
  BOOST_TEST(registry.render() == "# HELP odd a \\\\ b\\nc \"quoted\"\n"
                                  "# TYPE odd gauge\n"
                                  "odd{v=\"back\\\\slash \\\"q\\\"\\nline\"} 1\n");
}

BOOST_AUTO_TEST_CASE(formats_numbers_as_prometheus_parses_them) {
  metrics_registry registry;
  auto& g = registry.add_gauge_family("g", "", {"case"});
  g.with({"million"}).set(1e6);
  g.with({"negative"}).set(-42);
  g.with({"fraction"}).set(0.1);
  g.with({"small"}).set(1.5e-7);
  g.with({"huge"}).set(1e300);
  g.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  g.with({"inf"}).set(std::numeric_limits<double>::infinity());
  g.with({"minus_inf"}).set(-std::numeric_limits<double>::infinity());
  registry.add_counter("big_total", "").inc(18446744073709551615u);
  BOOST_TEST(registry.render() == "# TYPE g gauge\n"
                                  "g{case=\"million\"} 1000000\n"
                                  "g{case=\"negative\"} -42\n"
                                  "g{case=\"fraction\"} 0.1\n"
                                  "g{case=\"small\"} 1.5e-07\n"
                                  "g{case=\"huge\"} 1e+300\n"
                                  "g{case=\"nan\"} NaN\n"
                                  "g{case=\"inf\"} +Inf\n"
                                  "g{case=\"minus_inf\"} -Inf\n"
                                  "# TYPE big_total counter\n"
                                  "big_total 18446744073709551615\n");
}

BOOST_AUTO_TEST_CASE(default_latency_buckets_run_from_half_a_millisecond_to_ten_seconds) {
  const auto& bounds = default_latency_buckets();
  BOOST_TEST_REQUIRE(bounds.size() >= 10u);
  BOOST_TEST(bounds.front() == 0.0005);
  BOOST_TEST(bounds.back() == 10.0);
  BOOST_TEST(std::is_sorted(bounds.begin(), bounds.end()));
  metrics_registry registry;
  auto& h = registry.add_histogram("request_seconds", "Latency.");
  h.observe(0.003);
  h.observe(std::numeric_limits<double>::quiet_NaN()); // counted in +Inf only
  const auto snap = h.snapshot();
  BOOST_TEST(snap.cumulative.size() == bounds.size() + 1);
  BOOST_TEST(snap.cumulative[0] == 0u);                 // le 0.0005
  BOOST_TEST(snap.cumulative[3] == 1u);                 // le 0.005
  BOOST_TEST(snap.cumulative[bounds.size() - 1] == 1u); // le 10
  BOOST_TEST(snap.cumulative.back() == 2u);
  BOOST_TEST(snap.count == 2u);
  BOOST_TEST(std::isnan(snap.sum));
  BOOST_TEST(contains(registry.render(), "request_seconds_bucket{le=\"0.0005\"} 0\n"));
}

BOOST_AUTO_TEST_CASE(callback_families_are_evaluated_at_every_render) {
  metrics_registry registry;
  int depth = 7;
  registry.add_callback_family("mailbox_depth", "Messages waiting.", callback_type::gauge,
                               {"actor"}, [&depth] {
                                 return std::vector<callback_sample>{{{"order/1"}, double(depth)},
                                                                     {{"inventory/\"x\""}, 0.5}};
                               });
  registry.add_callback_family("cache_hits_total", "Cache hits.", callback_type::counter, {}, [] {
    return std::vector<callback_sample>{{{}, 12}};
  });
  const std::string expected_tail = "# HELP cache_hits_total Cache hits.\n"
                                    "# TYPE cache_hits_total counter\n"
                                    "cache_hits_total 12\n";
  BOOST_TEST(registry.render() == "# HELP mailbox_depth Messages waiting.\n"
                                  "# TYPE mailbox_depth gauge\n"
                                  "mailbox_depth{actor=\"order/1\"} 7\n"
                                  "mailbox_depth{actor=\"inventory/\\\"x\\\"\"} 0.5\n" +
                                      expected_tail);
  depth = 9;
  BOOST_TEST(contains(registry.render(), "mailbox_depth{actor=\"order/1\"} 9\n"));
}

BOOST_AUTO_TEST_CASE(a_callback_may_add_metrics_because_it_runs_outside_the_registry_lock) {
  metrics_registry registry;
  registry.add_callback_family("lag", "", callback_type::gauge, {}, [&registry] {
    registry.add_counter("scrapes_total", "").inc();
    return std::vector<callback_sample>{{{}, 1}};
  });
  // A render writes the families registered when it began: the counter appears from the second.
  BOOST_TEST(registry.render() == "# TYPE lag gauge\nlag 1\n");
  BOOST_TEST(registry.render() == "# TYPE lag gauge\nlag 1\n"
                                  "# TYPE scrapes_total counter\nscrapes_total 2\n");
}

BOOST_AUTO_TEST_CASE(a_bad_callback_sample_or_a_throwing_callback_becomes_a_comment_line) {
  metrics_registry registry;
  registry.add_callback_family("depth", "", callback_type::gauge, {"actor"}, [] {
    return std::vector<callback_sample>{{{"a", "extra"}, 1}, {{"b"}, 2}};
  });
  registry.add_callback_family(
      "broken", "", callback_type::gauge, {},
      []() -> std::vector<callback_sample> { throw std::runtime_error("component stopped"); });
  registry.add_gauge("after", "").set(4);
  BOOST_TEST(registry.render() == "# TYPE depth gauge\n"
                                  "# callback of depth returned 2 label values, expected 1\n"
                                  "depth{actor=\"b\"} 2\n"
                                  "# TYPE broken gauge\n"
                                  "# callback of broken failed: component stopped\n"
                                  "# TYPE after gauge\n"
                                  "after 4\n");
}

BOOST_AUTO_TEST_CASE(with_returns_the_same_child_for_the_same_labels) {
  metrics_registry registry;
  auto& family = registry.add_counter_family("c_total", "", {"a", "b"});
  auto& first = family.with({"x", "y"});
  family.with({"x", "z"});
  BOOST_TEST(&family.with({"x", "y"}) == &first);
}

BOOST_AUTO_TEST_CASE(adding_an_identical_family_again_returns_the_existing_one) {
  metrics_registry registry;
  auto& first = registry.add_histogram_family("h", "help", {"a"}, {1, 2});
  BOOST_TEST(&registry.add_histogram_family("h", "help", {"a"}, {1, 2}) == &first);
  auto& c = registry.add_counter("c_total", "help");
  BOOST_TEST(&registry.add_counter("c_total", "help") == &c);
}

BOOST_AUTO_TEST_CASE(rejects_invalid_names_and_shapes_with_a_clear_message) {
  metrics_registry registry;
  check_invalid([&] { registry.add_counter("1st_total", ""); }, "must match [a-zA-Z_:]");
  check_invalid([&] { registry.add_counter("http-requests", ""); }, "'http-requests'");
  check_invalid([&] { registry.add_counter("", ""); }, "must match");
  check_invalid([&] { registry.add_gauge_family("g", "", {"a:b"}); }, "label name 'a:b'");
  check_invalid([&] { registry.add_gauge_family("g", "", {"__name"}); }, "reserves");
  check_invalid([&] { registry.add_gauge_family("g", "", {"a", "a"}); }, "appears twice");
  check_invalid([&] { registry.add_histogram_family("h", "", {"le"}, {1}); }, "'le' is reserved");
  check_invalid([&] { registry.add_histogram("h", "", {1, 0.5}); }, "strictly increasing");
  check_invalid([&] { registry.add_histogram("h", "", {1, 1}); }, "strictly increasing");
  check_invalid([&] { registry.add_histogram("h", "", {1, std::nan("")}); }, "finite");
  check_invalid([&] { registry.add_histogram("h", "", {1, HUGE_VAL}); }, "+Inf bucket is implicit");

  auto& family = registry.add_counter_family("requests_total", "Requests.", {"method"});
  check_invalid([&] { family.with({"GET", "200"}); }, "got 2 label values, expected 1");
  check_invalid([&] { family.with({}); }, "got 0 label values, expected 1");
  check_invalid([&] { registry.add_gauge("requests_total", "Requests."); }, "already registered");
  check_invalid([&] { registry.add_counter_family("requests_total", "Other.", {"method"}); },
                "already registered");
  check_invalid([&] { registry.add_counter_family("requests_total", "Requests.", {"verb"}); },
                "already registered");

  registry.add_histogram("latency", "", {1});
  check_invalid([&] { registry.add_histogram("latency", "", {2}); }, "already registered");
  check_invalid([&] { registry.add_counter("latency_count", ""); },
                "'latency_count' is already used");
  registry.add_gauge("queue_sum", "");
  check_invalid([&] { registry.add_histogram("queue", "", {1}); }, "'queue_sum' is already used");

  auto none = [] { return std::vector<callback_sample>{}; };
  registry.add_callback_family("cb", "", callback_type::gauge, {}, none);
  check_invalid([&] { registry.add_callback_family("cb", "", callback_type::gauge, {}, none); },
                "cannot be registered twice");
  check_invalid([&] { registry.add_callback_family("cb2", "", callback_type::gauge, {}, {}); },
                "callback is empty");
  // Failed registrations left nothing behind.
  BOOST_TEST(!contains(registry.render(), "# TYPE h "));
  BOOST_TEST(!contains(registry.render(), "# TYPE queue "));
}

BOOST_AUTO_TEST_CASE(concurrent_updates_are_all_counted_while_renders_run_alongside) {
  metrics_registry registry;
  auto& requests = registry.add_counter_family("requests_total", "", {"worker"});
  auto& latency = registry.add_histogram("latency_seconds", "", {0.5, 1.5});
  auto& in_flight = registry.add_gauge("in_flight", "");
  constexpr int workers = 4;
  constexpr int per_worker = 100000;

  // Boost.Test assertions are not thread-safe: the scraper counts, the main thread checks.
  std::atomic<bool> done{false};
  std::size_t renders = 0;
  std::size_t malformed = 0;
  std::thread scraper{[&] {
    while (!done.load()) {
      const auto text = registry.render();
      if (!contains(text, "# TYPE latency_seconds histogram\n") || text.back() != '\n') {
        ++malformed;
      }
      ++renders;
    }
  }};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      // Children created concurrently too: a shared one and one per worker.
      auto& shared = requests.with({"all"});
      auto& own = requests.with({"w" + std::to_string(w)});
      for (int i = 0; i < per_worker; ++i) {
        shared.inc();
        own.inc(2);
        latency.observe(i % 2 == 0 ? 1.0 : 2.0); // half le 1.5, half +Inf; sum 1.5 per observation
        in_flight.inc();
        in_flight.dec();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  done = true;
  scraper.join();

  BOOST_TEST(renders > 0u);
  BOOST_TEST(malformed == 0u);
  BOOST_TEST(requests.with({"all"}).value() == std::uint64_t{workers} * per_worker);
  for (int w = 0; w < workers; ++w) {
    BOOST_TEST(requests.with({"w" + std::to_string(w)}).value() == 2u * per_worker);
  }
  const auto snap = latency.snapshot();
  const std::uint64_t total = std::uint64_t{workers} * per_worker;
  BOOST_TEST(snap.count == total);
  BOOST_TEST(snap.cumulative[0] == 0u);
  BOOST_TEST(snap.cumulative[1] == total / 2);
  BOOST_TEST(snap.cumulative[2] == total);
  BOOST_TEST(snap.sum == 1.5 * total); // every partial sum is a multiple of 0.5: exact
  BOOST_TEST(in_flight.value() == 0.0);
}
