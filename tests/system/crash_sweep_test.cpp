// The crash-point sweep: for each named fail point (util/fail_point.hpp), a real
// `ordermesh standalone` under load is ended exactly there (`_exit`, like a power cut), PostgreSQL
// is crashed with `pg_ctl stop -m immediate` and kept down longer than the reservation TTL, then
// everything is started again and left to settle. Afterwards the whole journal history must keep
// its invariants (tests/system/journal_invariants.hpp) and the PSP must hold no authorization that
// was neither captured nor voided.
//
// Crashes the shared test PostgreSQL, so CTest runs it alone (RUN_SERIAL).
//
// Which runs: by default a short list (scripts/test).
// OM_CRASH_SWEEP_POINTS="name:n[+restart:m],..." names the runs instead; OM_CRASH_SWEEP_SECONDS=<s>
// repeats every known point with varying hit counts (seeded by OM_CRASH_SWEEP_SEED) until that much
// time has passed (scripts/crash-sweep).

#define BOOST_TEST_MODULE system_crash_sweep
#include <boost/test/execution_monitor.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/support/order_sql.hpp"
#include "tests/system/journal_invariants.hpp"
#include "tests/system/system_processes.hpp"
#include "util/fail_point.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// "name:n": the fail point and the hit that ends the process.
struct armed_point {
  std::string name;
  uint64_t nth = 1;
  std::string text() const { return name + ":" + std::to_string(nth); }
};

/// One run: the point that ends the node under load, and optionally a point that ends the first
/// restart (during recovery); the second restart runs without one.
struct sweep_run {
  armed_point first;
  std::optional<armed_point> restart;
  /// Crash PostgreSQL under load while the node still runs (once 25 orders were accepted, if the
  /// point has not ended it by then), rather than after the node ended at the point.
  bool pg_crash_under_load = false;
  std::string text() const {
    return first.text() + (restart ? "+" + restart->text() : "") +
           (pg_crash_under_load ? " (pg crash under load)" : "");
  }
};

/// Every fail point on the order path and a hit count that load reaches within seconds (the older
/// path's order.confirmed_before_stock_commit and order.stock_commit_sent_before_capture are
/// reached only by orders an older binary left mid-saga).
const std::vector<armed_point>& known_points() {
  static const std::vector<armed_point> points{
      // clang-format off
      {"journal.committed_before_reply", 60},
      {"order.placed_before_take", 6},
      {"order.taken_before_record", 6},
      {"order.taken_before_sell", 6},
      {"settlement.answered_in_part", 1},
      {"settlement.settled_before_checkpoint", 1},
      {"order.compensation_before_release", 3},
      {"order.compensation_before_void", 2},
      {"order.compensated_before_record", 3},
      {"payment.before_psp_call", 10},
      {"payment.psp_answered_before_record", 10},
      // clang-format on
  };
  return points;
}

/// Kills the first start after confirmations, then the restart while it recovers.
sweep_run recovery_run(uint64_t nth) {
  return {
      {"order.taken_before_sell", 4}, armed_point{"entity.recovered_before_resume", nth}, false};
}

std::optional<armed_point> parse_point(const std::string& text) {
  auto parsed = util::parse_fail_point(text.c_str());
  if (!parsed.armed) {
    return std::nullopt;
  }
  return armed_point{parsed.name, parsed.nth};
}

std::vector<sweep_run> parse_runs(const std::string& list) {
  std::vector<sweep_run> runs;
  std::stringstream in{list};
  for (std::string item; std::getline(in, item, ',');) {
    auto plus = item.find('+');
    auto first = parse_point(item.substr(0, plus));
    BOOST_TEST_REQUIRE(first.has_value(), "bad fail point in OM_CRASH_SWEEP_POINTS: " << item);
    sweep_run run{*first, std::nullopt, false};
    if (plus != std::string::npos) {
      run.restart = parse_point(item.substr(plus + 1));
      BOOST_TEST_REQUIRE(run.restart.has_value(), "bad restart point: " << item);
    }
    runs.push_back(run);
  }
  return runs;
}

/// The short default of scripts/test: the commit/reply window, every take answered but not
/// recorded, the confirm-to-commit window (issue item 5), the lost PSP answer (item 6) and a crash
/// during recovery.
std::vector<sweep_run> default_runs() {
  return {{{"journal.committed_before_reply", 60}, std::nullopt, false},
          {{"order.taken_before_record", 6}, std::nullopt, false},
          {{"order.taken_before_sell", 6}, std::nullopt, false},
          {{"payment.psp_answered_before_record", 10}, std::nullopt, true},
          recovery_run(6)};
}

std::string unique(const std::string& prefix) {
  static std::mt19937_64 random{std::random_device{}()};
  return prefix + "-" + std::to_string(random() % 1'000'000'000ull);
}

constexpr auto reservation_ttl = 3s;

std::vector<std::string> node_args() {
  return {"--saga.reservation_ttl=" + std::to_string(reservation_ttl.count()) + "s",
          "--saga.step_timeout=1500ms", "--gateway.rate_limit_per_s=100000",
          "--gateway.rate_limit_burst=100000", "--psp.client_timeout=2s",
          // Settlement rounds while the little stock lasts (settlement.settled_before_checkpoint).
          "--settlement.interval=200ms",
          // The test's clients name themselves (X-Client-Id) as a trusted proxy would.
          "--gateway.trusted_proxy=true"};
}

/// Clients placing orders with fresh keys against whichever node currently serves, until
/// stopped. Multi-line orders and declined cards give compensations; demand exceeds stock.
class order_load {
public:
  order_load(std::vector<std::string> skus, int threads) : skus_(std::move(skus)) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, i] { run(i); });
    }
  }
  ~order_load() { stop(); }
  void target(uint16_t port) { port_ = port; }
  void stop() {
    stopping_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }
  int accepted() const { return accepted_; }

private:
  void run(int thread) {
    std::mt19937 r(static_cast<unsigned>(thread * 7919 + 1));
    const auto client = unique("sweep-client");
    uint16_t connected_to = 0;
    std::unique_ptr<http_client> c;
    int n = 0;
    while (!stopping_) {
      const uint16_t port = port_;
      if (port == 0) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      if (port != connected_to || !c) {
        c = std::make_unique<http_client>("127.0.0.1", port, 3s);
        connected_to = port;
      }
      json lines = json::array();
      const auto first = r() % skus_.size();
      const auto count = 1 + r() % 2;
      for (size_t l = 0; l < count; ++l) {
        lines.push_back({{"sku", skus_[(first + l) % skus_.size()]}, {"qty", 1 + r() % 2}});
      }
      const bool decline = r() % 5 == 0;
      auto body = json{{"customer_id", "sweep-" + std::to_string(thread)},
                       {"lines", lines},
                       {"payment",
                        {{"card_token", decline ? "tok_decline_card" : "tok_visa"},
                         {"amount_cents", 500 + r() % 1000}}}}
                      .dump();
      try {
        auto res = c->request("POST", "/orders", body,
                              {{"X-Client-Id", client}, {"Idempotency-Key", std::to_string(n++)}});
        if (res.status == 202u || res.status == 201u) {
          ++accepted_;
        }
        if (res.status >= 500u) {
          std::this_thread::sleep_for(50ms);
        }
      } catch (const http_client_error&) {
        std::this_thread::sleep_for(50ms); // the node is down or restarting
      }
    }
  }

  std::vector<std::string> skus_;
  std::atomic<uint16_t> port_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::vector<std::thread> threads_;
};

/// Keeps PostgreSQL down across a scope's failure: started again at the latest on destruction.
struct pg_crash {
  pg_crash() { run_services("pg-crash"); }
  void restart() {
    if (!restarted) {
      restarted = true;
      run_services("pg-start");
    }
  }
  ~pg_crash() {
    if (!restarted) {
      restarted = true;
      std::string command = std::string{std::getenv("OM_SERVICES")} + " test pg-start";
      (void)std::system(command.c_str());
    }
  }
  bool restarted = false;
};

int open_sagas(const pg_test_database& db) {
  return std::stoi(db.query_value(
      std::string{"SELECT count(*) FROM (SELECT stream_id FROM events WHERE stream_id LIKE "
                  "'order/%' GROUP BY stream_id HAVING count(*) FILTER (WHERE "} +
      testing::saga_end_sql + ") = 0) x"));
}

/// (confirmed sale, SKU) pairs its confirmation names that no inventory.orders_settled of that SKU
/// names yet: what the settlement runner has still to settle.
int unsettled_sales(const pg_test_database& db) {
  return std::stoi(db.query_value(unsettled_sales_sql));
}

/// Waits for a node armed with a fail point to end there; false (with a message) otherwise.
bool ended_at_fail_point(standalone_process& node, const armed_point& point,
                         std::chrono::milliseconds timeout) {
  auto status = node.process->wait_exit(timeout);
  if (!status) {
    BOOST_TEST(false, "fail point " << point.text() << " was not reached within " << timeout.count()
                                    << " ms; the node's output ends:\n"
                                    << node.process->output_tail());
    node.process->kill_now();
    return false;
  }
  BOOST_TEST(status->code.value_or(-1) == util::fail_point_exit_code,
             "the node armed with " << point.text() << " ended otherwise: " << status->describe()
                                    << "\n"
                                    << node.process->output_tail());
  return status->code.value_or(-1) == util::fail_point_exit_code;
}

/// One run of the sweep; its invariant report.
invariant_report sweep_once(const sweep_run& run) {
  pg_test_database db;
  psp_process psp{{"--psp.latency=10ms", "--psp.latency_jitter=20ms"}};
  BOOST_TEST_REQUIRE(psp.ready, psp.process->output_tail());
  const std::vector<std::string> skus{unique("sw-a"), unique("sw-b"), unique("sw-c")};

  {
    // Stock comes first, through a node without a fail point (an early hit would end it there).
    standalone_process setup{db, psp.port, node_args()};
    BOOST_TEST_REQUIRE(setup.wait_ready(60s), "the node did not start:\n"
                                                  << setup.process->output_tail());
    auto c = setup.client();
    for (const auto& sku : skus) {
      BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":20})",
                                    {{"X-Client-Id", "sweep-restock"}})
                             .status == 200u);
    }
    for (const auto& sku : skus) {
      BOOST_TEST_REQUIRE(wait_for(
          [&] {
            return c->request("GET", "/inventory/" + sku, "", {{"X-Client-Id", "sweep-probe"}})
                       .status == 200u;
          },
          30s));
    }
    BOOST_TEST_REQUIRE(setup.process->terminate(10s).success());
  }
  auto first = std::make_unique<standalone_process>(
      db, psp.port, node_args(),
      std::map<std::string, std::string>{{util::fail_point_variable, run.first.text()}});
  order_load load{skus, 4};
  load.target(first->port);

  // PostgreSQL crashes under load while the node lives (if the fail point has not ended it by
  // then), and stays down longer than the reservation TTL.
  std::unique_ptr<pg_crash> crash;
  wait_for([&] { return load.accepted() >= 25 || !first->process->running(); }, 30s);
  if (run.pg_crash_under_load && first->process->running()) {
    crash = std::make_unique<pg_crash>();
    std::this_thread::sleep_for(reservation_ttl + 1s); // the outage must outlast the TTL
    crash->restart();
  }
  const bool reached = ended_at_fail_point(*first, run.first, 45s);
  load.target(0);
  if (!crash) {
    crash = std::make_unique<pg_crash>();
    std::this_thread::sleep_for(reservation_ttl + 1s);
  }
  crash->restart();
  BOOST_TEST_MESSAGE(run.text() << ": " << load.accepted() << " orders accepted before the crash");

  if (run.restart) {
    standalone_process recovering{
        db, psp.port, node_args(),
        std::map<std::string, std::string>{{util::fail_point_variable, run.restart->text()}}};
    load.target(recovering.port);
    ended_at_fail_point(recovering, *run.restart, 45s);
    load.target(0);
  }

  standalone_process last{db, psp.port, node_args()};
  BOOST_TEST_REQUIRE(last.wait_ready(60s), "the restarted node did not become ready:\n"
                                               << last.process->output_tail());
  load.target(last.port);
  const int before = load.accepted();
  wait_for([&] { return load.accepted() >= before + 10; }, 10s);
  load.stop();
  const bool settled = wait_for([&] { return open_sagas(db) == 0; }, 30s);
  BOOST_TEST(settled, run.text() << ": " << open_sagas(db) << " sagas never ended");
  // The node's settlement runner settles the confirmed sales within its interval (1 s).
  const bool sales_settled = wait_for([&] { return unsettled_sales(db) == 0; }, 30s);
  BOOST_TEST(sales_settled, run.text() << ": " << unsettled_sales(db) << " sale lines unsettled");
  auto unnotified = [&] { return std::stoi(db.query_value(unnotified_sales_sql)); };
  const bool sales_notified = wait_for([&] { return unnotified() == 0; }, 30s);
  BOOST_TEST(sales_notified, run.text() << ": " << unnotified() << " confirmed sales unnotified");
  last.process->terminate(10s);

  const auto history = read_journal(db.pg());
  auto report = check_journal(history);
  for (size_t i = 0; i < report.orders.size() && i < 3; ++i) {
    BOOST_TEST_MESSAGE("history of order " << report.orders[i] << ":\n"
                                           << describe_order(history, report.orders[i]));
  }
  const auto stats = psp.stats();
  const auto holds = stats.value("authorizations", int64_t{0}) -
                     stats.value("captures", int64_t{0}) - stats.value("voids", int64_t{0});
  report.counts["psp_open_holds"] = holds;
  if (holds != 0) {
    report.kinds["PSP hold neither captured nor voided"] += 1;
    report.violations.push_back(
        "the PSP holds " + std::to_string(holds) +
        " authorizations neither captured nor voided (stats: " + stats.dump() + ")");
  }
  BOOST_TEST_MESSAGE(run.text() << (reached ? "" : " (point not reached)") << ": "
                                << report.describe());
  return report;
}

std::vector<sweep_run> long_runs(std::mt19937& random) {
  std::vector<sweep_run> runs;
  for (const auto& p : known_points()) {
    std::uniform_int_distribution<uint64_t> nth{1, 2 * p.nth};
    runs.push_back({{p.name, nth(random)}, std::nullopt, false});
    runs.push_back({{p.name, nth(random)}, std::nullopt, true});
  }
  runs.push_back(recovery_run(std::uniform_int_distribution<uint64_t>{1, 12}(random)));
  return runs;
}

} // namespace

BOOST_AUTO_TEST_CASE(
    after_a_crash_at_any_fail_point_and_a_database_crash_the_journal_keeps_its_invariants) {
  const char* points = std::getenv("OM_CRASH_SWEEP_POINTS");
  const char* seconds = std::getenv("OM_CRASH_SWEEP_SECONDS");
  const char* seed_text = std::getenv("OM_CRASH_SWEEP_SEED");
  const unsigned seed =
      seed_text != nullptr ? static_cast<unsigned>(std::stoul(seed_text)) : std::random_device{}();
  std::mt19937 random{seed};
  const auto started = std::chrono::steady_clock::now();
  const auto budget = std::chrono::seconds{seconds != nullptr ? std::stol(seconds) : 0};

  std::vector<sweep_run> runs = points != nullptr ? parse_runs(points) : default_runs();
  std::vector<std::string> summary;
  for (size_t i = 0;; ++i) {
    if (i == runs.size()) {
      if (budget.count() == 0 || std::chrono::steady_clock::now() - started >= budget) {
        break;
      }
      auto more = long_runs(random);
      runs.insert(runs.end(), more.begin(), more.end());
    }
    if (budget.count() > 0 && i > 0 && std::chrono::steady_clock::now() - started >= budget) {
      break;
    }
    const auto& run = runs[i];
    BOOST_TEST_CONTEXT("crash sweep run " << i + 1 << ": " << run.text()) {
      try {
        auto report = sweep_once(run);
        BOOST_TEST(report.ok(), report.describe());
        summary.push_back(run.text() + ": " + report.kinds_text());
      } catch (const std::exception& e) {
        // One broken run must not end the sweep (a failed BOOST_TEST_REQUIRE throws too).
        BOOST_TEST(false, "the run failed: " << e.what());
        summary.push_back(run.text() + ": run failed: " + e.what());
      } catch (const boost::execution_aborted&) {
        summary.push_back(run.text() + ": run failed (see the error above)");
      }
    }
  }
  std::string all;
  for (const auto& line : summary) {
    all += "  " + line + "\n";
  }
  BOOST_TEST_MESSAGE("crash sweep (seed " << seed << "), " << summary.size() << " runs:\n" << all);
  std::cerr << "crash sweep (seed " << seed << "), " << summary.size() << " runs:\n" << all;
}
