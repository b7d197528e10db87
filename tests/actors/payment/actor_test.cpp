#define BOOST_TEST_MODULE payment_actor
#include <boost/test/unit_test.hpp>

#include "actors/inventory/codec.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/codec.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/payment/codec.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/replies.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "core/actor_system.hpp"
#include "psp/server.hpp"
#include "tests/actors/fast_node.hpp"
#include "tests/support/order_sql.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// The payment entity inside the whole node, against the real PSP stand-in with latency and
// timeout injection: whatever the PSP does to an order's sale (authorize and capture in one call,
// one key per order) or, for an order an older binary left authorizing, to its authorization
// attempts, no hold and no charge outlives a cancelled order, and nothing is charged twice.

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace std::chrono_literals;

namespace {

using testing::fast_policy;
using testing::fast_settings;

struct payment_fixture {
  testing::pg_test_database db;
  config::app_config cfg = db.config();
  std::unique_ptr<psp::psp_server> psp_server;
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{core::configure(caf_cfg)};
  node_actors node;
  caf::scoped_actor self{sys};
  int next_message = 0;

  /// `client_timeout`: how long one PSP call may take before the payment counts it failed.
  explicit payment_fixture(std::chrono::milliseconds client_timeout = 300ms,
                           order::saga_policy policy = fast_policy(),
                           runtime::host_settings settings = fast_settings()) {
    cfg.psp.port = 0;
    cfg.psp.client_timeout = client_timeout;
    cfg.psp.hang = 60s;
    psp_server = std::make_unique<psp::psp_server>(cfg.psp);
    auto err = psp_server->start();
    BOOST_REQUIRE_MESSAGE(!err, "psp: " << err.value_or(""));
    cfg.psp.port = psp_server->port();
    node = start_node_actors(sys, cfg, std::move(settings), policy);
  }

  ~payment_fixture() {
    node.stop();
    psp_server->stop();
  }

  /// Sends one command and waits for its reply (`Reply`: the entity's reply type); nullopt (and
  /// a test error) for any error, a rejection too.
  template <class Reply>
  std::optional<Reply> send(const caf::actor& host, const std::string& id, caf::message cmd) {
    envelope e;
    e.message_id = "test-" + std::to_string(next_message++);
    std::optional<Reply> out;
    self->request(host, 10s, runtime::route_atom::value, id, std::move(e), std::move(cmd))
        .receive([&](Reply& r) { out = r; },
                 [&](caf::error& err) { BOOST_ERROR("command failed: " << sys.render(err)); });
    return out;
  }

  void place(const std::string& oid) {
    BOOST_REQUIRE(send<inventory::inventory_reply>(node.hosts->inventory, "sku-a",
                                                   caf::make_message(inventory::restock{5})));
    BOOST_REQUIRE(send<order::order_reply>(
        node.hosts->order, oid,
        caf::make_message(order::place_order{
            oid, "customer-1", {{"sku-a", 1}}, order::payment_details{"tok_visa", 1000}})));
  }

  std::string count(const std::string& stream, const std::string& type) {
    return db.query_value("SELECT count(*) FROM events WHERE stream_id = '" + stream +
                          "' AND event_type = '" + type + "'");
  }

  /// Authorizes the payment of `oid` (no order asked for it) and captures it: returns once the
  /// PSP confirmed the capture and the payment recorded that.
  void authorize_and_capture(const std::string& oid) {
    BOOST_REQUIRE(send<payment::payment_reply>(
        node.hosts->payment, oid,
        caf::make_message(payment::authorize{1000, "tok_visa", oid + "/authorize/1"})));
    BOOST_TEST_REQUIRE(
        eventually([&] { return count("payment/" + oid, payment::wire::authorized) == "1"; }));
    BOOST_REQUIRE(send<payment::payment_reply>(node.hosts->payment, oid,
                                               caf::make_message(payment::capture{})));
    BOOST_TEST_REQUIRE(eventually(
        [&] { return count("payment/" + oid, payment::wire::capture_confirmed) == "1"; }));
  }

  /// Waits, bounded by `limit`, until `done` holds; returns whether it did.
  static bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  bool saga_completed(const std::string& oid) {
    return db.query_value("SELECT count(*) FROM events WHERE stream_id = 'order/" + oid + "' AND " +
                          testing::saga_end_sql) != "0";
  }

  /// Once the PSP answers again: every authorization it made was captured or voided, and nothing
  /// is held or charged.
  void expect_no_money_left_at_the_psp() {
    psp_server->set_faults(psp::fault_settings{});
    BOOST_TEST(eventually([&] {
                 auto now = psp_server->stats();
                 return now.open_holds == 0u && now.open_charges == 0u;
               }),
               "holds or charges still open at the PSP: " << psp_server->stats().open_holds << ", "
                                                          << psp_server->stats().open_charges);
    const auto stats = psp_server->stats();
    BOOST_TEST(stats.authorizations == stats.captures + stats.voids);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(payment_actor, payment_fixture)

BOOST_AUTO_TEST_CASE(
    a_timed_out_sale_that_was_carried_out_is_refunded_when_the_order_is_cancelled) {
  // The sale is carried out by the PSP but its answer is withheld: the payment sees a timeout.
  auto faults = psp_server->faults();
  faults.timeout_rate = 1.0;
  psp_server->set_faults(faults);
  place("o-lost");
  BOOST_TEST_REQUIRE(eventually([&] { return psp_server->stats().injected_timeouts >= 1u; }));
  // Every later attempt fails fast, so the order spends its attempts and is cancelled.
  faults.timeout_rate = 0.0;
  faults.failure_rate = 1.0;
  psp_server->set_faults(faults);
  BOOST_TEST_REQUIRE(
      eventually([&] { return count("order/o-lost", order::wire::order_cancelled) == "1"; }));
  BOOST_TEST(psp_server->stats().open_charges == 1u);
  // The reversals fail too: the saga stays open (its stock committed) until the PSP answers again.
  BOOST_TEST(!saga_completed("o-lost"));
  expect_no_money_left_at_the_psp();
  BOOST_TEST(eventually([&] { return saga_completed("o-lost"); }));
  BOOST_TEST(psp_server->stats().refunds == 1u);
  BOOST_TEST(count("payment/o-lost", payment::wire::sale_reversed) == "1");
}

BOOST_AUTO_TEST_CASE(
    a_timed_out_sale_is_resent_with_its_key_and_charged_once_when_a_retry_confirms) {
  auto faults = psp_server->faults();
  faults.timeout_rate = 1.0;
  psp_server->set_faults(faults);
  place("o-retried");
  BOOST_TEST_REQUIRE(eventually([&] { return psp_server->stats().injected_timeouts >= 1u; }));
  psp_server->set_faults(psp::fault_settings{});
  BOOST_TEST_REQUIRE(eventually([&] { return saga_completed("o-retried"); }));
  BOOST_TEST(count("order/o-retried", order::wire::order_confirmed) == "1");
  const auto stats = psp_server->stats();
  BOOST_TEST(stats.captures == 1u);
  BOOST_TEST(stats.distinct_charges == 1u);
  BOOST_TEST(stats.replays >= 1u);
  BOOST_TEST(stats.open_holds == 0u);
  BOOST_TEST(stats.open_charges == 1u);
}

BOOST_AUTO_TEST_CASE(a_sale_whose_reversal_failed_is_reversed_after_a_node_restart) {
  // The sale is carried out but times out; the others fail fast: the order is cancelled, while
  // every call to the PSP, its reversals too, fails.
  auto faults = psp_server->faults();
  faults.timeout_rate = 1.0;
  psp_server->set_faults(faults);
  place("o-restart");
  BOOST_TEST_REQUIRE(eventually([&] { return psp_server->stats().injected_timeouts >= 1u; }));
  faults.timeout_rate = 0.0;
  faults.failure_rate = 1.0;
  psp_server->set_faults(faults);
  BOOST_TEST_REQUIRE(
      eventually([&] { return count("order/o-restart", order::wire::order_cancelled) == "1"; }));
  const auto failures = psp_server->stats().injected_failures;
  BOOST_TEST_REQUIRE(eventually([&] { return psp_server->stats().injected_failures > failures; }));
  BOOST_TEST(psp_server->stats().open_charges == 1u);
  // The node restarts (the PSP is back): what is resumed at start must reverse the sale.
  node.stop();
  psp_server->set_faults(psp::fault_settings{});
  node = start_node_actors(sys, cfg, fast_settings(), fast_policy());
  BOOST_TEST_REQUIRE(static_cast<bool>(resume_unfinished_orders(sys, node)));
  BOOST_TEST(eventually([&] { return psp_server->stats().open_charges == 0u; }),
             "charges still open at the PSP: " << psp_server->stats().open_charges);
  BOOST_TEST(eventually([&] { return saga_completed("o-restart"); }));
  BOOST_TEST(count("order/o-restart", order::wire::compensation_completed) == "1");
}

BOOST_AUTO_TEST_CASE(an_order_learns_a_sale_whose_report_was_lost) {
  // The payment sells before its order asked: the order refuses the report (it was never
  // placed), as if it had been lost on the way.
  BOOST_REQUIRE(send<payment::payment_reply>(
      node.hosts->payment, "o-unreported",
      caf::make_message(payment::sell{1000, "tok_visa", "o-unreported/sale", 1})));
  BOOST_TEST_REQUIRE(
      eventually([&] { return count("payment/o-unreported", payment::wire::sold) == "1"; }));
  place("o-unreported");
  BOOST_TEST_REQUIRE(eventually([&] { return saga_completed("o-unreported"); }));
  BOOST_TEST(count("order/o-unreported", order::wire::order_confirmed) == "1");
  BOOST_TEST(count("order/o-unreported", order::wire::order_cancelled) == "0");
  const auto stats = psp_server->stats();
  BOOST_TEST(stats.distinct_charges == 1u);
  BOOST_TEST(stats.open_holds == 0u);
}

BOOST_AUTO_TEST_CASE(an_older_binarys_confirmed_order_learns_a_capture_whose_report_was_lost) {
  // Authorized and captured; the order (recorded by the older binary: confirmed, capture not yet
  // recorded) refused the capture's report, as if lost.
  authorize_and_capture("o-uncaptured");
  testing::recorded_earlier(
      db, "order/o-uncaptured",
      std::vector<order::event>{
          order::order_placed{"o-uncaptured", "customer-1", {{"sku-a", 1}}, "tok_visa", 1000},
          order::stock_reserved{"sku-a"}, order::payment_requested{1},
          order::payment_authorized{"psp"}, order::stock_commit_requested{1},
          order::stock_committed{"sku-a"}, order::order_confirmed{}},
      [](const order::event& e) { return order::encode(e); });
  // The order entity the refused reports activated never saw these events: it starts again, as
  // after a node restart, and recovers them.
  self->send(node.hosts->order, runtime::kill_atom::value, std::string{"o-uncaptured"});
  BOOST_TEST_REQUIRE(static_cast<bool>(resume_unfinished_orders(sys, node)));
  BOOST_TEST_REQUIRE(eventually([&] { return saga_completed("o-uncaptured"); }),
                     "the order never learnt of the capture");
  BOOST_TEST(count("order/o-uncaptured", order::wire::payment_captured) == "1");
  const auto stats = psp_server->stats();
  BOOST_TEST(stats.captures == 1u);
  BOOST_TEST(stats.open_holds == 0u);
}

BOOST_AUTO_TEST_CASE(
    a_refund_whose_psp_call_failed_is_made_by_the_payment_restarted_from_its_journal) {
  // Captured and confirmed; the refund is recorded while every call to the PSP fails.
  authorize_and_capture("o-refund");
  auto faults = psp_server->faults();
  faults.failure_rate = 1.0;
  psp_server->set_faults(faults);
  const auto failures = psp_server->stats().injected_failures;
  BOOST_REQUIRE(send<payment::payment_reply>(node.hosts->payment, "o-refund",
                                             caf::make_message(payment::refund{})));
  BOOST_TEST_REQUIRE(eventually([&] { return psp_server->stats().injected_failures > failures; }));
  // The payment stops (as in a crash) and the PSP is back; the next command recovers it from its
  // journal, and it must owe the PSP what a payment that never stopped owes: the refund.
  self->send(node.hosts->payment, runtime::kill_atom::value, std::string{"o-refund"});
  psp_server->set_faults(psp::fault_settings{});
  BOOST_REQUIRE(send<payment::payment_reply>(node.hosts->payment, "o-refund",
                                             caf::make_message(payment::refund{})));
  BOOST_TEST(eventually([&] { return psp_server->stats().refunds == 1u; }, 10s),
             "the refund was never made");
  const auto stats = psp_server->stats();
  BOOST_TEST(stats.open_charges == 0u);
  BOOST_TEST(stats.open_holds == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(late_answers)

BOOST_AUTO_TEST_CASE(
    a_cancelled_sales_stock_goes_back_as_soon_as_the_payment_records_the_reversal) {
  // Steps time out only after 60 s, so the order resends nothing for 120 s: whatever returns its
  // stock within the test's wait is the payment's report, not the stall resend.
  auto policy = fast_policy();
  policy.step_timeout_ms = 60'000;
  payment_fixture f{300ms, policy};
  // Every sale attempt fails fast, and so does the order's first reversal: the order is
  // cancelled, its stock committed, its sale not known to be closed.
  auto faults = f.psp_server->faults();
  faults.failure_rate = 1.0;
  f.psp_server->set_faults(faults);
  f.place("o-reversed");
  BOOST_TEST_REQUIRE(payment_fixture::eventually(
      [&] { return f.count("order/o-reversed", order::wire::order_cancelled) == "1"; }));
  // Three sale attempts and the reversal failed.
  BOOST_TEST_REQUIRE(
      payment_fixture::eventually([&] { return f.psp_server->stats().injected_failures >= 4u; }));
  BOOST_TEST(!f.saga_completed("o-reversed"));
  // The PSP answers again and the payment reverses the sale (asked again here, as the order's
  // resend would); the order itself sends nothing meanwhile.
  f.psp_server->set_faults(psp::fault_settings{});
  BOOST_TEST_REQUIRE(payment_fixture::eventually([&] {
    BOOST_REQUIRE(f.send<payment::payment_reply>(
        f.node.hosts->payment, "o-reversed",
        caf::make_message(payment::reverse_sale{"o-reversed/sale"})));
    return f.count("payment/o-reversed", payment::wire::sale_reversed) == "1";
  }));
  BOOST_TEST(payment_fixture::eventually([&] { return f.saga_completed("o-reversed"); }, 20s),
             "the stock went back only with the stall resend, or never");
  BOOST_TEST(f.count("inventory/sku-a", inventory::wire::returned) == "1");
  BOOST_TEST(f.count("order/o-reversed", order::wire::compensation_completed) == "1");
}

BOOST_AUTO_TEST_CASE(
    an_orders_first_sale_to_a_payment_that_sold_and_passivated_is_charged_once_and_confirms) {
  // Entities passivate after 1 s idle: the payment that sold is gone when the order asks.
  auto settings = fast_settings();
  settings.idle_timeout = 1s;
  payment_fixture f{300ms, fast_policy(), settings};
  // The payment sells before its order asked (as if the order's first sell had been delivered
  // twice, the second after the sale): the order refuses the report, it was never placed.
  BOOST_REQUIRE(f.send<payment::payment_reply>(
      f.node.hosts->payment, "o-twice",
      caf::make_message(payment::sell{1000, "tok_visa", "o-twice/sale", 1, true})));
  BOOST_TEST_REQUIRE(payment_fixture::eventually(
      [&] { return f.count("payment/o-twice", payment::wire::sold) == "1"; }));
  BOOST_TEST_REQUIRE(payment_fixture::eventually([&] {
    caf::scoped_actor probe{f.sys};
    bool gone = false;
    probe->request(f.node.hosts->payment, 5s, caf::get_atom::value, runtime::entities_atom::value)
        .receive(
            [&](std::vector<runtime::entity_info>& xs) {
              gone = std::none_of(xs.begin(), xs.end(),
                                  [](const runtime::entity_info& x) { return x.id == "o-twice"; });
            },
            [&](caf::error&) {});
    return gone;
  }));
  // The order's first sell reaches a payment that takes its stream for new: the PSP answers the
  // key with its first answer, the payment's record of it is refused by version, and the
  // payment reads its stream and reports the sale.
  f.place("o-twice");
  BOOST_TEST_REQUIRE(payment_fixture::eventually([&] { return f.saga_completed("o-twice"); }));
  BOOST_TEST(f.count("order/o-twice", order::wire::order_confirmed) == "1");
  BOOST_TEST(f.count("order/o-twice", order::wire::order_cancelled) == "0");
  BOOST_TEST(f.count("payment/o-twice", payment::wire::sold) == "1");
  const auto stats = f.psp_server->stats();
  BOOST_TEST(stats.distinct_charges == 1u);
  BOOST_TEST(stats.replays >= 1u);
  BOOST_TEST(stats.refunds == 0u);
}

BOOST_AUTO_TEST_CASE(a_slow_sale_carried_out_after_the_order_gave_up_is_refunded) {
  // A PSP call may take 8 s; the sale's answer takes 4 s, far past the saga's 1 s step timeout.
  payment_fixture f{8000ms};
  auto faults = f.psp_server->faults();
  faults.latency = 4000ms;
  f.psp_server->set_faults(faults);
  f.place("o-slow");
  BOOST_TEST_REQUIRE(
      payment_fixture::eventually([&] { return f.psp_server->stats().captures >= 1u; }));
  // Attempts 2 and 3 fail fast: the order is cancelled while the sale's answer is on its way.
  faults.latency = 0ms;
  faults.failure_rate = 1.0;
  f.psp_server->set_faults(faults);
  BOOST_TEST_REQUIRE(payment_fixture::eventually(
      [&] { return f.count("order/o-slow", order::wire::order_cancelled) == "1"; }));
  f.expect_no_money_left_at_the_psp();
  BOOST_TEST(payment_fixture::eventually([&] { return f.saga_completed("o-slow"); }));
  BOOST_TEST(f.psp_server->stats().refunds == 1u);
  BOOST_TEST(f.psp_server->stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
