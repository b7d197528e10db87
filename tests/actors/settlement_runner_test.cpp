// The settlement runner against the real PostgreSQL, an inventory host and a notification host: it
// settles the sales the log shows confirmed, one inventory.orders_settled per SKU and round, and
// notifies each of them (one notification.recorded per order), saves its checkpoint only after
// every answer, settles and notifies again (recording nothing) when restarted before saving it,
// and skips a SKU or a notification that keeps refusing without holding up the others.
#define BOOST_TEST_MODULE settlement_runner
#include <boost/test/unit_test.hpp>

#include <pqxx/pqxx>

#include <thread>

#include "actors/inventory/actor.hpp"
#include "actors/inventory/codec.hpp"
#include "actors/notification/actor.hpp"
#include "actors/notification/codec.hpp"
#include "actors/order/codec.hpp"
#include "actors/runtime/entity.hpp"
#include "actors/settlement_runner.hpp"
#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/reader.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace std::chrono_literals;

namespace {

struct settlement_fixture {
  testing::pg_test_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{core::configure(cfg)};
  persistence::journal_actor journal =
      persistence::spawn_journal(sys, db.pg(), db.config().journal);
  persistence::reader_actor reader = persistence::spawn_reader(sys, db.pg(), db.config().journal);
  caf::actor host = inventory::spawn_inventory_host(sys, journal, reader, {});
  caf::actor notifications = notification::spawn_notification_host(sys, journal, reader, {});
  persistence::pg_event_store store{db.pg(), db.config().journal};
  caf::scoped_actor self{sys};
  int next_message = 0;

  ~settlement_fixture() {
    for (const auto& a : stand_ins) {
      self->send_exit(a, caf::exit_reason::user_shutdown);
    }
    self->send_exit(host, caf::exit_reason::user_shutdown);
    self->send_exit(notifications, caf::exit_reason::user_shutdown);
    self->send_exit(journal, caf::exit_reason::user_shutdown);
    self->send_exit(reader, caf::exit_reason::user_shutdown);
  }

  static settlement_settings fast() {
    settlement_settings s;
    s.interval = 20ms;
    s.backoff_min = 5ms;
    s.backoff_max = 20ms;
    s.max_attempts = 3;
    return s;
  }

  /// A runner started once every event written so far is final (all_final), so that its first
  /// round reads them all: under ctest -j2 another test's open transaction holds back the events
  /// of later transactions, and a first round that saw only some of the sales settled the rest
  /// in a second event.
  std::unique_ptr<settlement_runner> runner(settlement_settings s = fast(),
                                            caf::actor notifications_host = {}) {
    all_final();
    return std::make_unique<settlement_runner>(
        sys, db.pg(), db.config().journal, host,
        notifications_host ? notifications_host : notifications, s);
  }

  /// A notification host that takes the commands for `silent` orders and never answers them, and
  /// hands every other to the real one. Stopped with the fixture.
  caf::actor notifications_silent_for(std::set<std::string> silent) {
    auto real = notifications;
    stand_ins.push_back(sys.spawn([real, silent](caf::event_based_actor* a) -> caf::behavior {
      return {[a, real, silent](runtime::route_atom r, std::string& id, envelope& e,
                                caf::message& m) -> caf::result<caf::message> {
        if (silent.count(id) > 0) {
          a->make_response_promise(); // never delivered
          return caf::delegated<caf::message>{};
        }
        return a->delegate(real, r, std::move(id), std::move(e), std::move(m));
      }};
    }));
    return stand_ins.back();
  }
  std::vector<caf::actor> stand_ins;

  void inventory(const std::string& sku, caf::message cmd) {
    envelope e;
    e.message_id = "m-" + std::to_string(next_message++);
    bool ok = false;
    self->request(host, 10s, runtime::route_atom::value, sku, e, std::move(cmd))
        .receive([&](inventory::inventory_reply&) { ok = true; }, [](caf::error&) {});
    BOOST_REQUIRE(ok);
  }

  /// An order whose stock `skus` took, confirmed as a sale naming them (the order's saga is left
  /// out: the runner reads only the log).
  void confirmed_sale(const std::string& order_id, const std::vector<std::string>& skus) {
    for (const auto& sku : skus) {
      inventory(sku, caf::make_message(inventory::commit{order_id, 1}));
    }
    auto confirmed = order::encode(order::order_confirmed{skus});
    persistence::stream_append a{"order/" + order_id,
                                 persistence::no_stream,
                                 {persistence::new_event{confirmed.type, confirmed.schema_version,
                                                         confirmed.payload, "{}"}}};
    BOOST_REQUIRE(store.append({a}));
  }

  /// Waits (10 s at most) until every event written so far is final for a subscription, so that
  /// a round that caught up after it has seen them all: a transaction open anywhere on the server
  /// (another test's: ctest runs two at once) holds back the events of the transactions that
  /// began after it (persistence/subscription.hpp).
  void all_final() {
    for (int i = 0; i < 1000; ++i) {
      if (db.query_value("SELECT count(*) FROM events WHERE transaction_id >= "
                         "pg_snapshot_xmin(pg_current_snapshot())") == "0") {
        return;
      }
      std::this_thread::sleep_for(10ms); // polls a condition
    }
    BOOST_FAIL("events still held back after 10 s");
  }

  /// all_final(), then a round of `r` that caught up.
  void caught_up(settlement_runner& r) {
    all_final();
    BOOST_REQUIRE(r.wait_until_caught_up(10s));
  }

  /// The events of notification/<order_id>, as "<type> <status>".
  std::vector<std::string> notifications_of(const std::string& order_id) {
    auto events = store.read_stream("notification/" + order_id, 0, 100);
    BOOST_REQUIRE(events);
    std::vector<std::string> seen;
    for (const auto& e : *events) {
      auto payload = nlohmann::json::parse(e.payload);
      seen.push_back(e.type + " " + payload.value("status", std::string{"?"}));
    }
    return seen;
  }

  const std::vector<std::string> notified_once{
      std::string{notification::wire::notification_recorded} + " confirmed"};

  int count(const std::string& sku, const std::string& type) {
    return std::stoi(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/" +
                                    sku + "' AND event_type = '" + type + "'"));
  }

  /// What `sku`'s inventory still keeps committed, read from its stream.
  std::map<std::string, int64_t> committed_qty(const std::string& sku) {
    auto events = store.read_stream("inventory/" + sku, 0, 100000);
    BOOST_REQUIRE(events);
    inventory::inventory_state s;
    for (const auto& e : *events) {
      auto ev = inventory::decode(e.type, e.schema_version, e.payload);
      BOOST_REQUIRE(ev);
      s = inventory::apply(std::move(s), *ev);
    }
    return s.committed_qty;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(settlement, settlement_fixture)

BOOST_AUTO_TEST_CASE(confirmed_sales_are_settled_in_one_event_per_sku) {
  for (const auto* sku : {"apple", "pear"}) {
    inventory(sku, caf::make_message(inventory::restock{100}));
  }
  confirmed_sale("o1", {"apple", "pear"});
  confirmed_sale("o2", {"apple"});
  confirmed_sale("o3", {"pear"});
  // Taken but not confirmed (yet): kept.
  inventory("apple", caf::make_message(inventory::commit{"open", 1}));
  auto r = runner();
  caught_up(*r);
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1);
  BOOST_TEST(count("pear", inventory::wire::orders_settled) == 1);
  BOOST_TEST(count("apple", inventory::wire::settled) == 0);
  BOOST_TEST((committed_qty("apple") == std::map<std::string, int64_t>{{"open", 1}}));
  BOOST_TEST(committed_qty("pear").empty());
  auto stats = r->stats();
  BOOST_TEST(stats.commands == 2u);
  BOOST_TEST(stats.orders_settled == 4u);
  BOOST_TEST(stats.skus_skipped == 0u);
  BOOST_TEST(stats.checkpoint > 0);
  // Every confirmed sale of the page is notified once (the order's saga no longer does it).
  for (const auto* id : {"o1", "o2", "o3"}) {
    BOOST_TEST(notifications_of(id) == notified_once, id);
  }
  BOOST_TEST(notifications_of("open").empty());
  BOOST_TEST(stats.notifications == 3u);
  BOOST_TEST(stats.notifications_skipped == 0u);
  // The next confirmations go into the next round's events.
  confirmed_sale("o4", {"apple"});
  caught_up(*r);
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 2);
  BOOST_TEST((committed_qty("apple") == std::map<std::string, int64_t>{{"open", 1}}));
  BOOST_TEST(notifications_of("o4") == notified_once);
  BOOST_TEST(r->stats().notifications == 4u);
}

BOOST_AUTO_TEST_CASE(
    a_runner_restarted_before_saving_its_checkpoint_settles_again_recording_nothing) {
  inventory("apple", caf::make_message(inventory::restock{100}));
  confirmed_sale("o1", {"apple"});
  confirmed_sale("o2", {"apple"});
  {
    auto r = runner();
    caught_up(*r);
  }
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1);
  // As if it had died between the settles' answers and saving its checkpoint (save_checkpoint
  // never moves a checkpoint back).
  {
    pqxx::connection c{persistence::pg_event_store::connection_string(db.pg())};
    pqxx::nontransaction tx{c};
    tx.exec0("DELETE FROM subscription_checkpoints WHERE subscription = 'settlement'");
  }
  auto again = runner();
  caught_up(*again);
  BOOST_TEST(again->stats().commands == 1u);                        // sent again ...
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1); // ... and decided once
  BOOST_TEST(committed_qty("apple").empty());
  BOOST_TEST(again->stats().notifications == 2u); // notified again ...
  for (const auto* id : {"o1", "o2"}) {
    BOOST_TEST(notifications_of(id) == notified_once, id); // ... recorded once
  }
}

BOOST_AUTO_TEST_CASE(
    a_notification_that_is_refused_holds_up_neither_the_other_orders_nor_the_settles) {
  inventory("apple", caf::make_message(inventory::restock{100}));
  confirmed_sale("o1", {"apple"});
  confirmed_sale("o2", {"apple"});
  confirmed_sale("o3", {"apple"});
  // o2 was notified with another status: its notification refuses the runner's (a refusal is
  // decided on a current copy: not retried).
  envelope e;
  e.message_id = "other-status";
  bool recorded = false;
  self->request(notifications, 10s, runtime::route_atom::value, std::string{"o2"}, e,
                caf::make_message(notification::record_notification{
                    "o2", notification::terminal_status::cancelled}))
      .receive([&](notification::notification_reply&) { recorded = true; }, [](caf::error&) {});
  BOOST_REQUIRE(recorded);
  auto r = runner();
  caught_up(*r);
  auto stats = r->stats();
  BOOST_TEST(stats.notifications == 2u);
  BOOST_TEST(stats.notifications_skipped == 1u);
  BOOST_TEST(stats.errors == 1u);
  BOOST_TEST(notifications_of("o1") == notified_once);
  BOOST_TEST(notifications_of("o3") == notified_once);
  BOOST_TEST((notifications_of("o2") ==
              std::vector<std::string>{std::string{notification::wire::notification_recorded} +
                                       " cancelled"}));
  // The settles went on, and the checkpoint moved past the page.
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1);
  BOOST_TEST(committed_qty("apple").empty());
  confirmed_sale("o4", {"apple"});
  caught_up(*r);
  BOOST_TEST(notifications_of("o4") == notified_once);
  BOOST_TEST(r->stats().notifications_skipped == 1u);
}

// The runner's commands carry no timeout each (in CAF 0.17 one is a clock event per command,
// never cancelled): a round that gets no answer for answer_timeout counts what is still
// unanswered as failed, retries it with back-off and skips it after max_attempts.
BOOST_AUTO_TEST_CASE(a_command_nobody_answers_fails_after_the_answer_timeout_and_is_skipped) {
  inventory("apple", caf::make_message(inventory::restock{100}));
  confirmed_sale("o1", {"apple"});
  confirmed_sale("o2", {"apple"});
  // Notifications that are taken and never answered.
  auto s = fast();
  s.answer_timeout = 100ms;
  s.max_attempts = 2;
  auto r = runner(s, notifications_silent_for({"o1", "o2"}));
  caught_up(*r);
  auto stats = r->stats();
  BOOST_TEST(stats.notifications == 0u);
  BOOST_TEST(stats.notifications_skipped == 2u);
  BOOST_TEST(stats.errors == 4u); // two orders, two attempts each
  // The settles answered: done once, and the checkpoint moved past the page.
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1);
  BOOST_TEST(committed_qty("apple").empty());
}

// A window full of commands nobody answers must not cost the commands behind it, never sent, an
// attempt: they are sent next time, and only the silent one is skipped.
BOOST_AUTO_TEST_CASE(commands_never_sent_because_the_window_hung_are_sent_again_not_skipped) {
  inventory("apple", caf::make_message(inventory::restock{100}));
  confirmed_sale("o1", {"apple"});
  confirmed_sale("o2", {"apple"});
  // o1's notification is taken and never answered; the others go to the real host.
  auto s = fast();
  s.answer_timeout = 100ms;
  s.max_attempts = 1;
  s.max_in_flight = 1;
  auto r = runner(s, notifications_silent_for({"o1"}));
  caught_up(*r);
  auto stats = r->stats();
  BOOST_TEST(stats.notifications_skipped == 1u);
  BOOST_TEST(stats.notifications == 1u);
  BOOST_TEST(notifications_of("o2") == notified_once);
  BOOST_TEST(notifications_of("o1").empty());
}

BOOST_AUTO_TEST_CASE(a_sku_that_refuses_is_passed_over_at_once_without_holding_up_the_others) {
  inventory("apple", caf::make_message(inventory::restock{100}));
  confirmed_sale("o1", {"apple"});
  // A confirmation naming a SKU that never took its stock: that inventory refuses to settle it.
  auto confirmed = order::encode(order::order_confirmed{{"ghost", "apple"}});
  BOOST_REQUIRE(store.append(
      {persistence::stream_append{"order/o2",
                                  persistence::no_stream,
                                  {persistence::new_event{confirmed.type, confirmed.schema_version,
                                                          confirmed.payload, "{}"}}}}));
  inventory("apple", caf::make_message(inventory::commit{"o2", 1}));
  auto r = runner();
  caught_up(*r);
  auto stats = r->stats();
  BOOST_TEST(stats.skus_skipped == 1u);
  // A refusal comes from a current copy and would be answered the same again (the command's
  // message id is deduplicated): not retried.
  BOOST_TEST(stats.errors == 1u);
  BOOST_TEST(count("apple", inventory::wire::orders_settled) == 1);
  BOOST_TEST(committed_qty("apple").empty());
  // Past it: the checkpoint moved on, and later sales are settled.
  confirmed_sale("o3", {"apple"});
  caught_up(*r);
  BOOST_TEST(committed_qty("apple").empty());
  BOOST_TEST(r->stats().skus_skipped == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
