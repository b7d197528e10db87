#define BOOST_TEST_MODULE saga_crash
#include <boost/test/unit_test.hpp>

#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/codec.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "core/actor_system.hpp"
#include "psp/server.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/order_sql.hpp"
#include "tests/support/pg_test_database.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace ordermesh;
using namespace std::chrono_literals;

namespace {

/// What the node process needs on top of the test's environment: the test's own database.
std::map<std::string, std::string> environment_for(const config::pg_config& pg) {
  return {{"ORDERMESH_PG_DBNAME", pg.dbname}, {"ORDERMESH_LOG_LEVEL", "warn"}};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_node_killed_with_sigkill_mid_saga_is_restarted_and_finishes_every_saga) {
  testing::pg_test_database db;
  auto cfg = db.config();
  cfg.psp.port = 0;
  cfg.psp.latency = 150ms; // sagas are mid-flight when the node dies
  psp::psp_server psp_server{cfg.psp};
  BOOST_REQUIRE(!psp_server.start());
  cfg.psp.port = psp_server.port();
  constexpr int orders = 40;
  constexpr int stock = 30;

  auto count = [&](const std::string& where) {
    return std::stoi(db.query_value("SELECT count(*) FROM events WHERE " + where));
  };
  {
    testing::child_process node{{OM_SAGA_NODE_PATH, std::to_string(cfg.psp.port),
                                 std::to_string(orders), std::to_string(stock)},
                                environment_for(cfg.pg)};
    // Kill it once some sagas are underway (stock taken: their sales, recorded by no event, on
    // their way or answered) and before they are all done.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (count("event_type = 'inventory.committed.v1'") < 5 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    node.kill_now();
  }
  auto finished_before = count(testing::saga_end_sql);
  BOOST_TEST_MESSAGE("sagas finished before the kill: " << finished_before << " of " << orders);
  BOOST_TEST(finished_before < orders);

  // Restart: a new node on the same journal wakes every unfinished saga.
  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  cfg.saga.step_timeout = 3000ms;
  auto node = actors::start_node_actors(sys, cfg);
  auto woken = actors::resume_unfinished_orders(sys, node);
  BOOST_REQUIRE(woken);
  BOOST_TEST_MESSAGE("woken: " << *woken);
  auto placed = count("event_type = 'order.placed.v1'");
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (count(testing::saga_end_sql) < placed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  // Orders the dead node had not yet recorded were never acknowledged: nothing to finish there.
  BOOST_TEST(placed > 0);
  BOOST_TEST(count(testing::saga_end_sql) == placed);
  // Each saga ended once: a sale confirmed naming its SKUs records nothing after it.
  BOOST_TEST(count("event_type IN ('order.payment_captured.v1', "
                   "'order.compensation_completed.v1')") +
                 count("event_type = 'order.confirmed.v1' AND payload ? 'skus'") ==
             placed);
  // Every confirmed sale is notified, once, by the settlement runner (also those the dead node
  // confirmed).
  auto unnotified = [&] { return std::stoi(db.query_value(testing::unnotified_sales_sql)); };
  while (unnotified() > 0 && std::chrono::steady_clock::now() < deadline) {
    node.settlement->wait_until_caught_up(1s);
  }
  BOOST_TEST(unnotified() == 0);
  BOOST_TEST(db.query_value(testing::notified_twice_sql) == "0");
  // Exactly one terminal state per order.
  BOOST_TEST(
      std::stoi(db.query_value(
          "SELECT count(*) FROM (SELECT stream_id FROM events WHERE event_type IN "
          "('order.confirmed.v1','order.rejected.v1','order.cancelled.v1') GROUP BY stream_id "
          "HAVING count(*) > 1) x")) == 0);
  auto terminal =
      count("event_type IN ('order.confirmed.v1','order.rejected.v1','order.cancelled.v1')");
  BOOST_TEST(terminal == placed);
  auto confirmed = count("event_type = 'order.confirmed.v1'");
  // No stock leaked: what is not sold is available again.
  caf::scoped_actor self{sys};
  actors::envelope env;
  env.message_id = "check";
  int64_t available = -1;
  self->request(node.hosts->inventory, 10s, actors::runtime::route_atom::value,
                std::string{"crash-sku"}, env,
                caf::make_message(actors::inventory::expire_reservations{}))
      .receive([&](actors::inventory::inventory_reply& r) { available = r.summary.available; },
               [](caf::error&) {});
  BOOST_TEST(available == stock - confirmed);
  // No double charge, and no hold outlives its order: at the PSP every authorization was captured
  // or voided once the sagas settled (voids of surplus holds may follow an order's end).
  BOOST_TEST(psp_server.stats().distinct_charges == static_cast<uint64_t>(confirmed));
  BOOST_TEST(count("event_type = 'payment.sold.v1'") == confirmed);
  auto holds_deadline = std::chrono::steady_clock::now() + 20s;
  while (psp_server.stats().open_holds != 0 && std::chrono::steady_clock::now() < holds_deadline) {
    std::this_thread::sleep_for(20ms);
  }
  auto psp = psp_server.stats();
  BOOST_TEST(psp.open_holds == 0u);
  BOOST_TEST(psp.authorizations == psp.captures + psp.voids);
  node.stop();
  psp_server.stop();
}

namespace {

/// Runs saga_node until it dies at `fail_point`, then a node on the same database: every saga
/// must end (a confirmed sale at its confirmation), and every confirmed sale be settled at its
/// inventory exactly once (one inventory.orders_settled naming it), notified exactly once (one
/// notification.recorded; the saga itself sends neither any more) and charged once at the PSP.
/// `confirmed_before`: some order confirmed before the crash.
void every_confirmed_sale_is_settled_and_notified_once_after_a_crash_at(
    const std::string& fail_point, bool confirmed_before = true) {
  testing::pg_test_database db;
  auto cfg = db.config();
  cfg.psp.port = 0;
  psp::psp_server psp_server{cfg.psp};
  BOOST_REQUIRE(!psp_server.start());
  cfg.psp.port = psp_server.port();
  constexpr int orders = 5;
  constexpr int stock = 30;

  auto count = [&](const std::string& where) {
    return std::stoi(db.query_value("SELECT count(*) FROM events WHERE " + where));
  };
  {
    // Ends (like a power cut) at the fail point.
    auto env = environment_for(cfg.pg);
    env["OM_FAIL_POINT"] = fail_point;
    testing::child_process node{{OM_SAGA_NODE_PATH, std::to_string(cfg.psp.port),
                                 std::to_string(orders), std::to_string(stock)},
                                env};
    auto ended = node.wait_exit(30s);
    BOOST_REQUIRE_MESSAGE(ended.has_value(), "the node never reached its fail point");
    BOOST_REQUIRE_MESSAGE(ended->code == util::fail_point_exit_code,
                          "the node ended otherwise: " << ended->describe());
  }
  if (confirmed_before) {
    BOOST_REQUIRE_GE(count("event_type = 'order.confirmed.v1'"), 1);
  }

  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto node = actors::start_node_actors(sys, cfg);
  BOOST_REQUIRE(actors::resume_unfinished_orders(sys, node));
  auto placed = count("event_type = 'order.placed.v1'");
  // (confirmed order, orders_settled naming it) pairs at the SKU: one per confirmed order once
  // settled exactly once.
  auto settlements_of_confirmed = [&] {
    return std::stoi(db.query_value(
        "SELECT count(*) FROM events c JOIN events s ON s.stream_id = 'inventory/crash-sku'"
        " AND s.event_type = 'inventory.orders_settled.v1'"
        " CROSS JOIN LATERAL jsonb_array_elements_text(s.payload::jsonb->'order_ids') AS x(id)"
        " WHERE c.event_type = 'order.confirmed.v1' AND x.id = substr(c.stream_id, 7)"));
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  auto unnotified = [&] { return std::stoi(db.query_value(testing::unnotified_sales_sql)); };
  while (count(testing::saga_end_sql) < placed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  while ((settlements_of_confirmed() < count("event_type = 'order.confirmed.v1'") ||
          unnotified() > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    node.settlement->wait_until_caught_up(1s);
  }
  auto confirmed = count("event_type = 'order.confirmed.v1'");
  BOOST_TEST(confirmed >= 1);
  BOOST_TEST(count(testing::saga_end_sql) == placed);
  // Ended at the confirmation: nothing recorded after it.
  BOOST_TEST(count("event_type = 'order.payment_captured.v1'") == 0);
  BOOST_TEST(count("event_type = 'order.confirmed.v1' AND payload ? 'skus'") == confirmed);
  // Notified once each, however often it was sent.
  BOOST_TEST(unnotified() == 0);
  BOOST_TEST(count("event_type = 'notification.recorded.v1' AND payload->>'status' = "
                   "'confirmed'") == confirmed);
  BOOST_TEST(db.query_value(testing::notified_twice_sql) == "0");
  // Decided once: however often it was sent, no order is named twice, and no other order.
  BOOST_TEST(settlements_of_confirmed() == confirmed);
  BOOST_TEST(count("stream_id = 'inventory/crash-sku' AND event_type = 'inventory.settled.v1'") ==
             0);
  BOOST_TEST(std::stoi(db.query_value(
                 "SELECT count(*) FROM events s, jsonb_array_elements_text(s.payload::jsonb->"
                 "'order_ids') AS x(id) WHERE s.stream_id = 'inventory/crash-sku'"
                 " AND s.event_type = 'inventory.orders_settled.v1'")) == confirmed);
  // One charge per confirmed sale, however often a sale was sent again.
  BOOST_TEST(psp_server.stats().distinct_charges == static_cast<uint64_t>(confirmed));
  node.stop();
  psp_server.stop();
}

} // namespace

// A confirmed sale ends at its confirmation; the settlement runner settles and notifies it. A
// node that dies once the first of a round's commands answered (some settles or notifications
// landed, others not) must not leave a sale unsettled or unnotified: after the restart the runner
// reads the same page and sends all again, and nothing is recorded twice.
BOOST_AUTO_TEST_CASE(a_round_answered_in_part_when_the_node_dies_is_sent_again_recording_nothing) {
  every_confirmed_sale_is_settled_and_notified_once_after_a_crash_at("settlement.answered_in_part");
}

// The first sale is the effect of the takes' answers, recorded by no event: a node that dies with
// every take answered and the sale not yet sent leaves its order "placed". After the restart it
// takes again (the inventory answers the repeats the same) and sells under the same key: every
// order ends, each confirmed sale charged once and settled once.
BOOST_AUTO_TEST_CASE(a_crash_between_the_takes_and_the_sale_takes_again_and_charges_once) {
  every_confirmed_sale_is_settled_and_notified_once_after_a_crash_at("order.taken_before_sell",
                                                                     false);
  every_confirmed_sale_is_settled_and_notified_once_after_a_crash_at("order.taken_before_sell:3",
                                                                     false);
}

// The settlement runner saves its checkpoint only after every answer: one that dies after the
// settles and notifications and before the save reads the same page again, and settling and
// notifying again records nothing.
BOOST_AUTO_TEST_CASE(a_settlement_checkpoint_lost_to_a_crash_settles_again_recording_nothing) {
  every_confirmed_sale_is_settled_and_notified_once_after_a_crash_at(
      "settlement.settled_before_checkpoint");
}
